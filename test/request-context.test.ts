/**
 * The request-context columns (forwarded_for, user_agent, request_id, proto) on the lines the
 * real compiled heartbeat writes, in both formats: present, absent, oversized and hostile
 * header values, sent as raw bytes over TCP so the test controls every byte. Every line stays
 * one printable-ASCII line with its columns, each context column within its documented bound,
 * and the shipped Fluent Bit parsers read the same values back.
 */
import assert from 'node:assert/strict';
import { ABSENT, CONTEXT_BOUNDS, REQUEST_COLUMNS } from '../src/log/format';
import { loadOniguruma, loadParsers, parserFilter, type Parser } from './helpers/fluentbit';
import { kill, rawExchange, startServer, waitFor, type Running } from './helpers/server';

type Context = Record<'forwarded_for' | 'user_agent' | 'request_id' | 'proto', string>;

interface Case {
  name: string;
  /** The request line's target (also the key of its log line) and version. */
  target: string;
  version?: string;
  method?: string;
  /** Header lines after Host, raw (latin1). */
  headers: string[];
  status: number;
  /** The four context columns as the line must carry them, or a check of them. */
  want: Partial<Context> | ((c: Context) => void);
}

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';
const TP = `00-${TRACE}-${PARENT}-01`;
const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
/** Node's default limit on a request's header block is 16 KiB: these values stay just under it. */
const BIG = 15 * 1024;

const none = { forwarded_for: ABSENT, user_agent: ABSENT, request_id: ABSENT };
let n = 0;
/** A heartbeat target unique to each case, so its line is found by path. */
const t = (): string => `/heartbeat/1?c=${++n}`;

/** A forged chain of 15 KiB: 10.0.0.0, 10.0.0.1, ... then the entry the operator's proxy appended. */
function forgedChain(): string {
  const hops: string[] = [];
  for (let i = 0, len = 0; len < BIG; i++) {
    hops.push(`10.0.${i >> 8}.${i & 255}`);
    len += (hops.at(-1) as string).length + 2;
  }
  return `${hops.join(', ')}, 198.51.100.7`;
}
const chain = forgedChain();

const CASES: Case[] = [
  {
    name: 'every header present',
    target: t(),
    headers: ['X-Forwarded-For: 203.0.113.9, 10.42.0.1', `User-Agent: ${UA}`, 'X-Request-Id: 7f9c1a2e-1b2c-4d5e-8f90-0123456789ab'],
    status: 200,
    want: { forwarded_for: '203.0.113.9, 10.42.0.1', user_agent: UA, request_id: '7f9c1a2e-1b2c-4d5e-8f90-0123456789ab', proto: 'HTTP/1.1' },
  },
  { name: 'none of them', target: t(), headers: [], status: 200, want: { ...none, proto: 'HTTP/1.1' } },
  { name: 'HTTP/1.0', target: t(), version: 'HTTP/1.0', headers: ['User-Agent: ApacheBench/2.3'], status: 200, want: { ...none, user_agent: 'ApacheBench/2.3', proto: 'HTTP/1.0' } },
  {
    name: 'names in any case',
    target: t(),
    headers: ['x-forwarded-for: 192.0.2.1', 'USER-AGENT: curl/8.5.0', 'x-ReQuEsT-iD: abc'],
    status: 200,
    want: { forwarded_for: '192.0.2.1', user_agent: 'curl/8.5.0', request_id: 'abc' },
  },
  {
    name: 'X-Forwarded-For in two fields (one list), User-Agent twice (the first, as Node keeps it)',
    target: t(),
    headers: ['X-Forwarded-For: 203.0.113.9', 'User-Agent: first/1', 'X-Forwarded-For: 10.42.0.1', 'User-Agent: second/2'],
    status: 200,
    want: { forwarded_for: '203.0.113.9, 10.42.0.1', user_agent: 'first/1' },
  },
  {
    name: 'Forwarded only: its for= values',
    target: t(),
    headers: ['Forwarded: for=192.0.2.60;proto=http;by=203.0.113.43, for="[2001:db8:cafe::17]:4711"', 'Forwarded: by=10.0.0.1;FOR=unknown'],
    status: 200,
    want: { forwarded_for: '192.0.2.60, [2001:db8:cafe::17]:4711, unknown' },
  },
  {
    name: 'Forwarded with quoted commas, quotes and a tab, and pairs that are not pairs',
    target: t(),
    headers: ['Forwarded: by="x,for=no";for="a\\"b\tc", ;;for, =x, for=_hidden;proto=https'],
    status: 200,
    want: { forwarded_for: 'a"b\\tc, _hidden' },
  },
  {
    name: 'X-Forwarded-For wins over Forwarded',
    target: t(),
    headers: ['Forwarded: for=192.0.2.60', 'X-Forwarded-For: 203.0.113.9'],
    status: 200,
    want: { forwarded_for: '203.0.113.9' },
  },
  { name: 'traceparent: its trace id', target: t(), headers: [`traceparent: ${TP}`], status: 200, want: { request_id: TRACE } },
  {
    name: 'traceparent of a later version, with more after the flags',
    target: t(),
    headers: [`traceparent: cc-${TRACE}-${PARENT}-01-what-the-future-holds`],
    status: 200,
    want: { request_id: TRACE },
  },
  { name: 'X-Request-Id in two fields: both, joined', target: t(), headers: ['X-Request-Id: a', 'X-Request-Id: b'], status: 200, want: { request_id: 'a, b' } },
  { name: 'empty values: -', target: t(), headers: ['User-Agent:', 'X-Forwarded-For: ', 'X-Request-Id:'], status: 200, want: none },
  { name: 'X-Request-Id wins over traceparent', target: t(), headers: [`TraceParent: ${TP}`, 'X-Request-Id: mine'], status: 200, want: { request_id: 'mine' } },
  ...[
    ['upper-case hex', `00-${TRACE.toUpperCase()}-${PARENT}-01`],
    ['version ff', `ff-${TRACE}-${PARENT}-01`],
    ['all-zero trace id', `00-${'0'.repeat(32)}-${PARENT}-01`],
    ['all-zero parent id', `00-${TRACE}-${'0'.repeat(16)}-01`],
    ['version 00 with more after the flags', `${TP}-00`],
    ['a short trace id', `00-${TRACE.slice(1)}-${PARENT}-01`],
    ['no flags', `00-${TRACE}-${PARENT}`],
    ['garbage', '\t\\"{}\xff'],
  ].map(([what, value]): Case => ({
    name: `malformed traceparent (${what as string}): -`, target: t(), headers: [`traceparent: ${value as string}`], status: 200, want: { request_id: ABSENT },
  })),
  { name: 'two traceparent fields: -', target: t(), headers: [`traceparent: ${TP}`, `traceparent: ${TP}`], status: 200, want: { request_id: ABSENT } },
  {
    name: 'hostile text: tabs, backslashes, quotes, a fake JSON field, bytes above 0x7e',
    target: t(),
    headers: [
      'User-Agent: a\tb\\c"d{"kind":"lifecycle"}\x80\xff\xe9',
      'X-Forwarded-For: 1.2.3.4\t5.6.7.8\\',
      'X-Request-Id: id\t"x"\xfe',
    ],
    status: 200,
    want: {
      user_agent: 'a\\tb\\\\c"d{"kind":"lifecycle"}\\x80\\xff\\xe9',
      forwarded_for: '1.2.3.4\\t5.6.7.8\\\\',
      request_id: 'id\\t"x"\\xfe',
    },
  },
  {
    name: 'a 15 KiB User-Agent: its first 512 bytes (3 of them before the y), escaped',
    target: t(),
    headers: [`User-Agent: x\t\xff${'y'.repeat(BIG)}`],
    status: 200,
    want: { user_agent: `x\\t\\xff${'y'.repeat(CONTEXT_BOUNDS.user_agent - 3)}` },
  },
  {
    name: 'a 15 KiB X-Request-Id: its first bytes',
    target: t(),
    headers: [`X-Request-Id: ${'r'.repeat(BIG)}`],
    status: 200,
    want: { request_id: 'r'.repeat(CONTEXT_BOUNDS.request_id) },
  },
  {
    name: 'a 15 KiB forged X-Forwarded-For: its end (the hops nearest heartbeat), starting with a whole entry',
    target: t(),
    headers: [`X-Forwarded-For: ${chain}`],
    status: 200,
    want: (c) => {
      assert.ok(c.forwarded_for.length <= CONTEXT_BOUNDS.forwarded_for, `${c.forwarded_for.length} characters`);
      assert.ok(c.forwarded_for.length > CONTEXT_BOUNDS.forwarded_for - 16, 'only the partial first entry is dropped');
      assert.ok(chain.endsWith(`, ${c.forwarded_for}`), 'a tail of the list, cut at an entry');
      assert.match(c.forwarded_for, /^10\.0\.\d+\.\d+, .*, 198\.51\.100\.7$/);
    },
  },
  {
    name: 'a 16 KiB User-Agent: refused by the parser (431), logged with - and the version of its request line',
    target: t(),
    headers: [`User-Agent: ${'z'.repeat(16 * 1024)}`],
    status: 431,
    want: { ...none, proto: 'HTTP/1.1' },
  },
  {
    name: 'a CR inside a value: refused by the parser (400), its headers never read',
    target: t(),
    headers: ['User-Agent: a\rb', 'X-Request-Id: never'],
    status: 400,
    want: { ...none, proto: 'HTTP/1.1' },
  },
  {
    name: 'a bare LF inside a value: refused by the parser (400)',
    target: t(),
    headers: ['X-Request-Id: a\nInjected: b'],
    status: 400,
    want: { ...none, proto: 'HTTP/1.1' },
  },
  {
    name: 'CONNECT (405): its headers are read like any request\'s',
    method: 'CONNECT',
    target: 'example.test:443',
    headers: ['User-Agent: tunnel/1', 'X-Request-Id: c1'],
    status: 405,
    want: { ...none, user_agent: 'tunnel/1', request_id: 'c1', proto: 'HTTP/1.1' },
  },
];

function requestBytes(c: Case): Buffer {
  const head = [`${c.method ?? 'GET'} ${c.target} ${c.version ?? 'HTTP/1.1'}`, 'Host: t', ...c.headers, 'Connection: close', '', ''];
  return Buffer.from(head.join('\r\n'), 'latin1');
}

/** A request line's columns by name, from either format (JSON values as the text they are). */
function columns(line: string, format: 'tsv' | 'json'): Record<string, string> {
  if (format === 'tsv') {
    const cols = line.split('\t');
    assert.equal(cols.length, REQUEST_COLUMNS.length, `columns of ${JSON.stringify(line)}`);
    return Object.fromEntries(REQUEST_COLUMNS.map((c, i) => [c, cols[i] as string]));
  }
  const obj = JSON.parse(line) as Record<string, unknown>;
  assert.deepEqual(Object.keys(obj), [...REQUEST_COLUMNS]);
  return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, String(v)]));
}

describe('request context columns on real request lines (forwarded_for, user_agent, request_id, proto)', function () {
  this.timeout(60_000);
  let hb: Running | undefined;
  let parsers: Map<string, Parser>;
  afterEach(() => kill(hb));
  before(async () => {
    await loadOniguruma();
    parsers = loadParsers();
  });

  const byFormat: Partial<Record<'tsv' | 'json', Map<string, Record<string, string>>>> = {};

  for (const format of ['tsv', 'json'] as const) {
    it(`carries present, absent, oversized and hostile values escaped and bounded (${format})`, async () => {
      hb = await startServer(['--log', '--log-format', format]);
      for (const c of CASES) {
        const reply = await rawExchange(hb.port, requestBytes(c));
        assert.match(reply, new RegExp(`^HTTP/1\\.1 ${c.status} `), `${c.name}: ${reply.slice(0, 80)}`);
      }
      const isRequest = (l: string): boolean => (format === 'tsv' ? l.split('\t')[1] === 'request' : l.includes('"kind":"request"'));
      await waitFor(() => hb!.lines.filter(isRequest).length >= CASES.length, 5000, 'a line per case');
      assert.equal(await hb.stop(), 0);
      const lines = hb.lines.filter(isRequest);
      assert.equal(lines.length, CASES.length, 'one line per request');

      const found = new Map<string, Record<string, string>>();
      for (const line of lines) {
        assert.match(line, /^[\x20-\x7e\t]*$/, `one printable ASCII line: ${JSON.stringify(line.slice(0, 200))}`);
        const rec = columns(line, format);
        // bounded however large the headers: the bounds, escaped (at most 4 characters a byte), plus the rest
        const context = CONTEXT_BOUNDS.forwarded_for + CONTEXT_BOUNDS.user_agent + CONTEXT_BOUNDS.request_id + CONTEXT_BOUNDS.proto;
        assert.ok(line.length <= 4 * context + (rec.path as string).length + 400, `line of ${line.length} characters`);
        // the shipped parser reads every column back as written
        const parsed = parserFilter(parsers, ['heartbeat_tsv_request', 'heartbeat_tsv_lifecycle', 'heartbeat_json'], line);
        assert.ok(parsed, `a parser matches ${JSON.stringify(line.slice(0, 200))}`);
        for (const k of ['forwarded_for', 'user_agent', 'request_id', 'proto']) assert.equal(parsed.record[k], rec[k], k);
        found.set(rec.path as string, rec);
      }

      for (const c of CASES) {
        const rec = found.get(c.target);
        assert.ok(rec, `a line for ${c.name}`);
        assert.equal(rec.status, String(c.status), c.name);
        const got: Context = { forwarded_for: rec.forwarded_for!, user_agent: rec.user_agent!, request_id: rec.request_id!, proto: rec.proto! };
        if (typeof c.want === 'function') c.want(got);
        else {
          const picked = Object.fromEntries(Object.keys(c.want).map((k) => [k, got[k as keyof Context]]));
          assert.deepEqual(picked, c.want, c.name);
        }
        if (c.status === 200) assert.equal(got.proto, c.version ?? 'HTTP/1.1', c.name);
      }
      byFormat[format] = found;
    });
  }

  it('gives every request the same context columns in both formats', () => {
    assert.ok(byFormat.tsv && byFormat.json, 'both runs above passed');
    for (const [target, tsv] of byFormat.tsv) {
      const json = byFormat.json.get(target);
      assert.ok(json, target);
      for (const k of ['forwarded_for', 'user_agent', 'request_id', 'proto']) assert.equal(json[k], tsv[k], `${k} of ${target}`);
    }
  });
});
