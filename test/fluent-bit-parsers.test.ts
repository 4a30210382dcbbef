/**
 * fluent-bit/parsers.yaml against the lines the real compiled heartbeat writes, in both
 * formats, for a request mix with hostile targets: every line is matched by exactly the
 * parser meant for it, every column arrives with the right value and type, and the record's
 * timestamp is the app's own time as the declared time_format reads it.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import { LIFECYCLE_COLUMNS, REQUEST_COLUMNS, formatLifecycle, formatRequest } from '../src/log/format';
import {
  FLUENT_BIT_DIR, FbFloat, FbInt, type FbMap, type FbValue, type Parser,
  loadOniguruma, loadParsers, parserFilter, plain, readYaml, timeLookup,
} from './helpers/fluentbit';
import { kill, rawExchange, request, startServer, waitFor, type Running } from './helpers/server';

type FieldType = 'string' | 'integer' | 'float' | 'bool';

/** What each request column must become. Typed by REQUEST_COLUMNS: a new column fails to compile here. */
const REQUEST_TYPES: Record<(typeof REQUEST_COLUMNS)[number], FieldType> = {
  time: 'string',
  kind: 'string',
  status: 'integer',
  duration_ms: 'float',
  bytes_out: 'integer',
  bytes_in: 'integer',
  method: 'string',
  path: 'string',
  client: 'string',
  aborted: 'bool',
  forwarded_for: 'string',
  user_agent: 'string',
  request_id: 'string',
  proto: 'string',
};

const GIB = 1024 * 1024 * 1024;
const PARSER_FOR = {
  tsvRequest: 'heartbeat_tsv_request', tsvLifecycle: 'heartbeat_tsv_lifecycle', tsvProbe: 'heartbeat_tsv_probe', tsvUdp: 'heartbeat_tsv_udp', json: 'heartbeat_json',
};

interface Expected {
  status: number;
  method: string;
  /** The target exactly as the log must carry it (escaped), which is also its key among the lines. */
  path: string;
  bytesIn: number;
  /** Exact body bytes sent, or 'less' for a download the client walked away from. */
  bytesOut: number | 'less';
  aborted: boolean;
  /** Node's HTTP parser may refuse the request before heartbeat sees it (then nothing is logged). */
  optional?: boolean;
  /** The context columns, where the request sent headers for them (else `-`, and proto HTTP/1.1). */
  context?: Partial<Record<'forwarded_for' | 'user_agent' | 'request_id' | 'proto', string>>;
}

interface Case { name: string; run(port: number): Promise<Expected> }

/** A raw request; resolves with the status line's code and Content-Length. */
async function raw(port: number, method: string, target: string): Promise<{ status: number; length: number }> {
  const out = await rawExchange(port, Buffer.from(`${method} ${target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n`, 'latin1'));
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(out)?.[1]);
  const length = Number(/\r\ncontent-length: (\d+)/i.exec(out)?.[1] ?? 0);
  return { status, length };
}


/** A request heartbeat answers with a short error body. */
function refused(name: string, method: string, path: string, status: number): Case {
  return {
    name,
    async run(port) {
      const r = await request(port, method, path);
      assert.equal(r.status, status);
      return { status, method, path, bytesIn: 0, bytesOut: r.body.length, aborted: false };
    },
  };
}

const CASES: Case[] = [
  {
    name: 'GET 200, through a proxy, with a user agent and a request id',
    async run(port) {
      const r = await request(port, 'GET', '/heartbeat/17', undefined, {
        'User-Agent': 'kube-probe/1.31', 'X-Forwarded-For': '203.0.113.9, 10.42.0.1', 'X-Request-Id': 'a1b2\tc3',
      });
      return {
        status: r.status, method: 'GET', path: '/heartbeat/17', bytesIn: 0, bytesOut: 17, aborted: false,
        context: { user_agent: 'kube-probe/1.31', forwarded_for: '203.0.113.9, 10.42.0.1', request_id: 'a1b2\\tc3' },
      };
    },
  },
  {
    name: 'HEAD',
    async run(port) {
      const r = await request(port, 'HEAD', '/heartbeat/33');
      return { status: r.status, method: 'HEAD', path: '/heartbeat/33', bytesIn: 0, bytesOut: 0, aborted: false };
    },
  },
  {
    name: 'POST upload',
    async run(port) {
      const r = await request(port, 'POST', '/heartbeat/5', Buffer.alloc(1000, 0x78));
      assert.equal(r.headers['x-received-bytes'], '1000');
      return { status: r.status, method: 'POST', path: '/heartbeat/5', bytesIn: 1000, bytesOut: 5, aborted: false };
    },
  },
  refused('404', 'GET', '/no/such/thing?x=1', 404),
  refused('400 (size 0)', 'GET', '/heartbeat/0', 400),
  refused('405', 'PUT', '/heartbeat/18', 405),
  {
    name: 'a percent-encoded newline and tab that spell a fake log line',
    async run(port) {
      const target = '/heartbeat/%0A2026-01-01T00:00:00Z%09200';
      const r = await request(port, 'GET', target);
      return { status: r.status, method: 'GET', path: target, bytesIn: 0, bytesOut: r.body.length, aborted: false };
    },
  },
  {
    name: 'raw backslashes',
    async run(port) {
      const r = await raw(port, 'GET', '/heartbeat/a\\b\\\\');
      return { status: r.status, method: 'GET', path: '/heartbeat/a\\\\b\\\\\\\\', bytesIn: 0, bytesOut: r.length, aborted: false };
    },
  },
  {
    name: 'raw quotes, braces and friends',
    async run(port) {
      const target = `/heartbeat/"q"{'x'}|^\`~`;
      const r = await raw(port, 'GET', target);
      return { status: r.status, method: 'GET', path: target, bytesIn: 0, bytesOut: r.length, aborted: false };
    },
  },
  {
    name: 'raw bytes above 0x7f',
    async run(port) {
      const r = await raw(port, 'GET', '/heartbeat/\xff\xfe\x80');
      assert.equal(r.status, 400);
      return { status: 400, method: 'GET', path: '/heartbeat/\\xff\\xfe\\x80', bytesIn: 0, bytesOut: r.length, aborted: false, optional: true,
        // refused in its start line: the parser never reached the version
        context: { proto: '-' } };
    },
  },
  {
    name: 'a download the client walks away from',
    async run(port) {
      await new Promise<void>((resolve, reject) => {
        http.get({ host: '127.0.0.1', port, path: `/heartbeat/${GIB}`, agent: false }, (res) => {
          res.once('data', () => { res.destroy(); resolve(); });
        }).on('error', reject);
      });
      return { status: 200, method: 'GET', path: `/heartbeat/${GIB}`, bytesIn: 0, bytesOut: 'less', aborted: true };
    },
  },
];

/** The parser filter's order, from the shipped sidecar configuration. */
function filterOrder(): string[] {
  const doc = readYaml(path.join(FLUENT_BIT_DIR, 'sidecar.yaml')) as { pipeline: { filters: Record<string, unknown>[] } };
  const f = doc.pipeline.filters.find((x) => x.name === 'parser');
  assert.ok(f, 'sidecar.yaml has a parser filter');
  return ([] as unknown[]).concat(f.parser).map(String);
}

function assertType(name: string, v: FbValue | undefined, type: FieldType, line: string): void {
  const ok = type === 'string' ? typeof v === 'string'
    : type === 'bool' ? typeof v === 'boolean'
      : type === 'integer' ? v instanceof FbInt && Number.isSafeInteger(v.value)
        : v instanceof FbFloat && Number.isFinite(v.value);
  assert.ok(ok, `${name} should be ${type}, is ${JSON.stringify(v)} (${v?.constructor?.name}) in ${JSON.stringify(line)}`);
}

/** Reverses format.ts's escaping (\\ \t \n \r \xHH \uHHHH), to prove it loses nothing. */
function unescape(s: string): string {
  return s.replace(/\\(?:x([0-9a-f]{2})|u([0-9a-f]{4})|(.))/g, (_m, x?: string, u?: string, c?: string) =>
    x ? String.fromCharCode(parseInt(x, 16)) : u ? String.fromCharCode(parseInt(u, 16))
      : c === 't' ? '\t' : c === 'n' ? '\n' : c === 'r' ? '\r' : (c as string));
}

interface Run { requests: Map<string, FbMap>; lifecycle: FbMap[] }

describe('Fluent Bit parsers (fluent-bit/parsers.yaml) on real heartbeat output', function () {
  this.timeout(30_000);
  let parsers: Map<string, Parser>;
  let order: string[];
  let hb: Running | undefined;
  const runs: Partial<Record<'tsv' | 'json', Run>> = {};
  afterEach(() => kill(hb));

  before(async () => {
    await loadOniguruma();
    parsers = loadParsers();
    order = filterOrder();
  });

  it('has one regex per TSV line kind whose named groups are the columns of src/log/format.ts, in order', () => {
    assert.deepEqual(parsers.get(PARSER_FOR.tsvRequest)?.regex?.names, [...REQUEST_COLUMNS]);
    assert.deepEqual(parsers.get(PARSER_FOR.tsvLifecycle)?.regex?.names, [...LIFECYCLE_COLUMNS]);
    assert.equal(parsers.get(PARSER_FOR.json)?.format, 'json');
    assert.deepEqual([...parsers.keys()].sort(), Object.values(PARSER_FOR).sort());
    assert.deepEqual(Object.keys(REQUEST_TYPES), [...REQUEST_COLUMNS]);
    // the declared types are exactly the non-string columns
    const declared = Object.fromEntries(parsers.get(PARSER_FOR.tsvRequest)?.types ?? []);
    const wanted = Object.fromEntries(Object.entries(REQUEST_TYPES).filter(([, t]) => t !== 'string'));
    assert.deepEqual(declared, wanted);
    assert.equal(parsers.get(PARSER_FOR.tsvLifecycle)?.types.size, 0);
  });

  it('reads time with the declared time_format the way Fluent Bit does (Z, offsets, and refusals)', () => {
    for (const p of parsers.values()) {
      assert.equal(p.timeKey, 'time');
      const fmt = p.timeFormat as string;
      assert.deepEqual(timeLookup('2026-11-25T00:52:08.955Z', fmt), { sec: Date.UTC(2026, 10, 25, 0, 52, 8) / 1000, nsec: 955_000_000 });
      assert.deepEqual(timeLookup('2026-11-25T02:22:08.955+01:30', fmt), timeLookup('2026-11-25T00:52:08.955Z', fmt));
      assert.equal(timeLookup('2026-11-25T00:52:08.955', fmt), null, 'no zone');
      assert.equal(timeLookup('2026-11-25T00:52:08Z', fmt), null, 'no fraction');
      assert.equal(timeLookup('2026-13-25T00:52:08.955Z', fmt), null, 'month 13');
    }
  });

  it('keeps the values only a hostile client or a rare timing produce lossless and equally typed in both formats', () => {
    // Every byte a request target can carry (Node hands them over one per character), an empty
    // client address, a whole-millisecond duration (JSON must still say 2.0, or it becomes an integer).
    let every = '';
    for (let b = 0; b < 256; b++) every += String.fromCharCode(b);
    const rec = {
      time: '2026-11-25T00:52:08.955Z', status: 400, duration_ms: 2, bytes_out: 55, bytes_in: 0,
      method: 'GET', path: `/heartbeat/${every}\u2028`, client: '', aborted: false,
      // the context columns carry the same hostile text, within their bounds
      forwarded_for: `203.0.113.9, ${every}`, user_agent: every, request_id: '"id"\\{}', proto: 'HTTP/1.0',
    };
    const byFormat = (['tsv', 'json'] as const).map((f) => {
      const line = formatRequest(rec, f);
      assert.doesNotMatch(line, /[\n\r]|[^\x20-\x7e\t]/, 'one printable ASCII line');
      const got = parserFilter(parsers, order, line);
      assert.equal(got?.parser, f === 'tsv' ? PARSER_FOR.tsvRequest : PARSER_FOR.json);
      assert.equal(unescape(got.record.path as string), rec.path);
      for (const c of ['forwarded_for', 'user_agent', 'request_id', 'proto'] as const) {
        assert.equal(unescape(got.record[c] as string), rec[c], c);
      }
      assert.equal(got.record.client, '');
      assert.deepEqual(got.record.duration_ms, new FbFloat(2));
      return got.record;
    });
    assert.deepEqual(byFormat[1], byFormat[0]);

    const life = { time: rec.time, level: 'error' as const, message: 'uncaught\texception\n"x"', details: { error: 'a "quoted" \\ \u00e9\n', port: 8080, ratio: 0.5 } };
    const [tsv, json] = (['tsv', 'json'] as const).map((f) => parserFilter(parsers, order, formatLifecycle(life, f)));
    assert.equal(tsv?.parser, PARSER_FOR.tsvLifecycle);
    assert.equal(json?.parser, PARSER_FOR.json);
    assert.equal(unescape(tsv.record.message as string), life.message);
    assert.equal(json.record.message, tsv.record.message);
    // details: the same typed map from both formats (decode_field_as json in TSV), so one index
    // mapping serves both
    assert.deepEqual(plain(tsv.record.details as FbValue), life.details);
    assert.deepEqual(tsv.record.details, json.record.details);
    assert.deepEqual((tsv.record.details as FbMap).port, new FbInt(8080));
    assert.deepEqual((tsv.record.details as FbMap).ratio, new FbFloat(0.5));
    assert.deepEqual(plain(json.record.details as FbValue), life.details);
    assert.deepEqual((json.record.details as FbMap).port, new FbInt(8080));
  });

  it('decodes a TSV lifecycle line\'s details only when it is one JSON object (else it stays the text)', () => {
    const lifecycle = parsers.get(PARSER_FOR.tsvLifecycle) as Parser;
    const line = (details: string): string => `2026-11-25T00:52:08.955Z\tlifecycle\tinfo\tlistening\t${details}`;
    assert.deepEqual(plain(lifecycle.parse(line('{"port":8080,"tags":["a"],"on":true}'))?.record.details as FbValue),
      { port: 8080, tags: ['a'], on: true });
    assert.deepEqual(lifecycle.parse(line('{}'))?.record.details, {});
    // the regex takes {...}; text that is not one JSON object is kept as the string it was
    assert.equal(lifecycle.parse(line('{not json}'))?.record.details, '{not json}');
    assert.equal(lifecycle.parse(line('{"a":1} {"b":2}'))?.record.details, '{"a":1} {"b":2}');
  });

  for (const format of ['tsv', 'json'] as const) {
    it(`matches every ${format.toUpperCase()} line with exactly its parser, with every field right`, async () => {
      const runStart = Date.now();
      hb = await startServer(['--log', '--log-format', format, '--max', String(GIB)]);
      const expected: Expected[] = [];
      for (const c of CASES) expected.push({ ...(await c.run(hb.port)) });
      const mustLog = expected.filter((e) => !e.optional).length;
      const isRequest = (l: string): boolean => (format === 'tsv' ? l.split('\t')[1] === 'request' : l.includes('"kind":"request"'));
      await waitFor(() => hb!.lines.filter(isRequest).length >= mustLog, 5000, 'the request lines');
      assert.equal(await hb.stop(), 0);
      const runEnd = Date.now();
      const lines = hb.lines.filter((l) => l.length > 0);

      const run: Run = { requests: new Map(), lifecycle: [] };
      for (const line of lines) {
        const kind = format === 'json' ? (JSON.parse(line) as { kind: string }).kind : line.split('\t')[1];
        const intended = format === 'json' ? PARSER_FOR.json : kind === 'request' ? PARSER_FOR.tsvRequest : PARSER_FOR.tsvLifecycle;

        // exactly one parser matches, and the filter (first match in the sidecar's order) picks it
        const matching = [...parsers.values()].filter((p) => p.parse(line) !== null).map((p) => p.name);
        assert.deepEqual(matching, [intended], `parsers matching ${JSON.stringify(line)}`);
        const got = parserFilter(parsers, order, line);
        assert.equal(got?.parser, intended);
        const { record, time } = got;

        // both regex engines read every regex the same way (including not matching)
        for (const p of parsers.values()) {
          if (!p.regex) continue;
          assert.deepEqual(p.regex.js(line), p.regex.onig(line), `${p.name}: JavaScript and Oniguruma disagree on ${JSON.stringify(line)}`);
          // Docker's json-file keeps the newline at the end of `log`: `$` must still match before it
          assert.deepEqual(p.regex.onig(`${line}\n`), p.regex.onig(line), `${p.name} with a trailing newline`);
        }

        // the columns, nothing more or less, each of its type
        const columns: readonly string[] = kind === 'request' ? REQUEST_COLUMNS : LIFECYCLE_COLUMNS;
        assert.deepEqual(Object.keys(record).sort(), [...columns].sort(), `fields of ${JSON.stringify(line)}`);
        if (kind === 'request') {
          for (const [name, type] of Object.entries(REQUEST_TYPES)) assertType(name, record[name], type, line);
        } else {
          for (const name of ['time', 'kind', 'level', 'message']) assertType(name, record[name], 'string', line);
          assert.match(record.level as string, /^(info|warn|error)$/);
          // a map in both formats (TSV: decoded from its JSON text)
          const d = record.details;
          assert.ok(d !== null && typeof d === 'object' && !Array.isArray(d) && !(d instanceof FbInt) && !(d instanceof FbFloat),
            `details should be a map in ${line}`);
          const text = format === 'tsv' ? line.split('\t')[4] as string : JSON.stringify((JSON.parse(line) as { details: unknown }).details);
          assert.deepEqual(plain(d), JSON.parse(text));
          run.lifecycle.push(record);
        }

        // the record's timestamp is the app's own time, read with the declared time_format
        assert.ok(time, `time_format read ${JSON.stringify(record.time)}`);
        const ms = time.sec * 1000 + Math.round(time.nsec / 1e6);
        assert.equal(ms, Date.parse(record.time as string));
        assert.ok(ms >= runStart && ms <= runEnd, `time ${record.time as string} is within the run`);

        if (kind === 'request') {
          const key = record.path as string;
          assert.ok(!run.requests.has(key), `one line for ${key}`);
          run.requests.set(key, record);
        }
      }

      // every request is there with the values the client saw
      for (const e of expected) {
        const r = run.requests.get(e.path);
        if (!r && e.optional) continue;
        assert.ok(r, `a line for ${JSON.stringify(e.path)} among ${JSON.stringify([...run.requests.keys()])}`);
        assert.equal(r.kind, 'request');
        assert.deepEqual(r.status, new FbInt(e.status));
        assert.equal(r.method, e.method);
        assert.deepEqual(r.bytes_in, new FbInt(e.bytesIn));
        if (e.bytesOut === 'less') {
          const out = (r.bytes_out as FbInt).value;
          assert.ok(out < GIB, `bytes_out ${out} of an abandoned 1 GiB download`);
        } else {
          assert.deepEqual(r.bytes_out, new FbInt(e.bytesOut));
        }
        assert.equal(r.aborted, e.aborted);
        const context = { forwarded_for: '-', user_agent: '-', request_id: '-', proto: 'HTTP/1.1', ...e.context };
        for (const [k, v] of Object.entries(context)) assert.equal(r[k], v, `${k} of ${e.path}`);
        assert.match(r.client as string, /^(::ffff:)?127\.0\.0\.1$/);
        assert.ok((r.duration_ms as FbFloat).value >= 0);
      }
      assert.equal(run.requests.size, expected.filter((e) => run.requests.has(e.path)).length, 'no unexpected request lines');
      assert.deepEqual(run.lifecycle.map((r) => r.message), ['starting', 'listening', 'listening', 'shutdown begun', 'shutdown done']);
      runs[format] = run;
    });
  }

  it('gives a request the same record in both formats', () => {
    assert.ok(runs.tsv && runs.json, 'both runs above passed');
    const strip = (r: FbMap): FbMap => {
      const { time: _t, duration_ms: _d, ...rest } = r;
      return rest;
    };
    for (const [key, tsv] of runs.tsv.requests) {
      const json = runs.json.requests.get(key);
      assert.ok(json, `the JSON run logged ${key} too`);
      if (tsv.aborted === true) {
        assert.deepEqual({ ...strip(json), bytes_out: null }, { ...strip(tsv), bytes_out: null });
      } else {
        assert.deepEqual(strip(json), strip(tsv));
      }
    }
  });
});
