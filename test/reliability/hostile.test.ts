/**
 * The hostile request corpus against the compiled server over raw TCP: every
 * shape gets docs/endpoints.md's documented status (parsed from the raw status line),
 * never a 5xx; the server still serves afterwards; and with --log every
 * request it answered has exactly one well-formed log line.
 */
import assert from 'node:assert/strict';
import { escapeText, REQUEST_COLUMNS } from '../../src/log/format';
import { hostileCorpus, type LogEntry, type Shape } from '../helpers/hostile-corpus';
import { PatternChecker } from '../../scripts/pattern-check';
import { exchange, type Exchange } from '../helpers/raw-http';
import { kill, request, startServer, waitFor, type Running } from '../helpers/server';

const corpus = hostileCorpus();

/** What is wrong with the server's answer to `shape`, or undefined. */
function problem(shape: Shape, ex: Exchange): string | undefined {
  const finals = ex.responses.filter((r) => r.status >= 200);
  const interim = ex.responses.filter((r) => r.status < 200).map((r) => r.status);
  const got = finals.map((r) => r.status);
  if (got.some((s) => s >= 500)) return `a 5xx: ${got.join(', ')}`;
  if (got.join() !== shape.statuses.join()) {
    return `statuses ${got.join(', ') || '(none)'}, want ${shape.statuses.join(', ')}; received ${JSON.stringify(ex.raw.toString('latin1').slice(0, 200))}`;
  }
  if (interim.join() !== (shape.interim ?? []).join()) return `interim statuses ${interim.join(', ')}, want ${(shape.interim ?? []).join(', ')}`;
  if (ex.end === 'timeout') return 'the connection was still open after the answers (not closed)';
  if (ex.leftover) return 'a response was cut short';
  const first = finals[0];
  if (first && shape.allow !== undefined && first.headers.allow !== shape.allow) return `Allow ${first.headers.allow}, want ${shape.allow}`;
  if (first && shape.length !== undefined) {
    if (first.headers['content-length'] !== String(shape.length)) return `Content-Length ${first.headers['content-length']}, want ${shape.length}`;
    const isHead = shape.heads?.[0] ?? false;
    if (!isHead) {
      const check = new PatternChecker();
      check.add(first.body ?? Buffer.alloc(0));
      if (check.bytes !== shape.length || check.bad >= 0) return `body of ${check.bytes} bytes, pattern broken at ${check.bad}`;
    }
  }
  return undefined;
}

interface LoggedRequest {
  status: string;
  method: string;
  path: string;
  aborted: string;
}

const PRINTABLE_ASCII = /^[\x20-\x7e\t]*$/;
const ISO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/** Parses one request log line, asserting it is well formed: the columns of REQUEST_COLUMNS, typed. */
function parseRequestLine(line: string, format: 'tsv' | 'json'): LoggedRequest {
  assert.match(line, PRINTABLE_ASCII, `log line is not printable ASCII: ${JSON.stringify(line)}`);
  let rec: Record<string, unknown>;
  if (format === 'tsv') {
    const cols = line.split('\t');
    assert.equal(cols.length, REQUEST_COLUMNS.length, `column count of ${JSON.stringify(line)}`);
    rec = Object.fromEntries(REQUEST_COLUMNS.map((c, i) => [c, cols[i]]));
  } else {
    const obj = JSON.parse(line) as Record<string, unknown>;
    assert.deepEqual(Object.keys(obj), [...REQUEST_COLUMNS], `keys of ${line}`);
    rec = Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, String(v)]));
  }
  const s = (k: string): string => String(rec[k]);
  assert.match(s('time'), ISO_TIME, line);
  assert.equal(s('kind'), 'request', line);
  assert.match(s('status'), /^[1-5]\d\d$/, line);
  assert.match(s('duration_ms'), /^\d+(\.\d+)?$/, line);
  assert.match(s('bytes_out'), /^\d+$/, line);
  assert.match(s('bytes_in'), /^\d+$/, line);
  assert.match(s('aborted'), /^(true|false)$/, line);
  assert.match(s('client'), /^(::ffff:)?127\.0\.0\.1$|^$/, line);
  // the context columns are never empty (`-` when absent); proto is a version or `-`
  for (const k of ['forwarded_for', 'user_agent', 'request_id']) assert.notEqual(s(k), '', `${k} of ${line}`);
  assert.match(s('proto'), /^(HTTP\/1\.[01]|-)$/, line);
  return { status: s('status'), method: s('method'), path: s('path'), aborted: s('aborted') };
}

const isRequestLine = (line: string, format: 'tsv' | 'json'): boolean =>
  format === 'tsv' ? line.split('\t')[1] === 'request' : line.includes('"kind":"request"');

/** Matches logged requests to expected ones; returns what is missing and what is extra. */
function matchLog(logged: LoggedRequest[], expected: LogEntry[]): { missing: LogEntry[]; extra: LoggedRequest[] } {
  const left = [...logged];
  const missing: LogEntry[] = [];
  // Exact entries first, so a wildcard (parser-rejected) entry cannot take another's line.
  const wild = (e: LogEntry): number => (e.method === null || e.path === null ? 1 : 0);
  for (const e of [...expected].sort((a, b) => wild(a) - wild(b))) {
    const i = left.findIndex((l) => (e.method === null || l.method === e.method) &&
      (e.path === null || l.path === escapeText(e.path)) &&
      l.aborted === String(e.aborted) && (e.status === 'any' || l.status === String(e.status)));
    if (i < 0) missing.push(e);
    else left.splice(i, 1);
  }
  return { missing, extra: left };
}

describe(`reliability: a hostile corpus of ${corpus.length} request shapes`, function () {
  this.timeout(60_000);
  let hb: Running | undefined;
  afterEach(() => kill(hb));

  const runs: Array<{ label: string; args: string[]; format?: 'tsv' | 'json' }> = [
    { label: 'request logging off', args: [] },
    { label: '--log (tsv)', args: ['--log'], format: 'tsv' },
    { label: '--log --log-format json', args: ['--log', '--log-format', 'json'], format: 'json' },
  ];
  for (const run of runs) {
    it(`answers each as docs/endpoints.md documents, never 5xx, and still serves /healthz (${run.label})`, async () => {
      hb = await startServer(run.args);
      const failures: string[] = [];
      for (const shape of corpus) {
        const ex = await exchange(hb.port, shape.bytes, { ms: 5000, heads: shape.heads });
        const p = problem(shape, ex);
        if (p) failures.push(`${shape.name}: ${p}`);
      }
      assert.deepEqual(failures, [], `${failures.length} of ${corpus.length} shapes answered wrongly`);

      const health = await request(hb.port, 'GET', '/healthz');
      assert.equal(health.status, 200);
      assert.equal(health.body.toString(), 'Pass\n');

      if (run.format) {
        const format = run.format;
        const expected = corpus.flatMap((s) => s.log);
        expected.push({ method: 'GET', path: '/healthz', status: 200, aborted: false });
        const requestLines = (): string[] => hb!.lines.filter((l) => isRequestLine(l, format));
        // Polls until every line is there; on a shortfall the comparison below names what is missing.
        await waitFor(() => requestLines().length >= expected.length, 5000).catch(() => undefined);
        assert.equal(await hb.stop(), 0);
        const logged = requestLines().map((l) => parseRequestLine(l, format));
        const { missing, extra } = matchLog(logged, expected);
        assert.deepEqual({ missing, extra }, { missing: [], extra: [] }, 'one log line per answered request');
      } else {
        assert.equal(await hb.stop(), 0);
      }
      assert.equal(hb.lines.filter((l) => /\berror\b/.test(l) && /lifecycle/.test(l)).length, 0, 'no error lines');
    });
  }
});
