/** Logging: TSV and JSON lines on stdout, escaped, nothing lost, surviving a closed stdout. */
import assert from 'node:assert/strict';
import http from 'node:http';
import {
  CONTEXT_BOUNDS, escapeText, formatLifecycle, formatRequest, LIFECYCLE_COLUMNS, REQUEST_COLUMNS, type RequestRecord,
} from '../src/log/format';
import { kill, rawExchange, request, startServer, waitFor, type Running } from './helpers/server';

const RFC3339_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

const requestLines = (r: Running): string[] => r.lines.filter((l) => l.split('\t')[1] === 'request');
const jsonLines = (r: Running): Record<string, unknown>[] => r.lines.map((l) => JSON.parse(l) as Record<string, unknown>);

function tsvRecord(line: string): Record<string, string> {
  const cols = line.split('\t');
  assert.equal(cols.length, REQUEST_COLUMNS.length, `columns in ${JSON.stringify(line)}`);
  return Object.fromEntries(REQUEST_COLUMNS.map((c, i) => [c, cols[i] as string]));
}

/** Many requests over a few keep-alive connections. */
async function load(port: number, total: number, concurrency: number): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  let next = 0;
  let ok = 0;
  const worker = async (): Promise<void> => {
    while (next < total) {
      next++;
      await new Promise<void>((resolve, reject) => {
        http.get({ host: '127.0.0.1', port, path: '/heartbeat/64', agent }, (res) => {
          res.resume();
          res.on('end', () => { if (res.statusCode === 200) ok++; resolve(); });
        }).on('error', reject);
      });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  agent.destroy();
  return ok;
}

describe('logging', () => {
  describe('format', () => {
    it('escapes tab, CR, LF, backslash, controls and non-ASCII so nothing adds a line or column', () => {
      assert.equal(escapeText('/a\tb\nc\rd\\e\x00f\x7fg\xffh\u2028i'), '/a\\tb\\nc\\rd\\\\e\\x00f\\x7fg\\xffh\\u2028i');
      assert.equal(escapeText('/heartbeat/17'), '/heartbeat/17');
    });

    const record: RequestRecord = {
      time: '2026-11-25T00:00:00.000Z', status: 200, duration_ms: 0.125, bytes_out: 17, bytes_in: 0,
      method: 'GET', path: '/x\t"y"\n\\', client: '127.0.0.1', aborted: false,
      forwarded_for: '', user_agent: '', request_id: '', proto: 'HTTP/1.1',
    };

    it('writes a TSV request line with the documented columns in order', () => {
      const line = formatRequest(record, 'tsv');
      assert.equal(line, '2026-11-25T00:00:00.000Z\trequest\t200\t0.125\t17\t0\tGET\t/x\\t"y"\\n\\\\\t127.0.0.1\tfalse\t-\t-\t-\tHTTP/1.1');
      assert.equal(line.split('\t').length, REQUEST_COLUMNS.length);
    });

    it('writes a JSON request line with the same field names and the same escaped path', () => {
      const obj = JSON.parse(formatRequest(record, 'json')) as Record<string, unknown>;
      assert.deepEqual(Object.keys(obj), [...REQUEST_COLUMNS]);
      assert.equal(obj.kind, 'request');
      assert.equal(obj.path, '/x\\t"y"\\n\\\\');
      assert.equal(obj.duration_ms, 0.125);
      assert.equal(obj.aborted, false);
    });

    it('writes the context columns last: `-` when absent, escaped like the path, each cut to its bound', () => {
      const ctx = { ...record, forwarded_for: '203.0.113.9, 10.0.0.1', user_agent: 'ua\t"x"\xff', request_id: 'r\\1', proto: 'HTTP/1.0' };
      const cols = formatRequest(ctx, 'tsv').split('\t');
      assert.deepEqual(cols.slice(-4), ['203.0.113.9, 10.0.0.1', 'ua\\t"x"\\xff', 'r\\\\1', 'HTTP/1.0']);
      const json = JSON.parse(formatRequest(ctx, 'json')) as Record<string, unknown>;
      assert.deepEqual([json.forwarded_for, json.user_agent, json.request_id, json.proto], cols.slice(-4));
      assert.deepEqual(formatRequest(record, 'tsv').split('\t').slice(-4), ['-', '-', '-', 'HTTP/1.1']);

      const long = {
        ...record,
        forwarded_for: Array.from({ length: 200 }, (_v, i) => `10.1.0.${i}`).join(', '),
        user_agent: 'u'.repeat(10_000), request_id: '\xff'.repeat(10_000), proto: 'HTTP/1.1',
      };
      const [fwd, ua, id] = formatRequest(long, 'tsv').split('\t').slice(-4) as [string, string, string];
      assert.equal(ua, 'u'.repeat(CONTEXT_BOUNDS.user_agent));
      assert.equal(id, '\\xff'.repeat(CONTEXT_BOUNDS.request_id), 'the bound counts bytes before escaping');
      // the end of the list, from a whole entry on
      assert.ok(long.forwarded_for.endsWith(`, ${fwd}`) && fwd.length <= CONTEXT_BOUNDS.forwarded_for, fwd);
      assert.match(fwd, /^10\.1\.0\.\d+, .*10\.1\.0\.199$/);
      // one entry longer than the bound: its last characters
      const one = formatRequest({ ...long, forwarded_for: 'f'.repeat(5000) + 'end' }, 'tsv').split('\t').at(-4) as string;
      assert.equal(one, 'f'.repeat(CONTEXT_BOUNDS.forwarded_for - 3) + 'end');
    });

    it('writes lifecycle lines with level, message and JSON details, ASCII only', () => {
      const r = { time: '2026-11-25T00:00:00.000Z', level: 'error' as const, message: 'boom\nline', details: { why: 'é\t"' } };
      const tsv = formatLifecycle(r, 'tsv');
      const cols = tsv.split('\t');
      assert.equal(cols.length, LIFECYCLE_COLUMNS.length);
      assert.equal(cols[1], 'lifecycle');
      assert.equal(cols[3], 'boom\\nline');
      assert.deepEqual(JSON.parse(cols[4] as string), { why: 'é\t"' });
      assert.match(tsv, /^[\x20-\x7e\t]*$/);
      const json = JSON.parse(formatLifecycle(r, 'json')) as Record<string, unknown>;
      assert.deepEqual(Object.keys(json), [...LIFECYCLE_COLUMNS]);
      assert.deepEqual(json.details, { why: 'é\t"' });
    });
  });

  describe('a stalled stdout reader', () => {
    it('holds up to the backlog limit, drops the rest, and reports how many once stdout catches up', async () => {
      const { Writable, PassThrough } = await import('node:stream');
      const { createLogger } = await import('../src/log/logger');
      let written = '';
      const held: (() => void)[] = [];
      const out = new Writable({
        highWaterMark: 256,
        write(chunk: Buffer, _enc, cb) { written += chunk.toString('latin1'); held.push(cb); },
      });
      const logger = createLogger({ format: 'tsv', requests: true, out, err: new PassThrough(), maxBacklog: 2000 });
      const record: RequestRecord = {
        time: '2026-11-25T00:00:00.000Z', status: 200, duration_ms: 0.1, bytes_out: 17, bytes_in: 0,
        method: 'GET', path: '/heartbeat/17', client: '127.0.0.1', aborted: false,
        forwarded_for: '', user_agent: '', request_id: '', proto: 'HTTP/1.1',
      };
      for (let i = 0; i < 200; i++) {
        logger.request({ ...record, bytes_out: i });
        if (i % 20 === 19) await new Promise((r) => setTimeout(r, 10)); // let flushes happen
      }
      // The reader wakes up: every held write completes, and so does whatever follows.
      const release = setInterval(() => { while (held.length) held.shift()!(); }, 1);
      await logger.close(5000);
      clearInterval(release);
      const lines = written.split('\n').filter(Boolean);
      const requests = lines.filter((l) => l.split('\t')[1] === 'request');
      const warn = lines.find((l) => l.includes('log lines dropped'));
      assert.ok(warn, 'a warning says lines were dropped');
      const dropped = (JSON.parse(warn.split('\t')[4] as string) as { dropped: number }).dropped;
      assert.ok(requests.length < 200 && dropped > 0);
      assert.equal(requests.length + dropped, 200, 'every line is either written or counted as dropped');
      assert.equal(logger.droppedLines, dropped, 'the running total (heartbeat_log_lines_dropped_total) agrees');
      assert.ok(requests.length * 80 <= 2000 + 2 * 100, `the backlog stayed near its limit (${requests.length} lines)`);
    });
  });

  describe('the running server', function () {
    this.timeout(60_000);
    let hb: Running | undefined;
    afterEach(() => kill(hb));

    it('writes lifecycle lines always, and no request lines without --log', async () => {
      hb = await startServer();
      await request(hb.port, 'GET', '/heartbeat/17');
      assert.equal(await hb.stop(), 0);
      // the heartbeat listener, then the UDP echo responder on its port number
      const kinds = hb.lines.map((l) => l.split('\t'));
      assert.deepEqual(kinds.map((c) => c[3]), ['starting', 'listening', 'listening', 'shutdown begun', 'shutdown done']);
      for (const c of kinds) {
        assert.equal(c.length, LIFECYCLE_COLUMNS.length);
        assert.match(c[0] as string, RFC3339_MS);
        assert.equal(c[1], 'lifecycle');
        assert.equal(c[2], 'info');
        JSON.parse(c[4] as string);
      }
    });

    it('logs one TSV line per request with the right values', async () => {
      hb = await startServer(['--log']);
      await request(hb.port, 'GET', '/heartbeat/17');
      await request(hb.port, 'POST', '/heartbeat/5', Buffer.alloc(1000));
      await request(hb.port, 'HEAD', '/heartbeat/9');
      await request(hb.port, 'GET', '/heartbeat/0');
      await request(hb.port, 'GET', '/nope');
      await request(hb.port, 'GET', '/healthz');
      await waitFor(() => requestLines(hb!).length === 6, 5000, 'six request lines');
      const rows = requestLines(hb).map(tsvRecord);
      const pick = rows.map((r) => [r.status, r.bytes_out, r.bytes_in, r.method, r.path, r.aborted]);
      assert.deepEqual(pick, [
        ['200', '17', '0', 'GET', '/heartbeat/17', 'false'],
        ['200', '5', '1000', 'POST', '/heartbeat/5', 'false'],
        ['200', '0', '0', 'HEAD', '/heartbeat/9', 'false'],
        ['400', '55', '0', 'GET', '/heartbeat/0', 'false'],
        ['404', '10', '0', 'GET', '/nope', 'false'],
        ['200', '5', '0', 'GET', '/healthz', 'false'],
      ]);
      for (const r of rows) {
        assert.match(r.time as string, RFC3339_MS);
        assert.match(r.duration_ms as string, /^\d+(\.\d{1,3})?$/);
        assert.match(r.client as string, /127\.0\.0\.1$/);
        // Node's client sends none of the context headers
        assert.deepEqual([r.forwarded_for, r.user_agent, r.request_id, r.proto], ['-', '-', '-', 'HTTP/1.1']);
      }
    });

    it('logs JSON lines with the same fields', async () => {
      hb = await startServer(['--log', '--log-format', 'json']);
      await request(hb.port, 'GET', '/heartbeat/33');
      await waitFor(() => jsonLines(hb!).some((l) => l.kind === 'request'), 5000, 'a request line');
      const line = jsonLines(hb).find((l) => l.kind === 'request')!;
      assert.deepEqual(Object.keys(line), [...REQUEST_COLUMNS]);
      assert.equal(line.status, 200);
      assert.equal(line.bytes_out, 33);
      assert.equal(line.path, '/heartbeat/33');
      assert.equal(typeof line.duration_ms, 'number');
      const lifecycle = jsonLines(hb).filter((l) => l.kind === 'lifecycle');
      assert.deepEqual(lifecycle.map((l) => l.message), ['starting', 'listening', 'listening']);
      for (const l of lifecycle) assert.deepEqual(Object.keys(l), [...LIFECYCLE_COLUMNS]);
    });

    for (const format of ['tsv', 'json'] as const) {
      it(`keeps hostile paths on one line and in their column (${format})`, async () => {
        hb = await startServer(['--log', '--log-format', format]);
        const hostile = [
          '/heartbeat/%0A2026-01-01T00:00:00Z%09200',
          '/heartbeat/%0d%0a%09%5c%22',
          '/a\\b"c\'d',
        ];
        for (const p of hostile) await request(hb.port, 'GET', p);
        // Raw bytes Node accepts in a target: above 0x7f (invalid UTF-8) and a backslash.
        const raw = Buffer.concat([Buffer.from('GET /heartbeat/\xff\xfe\\x0a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 'latin1')]);
        const reply = await rawExchange(hb.port, raw);
        assert.match(reply, /^HTTP\/1\.1 400/);
        const total = hostile.length + 1;
        const isRequest = (l: string): boolean => (format === 'tsv' ? l.split('\t')[1] === 'request' : l.includes('"kind":"request"'));
        await waitFor(() => hb!.lines.filter(isRequest).length === total, 5000, 'all request lines');
        assert.equal(await hb.stop(), 0);
        // Exactly: starting, listening (heartbeat, then udp), N requests, shutdown begun, shutdown done.
        assert.equal(hb.lines.length, total + 5, hb.lines.join('\n'));
        const paths = hb.lines.filter(isRequest).map((l) => (format === 'tsv' ? tsvRecord(l).path : (JSON.parse(l) as { path: string }).path));
        assert.deepEqual(paths, [...hostile.slice(0, 2), '/a\\\\b"c\'d', '/heartbeat/\\xff\\xfe\\\\x0a']);
        for (const l of hb.lines) assert.match(l, /^[\x20-\x7e\t]*$/, 'ASCII only, no stray control characters');
      });
    }

    it('loses no line on SIGTERM: N requests served, N request lines, even with stdout backed up', async () => {
      hb = await startServer(['--log']);
      // Stop reading stdout so the pipe fills and heartbeat has to buffer its log output.
      hb.proc.stdout!.pause();
      const served = await load(hb.port, 5000, 16);
      assert.equal(served, 5000);
      const exited = hb.stop('SIGTERM');
      hb.proc.stdout!.resume();
      assert.equal(await exited, 0);
      assert.equal(requestLines(hb).length, 5000);
      assert.equal(hb.lines.at(-1)!.split('\t')[3], 'shutdown done');
    });

    it('logs an upload the client abandons as 499, aborted, with the bytes that came', async () => {
      hb = await startServer(['--log']);
      const net = await import('node:net');
      await new Promise<void>((resolve) => {
        const s = net.connect(hb!.port, '127.0.0.1', () => {
          s.write('POST /heartbeat/17 HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc', () => setTimeout(() => { s.destroy(); resolve(); }, 100));
        });
      });
      await waitFor(() => requestLines(hb!).length === 1, 5000, 'the request line');
      const r = tsvRecord(requestLines(hb)[0] as string);
      assert.deepEqual([r.status, r.bytes_in, r.bytes_out, r.aborted], ['499', '3', '0', 'true']);
      assert.equal(await hb.stop(), 0);
    });

    it('still logs the requests it cuts at the drain timeout', async () => {
      hb = await startServer(['--log', '--max', String(1024 ** 3), '--drain-timeout', '300']);
      const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
        http.get({ host: '127.0.0.1', port: hb!.port, path: `/heartbeat/${1024 ** 3}`, agent: false }, resolve).on('error', reject);
      });
      res.pause(); // a client that stops reading: the response cannot finish
      res.on('error', () => undefined);
      assert.equal(await hb.stop(), 0);
      const lines = requestLines(hb).map(tsvRecord);
      assert.equal(lines.length, 1);
      assert.equal(lines[0]!.aborted, 'true');
      assert.ok(hb.lines.some((l) => l.includes('drain timeout reached')));
      assert.equal(hb.lines.at(-1)!.split('\t')[3], 'shutdown done');
      res.destroy();
    });

    it('keeps serving when stdout and stderr are the same closed pipe (2>&1 | head)', async () => {
      const { spawn } = await import('node:child_process');
      const { freePort, MAIN, NODE } = await import('./helpers/server');
      const port = await freePort();
      const proc = spawn('sh', ['-c', `exec "${NODE}" "${MAIN}" --log --port ${port} 2>&1`], { stdio: ['ignore', 'pipe', 'ignore'] });
      try {
        await new Promise<void>((resolve) => proc.stdout.once('data', () => resolve()));
        proc.stdout.destroy();
        for (let i = 0; i < 50; i++) assert.equal((await request(port, 'GET', '/heartbeat/10')).status, 200);
        const code = await new Promise<number | null>((resolve) => { proc.on('exit', resolve); proc.kill('SIGTERM'); });
        assert.equal(code, 0);
      } finally {
        if (proc.exitCode === null) proc.kill('SIGKILL');
      }
    });

    it('keeps serving when its stdout reader goes away, and says so once on stderr', async () => {
      hb = await startServer(['--log']);
      hb.proc.stdout!.destroy();
      for (let i = 0; i < 200; i++) {
        const r = await request(hb.port, 'GET', '/heartbeat/100');
        assert.equal(r.status, 200);
      }
      await waitFor(() => hb!.stderr().includes('log output is gone'), 5000, 'the stderr notice');
      assert.equal(hb.stderr().match(/log output is gone/g)?.length, 1, hb.stderr());
      assert.equal((await request(hb.port, 'GET', '/healthz')).body.toString(), 'Pass\n');
      assert.equal(await hb.stop(), 0);
    });
  });
});

describe('docs/logs.md', () => {
  it('lists the request columns in the order src/log/format.ts defines them', async () => {
    const { readFileSync } = await import('node:fs');
    const { ROOT } = await import('./helpers/server');
    const readme = readFileSync(`${ROOT}/docs/logs.md`, 'utf8');
    const section = /<!-- logs:begin -->([\s\S]*?)<!-- logs:end -->/.exec(readme)?.[1] ?? '';
    const table = /Request line columns, in order:\n\n([\s\S]*?)\n\n/.exec(section)?.[1] ?? '';
    const listed = [...table.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1]);
    assert.deepEqual(listed, [...REQUEST_COLUMNS]);
    const lifecycle = /Lifecycle line columns, in order: ([^.]*)\./.exec(section)?.[1] ?? '';
    assert.deepEqual([...lifecycle.matchAll(/`([a-z_]+)`/g)].map((m) => m[1]), [...LIFECYCLE_COLUMNS]);
    // The example TSV request lines have every column.
    for (const line of section.split('\n').filter((l) => /^\d{4}-.*\trequest\t/.test(l))) {
      assert.equal(line.split('\t').length, REQUEST_COLUMNS.length, line);
    }
    // ... and so do the JSON ones, in order.
    const jsonExamples = section.split('\n').filter((l) => l.startsWith('{"time"') && l.includes('"kind":"request"'));
    assert.ok(jsonExamples.length > 0);
    for (const line of jsonExamples) assert.deepEqual(Object.keys(JSON.parse(line) as object), [...REQUEST_COLUMNS], line);
  });

  it('gives each context column the bound src/log/format.ts cuts it to', async () => {
    const { readFileSync } = await import('node:fs');
    const { ROOT } = await import('./helpers/server');
    const doc = readFileSync(`${ROOT}/docs/logs.md`, 'utf8');
    const section = /## Request context\n([\s\S]*?)\n### /.exec(doc)?.[1] ?? '';
    const rows = [...section.matchAll(/^\| `([a-z_]+)` \|.*\| (\d+)\b[^|]*\|$/gm)].map((m) => [m[1], Number(m[2])]);
    assert.deepEqual(Object.fromEntries(rows), { ...CONTEXT_BOUNDS });
  });
});
