/** Prometheus metrics: off by default; when on, every counter agrees exactly with the request log. */
import assert from 'node:assert/strict';
import http from 'node:http';
import { loadConfig } from '../src/config/load';
import client from 'prom-client';
import { REQUEST_COLUMNS } from '../src/log/format';
import { LEFT_OUT } from '../src/metrics/runtime';
import { freePort, kill, request, startServer, waitFor, type Running } from './helpers/server';

interface Sample { name: string; labels: Record<string, string>; value: number }

/** Parses the Prometheus text exposition format (enough of it for our own output). */
function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `a well-formed sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1] as string] = l[2] as string;
    out.push({ name: m[1] as string, labels, value: Number(m[3]) });
  }
  return out;
}

function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const hits = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return hits.reduce((a, s) => a + s.value, 0);
}

async function scrape(port: number, path = '/metrics'): Promise<Sample[]> {
  const r = await request(port, 'GET', path);
  assert.equal(r.status, 200);
  assert.match(String(r.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  return parseMetrics(r.body.toString());
}

describe('metrics', function () {
  this.timeout(60_000);
  let hb: Running | undefined;
  afterEach(() => kill(hb));

  it('is off by default: /metrics is just another unknown path', async () => {
    hb = await startServer();
    assert.equal((await request(hb.port, 'GET', '/metrics')).status, 404);
    assert.equal(await hb.stop(), 0);
  });

  it('counts a known mix exactly as the log records it', async () => {
    hb = await startServer(['--metrics', '--log', '--max', String(1024 ** 3)]);
    const port = hb.port;
    const mix: [string, string, number?][] = [
      ['GET', '/heartbeat/17'], ['GET', '/heartbeat/17'], ['GET', '/heartbeat/17'],
      ['GET', '/heartbeat/2048'], ['GET', '/heartbeat/2048'], ['GET', '/heartbeat/70000'],
      ['HEAD', '/heartbeat/5'],
      ['POST', '/heartbeat/10', 1000], ['POST', '/heartbeat/10', 3000],
      ['GET', '/heartbeat/0'], ['GET', '/heartbeat/x'],
      ['GET', '/nope'], ['DELETE', '/heartbeat/1'],
      ['GET', '/healthz'], ['GET', '/readyz'], ['GET', '/version'],
    ];
    for (const [method, path, body] of mix) await request(port, method, path, body ? Buffer.alloc(body) : undefined);
    // One aborted download.
    await new Promise<void>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path: `/heartbeat/${1024 ** 3}`, agent: false }, (res) => {
        let got = 0;
        res.on('data', (c: Buffer) => { got += c.length; if (got > 1024 * 1024) { res.destroy(); resolve(); } });
      }).on('error', reject);
    });
    const total = mix.length + 1;
    const lines = (): string[][] => hb!.lines.map((l) => l.split('\t')).filter((c) => c[1] === 'request');
    await waitFor(() => lines().length === total, 5000, 'every request line');

    const samples = await scrape(port);
    const rows = lines().map((c) => Object.fromEntries(REQUEST_COLUMNS.map((k, i) => [k, c[i] as string])));
    const routeOf = (r: Record<string, string>): string => {
      const p = r.path as string;
      if (p.startsWith('/heartbeat')) return r.method === 'POST' ? 'upload' : 'heartbeat';
      return ['/healthz', '/readyz', '/version'].includes(p) ? 'health' : 'other';
    };
    // requests by method, route, status: exactly as logged.
    const expected = new Map<string, number>();
    for (const r of rows) {
      const k = `${r.method} ${routeOf(r)} ${r.status}`;
      expected.set(k, (expected.get(k) ?? 0) + 1);
    }
    // (Series written at 0 from the start are no requests: the log has no line for them.)
    const counted = samples.filter((s) => s.name === 'heartbeat_http_requests_total' && s.labels.route !== 'metrics' && s.value > 0);
    assert.deepEqual(
      new Map(counted.map((s) => [`${s.labels.method} ${s.labels.route} ${s.labels.status}`, s.value])),
      expected,
    );
    assert.equal(value(samples, 'heartbeat_http_requests_total', { route: 'heartbeat', status: '200' }), 8, 'seven GET/HEAD and the aborted download');
    assert.equal(value(samples, 'heartbeat_http_requests_total', { route: 'heartbeat', status: '400' }), 2);
    assert.equal(value(samples, 'heartbeat_http_requests_total', { route: 'heartbeat', status: '405' }), 1);
    assert.equal(value(samples, 'heartbeat_http_requests_total', { route: 'upload' }), 2);
    assert.equal(value(samples, 'heartbeat_http_requests_total', { route: 'health' }), 3);

    // The histogram times answers: every exchange answered 1xx-3xx and sent in full, by route. The 400s,
    // the 405, the 404 and the aborted download are counted above but never timed (a flood of fast 400s
    // must not make heartbeat look fast). Sizes are classes, never raw numbers.
    const answered = (r: Record<string, string>): boolean => Number(r.status) < 400 && r.aborted === 'false';
    for (const route of ['heartbeat', 'upload', 'health', 'other']) {
      assert.equal(value(samples, 'heartbeat_http_request_duration_seconds_count', { route }),
        rows.filter((r) => routeOf(r) === route && answered(r)).length, route);
    }
    assert.equal(value(samples, 'heartbeat_http_request_duration_seconds_count', { route: 'heartbeat' }), 7, 'the seven GET/HEAD answered 200');
    assert.equal(value(samples, 'heartbeat_http_request_duration_seconds_count', { route: 'other' }), 0, 'the 404 is not timed');
    const sizes = new Set(samples.filter((s) => s.name.startsWith('heartbeat_http_request_duration')).map((s) => s.labels.size));
    assert.deepEqual([...sizes].sort(), ['16KiB', '1KiB', '256KiB']);
    const inf = value(samples, 'heartbeat_http_request_duration_seconds_bucket', { route: 'heartbeat', le: '+Inf' });
    assert.equal(inf, value(samples, 'heartbeat_http_request_duration_seconds_count', { route: 'heartbeat' }));
    // Every cell: buckets cumulative in le order, +Inf equal to its count, a sum of real durations.
    const cells = new Map<string, Sample[]>();
    for (const s of samples.filter((x) => x.name === 'heartbeat_http_request_duration_seconds_bucket')) {
      const k = `${s.labels.route} ${s.labels.size}`;
      cells.set(k, [...(cells.get(k) ?? []), s]);
    }
    for (const [k, buckets] of cells) {
      const [route, size] = k.split(' ') as [string, string];
      const les = buckets.map((b) => (b.labels.le === '+Inf' ? Infinity : Number(b.labels.le)));
      assert.deepEqual(les, [...les].sort((x, y) => x - y), `${k}: le ascending`);
      assert.ok(buckets.every((b, i) => i === 0 || b.value >= (buckets[i - 1] as Sample).value), `${k}: cumulative`);
      assert.equal((buckets.at(-1) as Sample).value, value(samples, 'heartbeat_http_request_duration_seconds_count', { route, size }), `${k}: +Inf = count`);
      const sum = value(samples, 'heartbeat_http_request_duration_seconds_sum', { route, size });
      assert.ok(sum > 0 && sum < 60, `${k}: sum ${sum}`);
    }

    // Bytes agree with the log's bytes_out / bytes_in.
    for (const route of ['heartbeat', 'upload', 'health', 'other']) {
      const logged = rows.filter((r) => routeOf(r) === route).reduce((a, r) => a + Number(r.bytes_out), 0);
      assert.equal(value(samples, 'heartbeat_response_body_bytes_total', { route }), logged, route);
    }
    assert.equal(value(samples, 'heartbeat_upload_bytes_total'), 4000);
    assert.equal(value(samples, 'heartbeat_aborted_transfers_total', { route: 'heartbeat' }), 1);
    assert.equal(rows.filter((r) => r.aborted === 'true').length, 1);
    // The scrape itself is the one request in flight.
    assert.equal(value(samples, 'heartbeat_http_requests_in_flight'), 1);

    const version = (await request(port, 'GET', '/version')).body.toString().trimEnd();
    assert.equal(value(samples, 'heartbeat_build_info', { version }), 1);
    for (const name of ['process_resident_memory_bytes', 'process_cpu_seconds_total', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes',
      'nodejs_heap_space_size_used_bytes', 'nodejs_active_resources', 'nodejs_version_info', 'process_open_fds']) {
      assert.ok(samples.some((s) => s.name === name), name);
    }
    // Observing every garbage collection costs a fifth of a 1 KiB request (src/metrics/runtime.ts).
    assert.ok(!samples.some((s) => s.name.startsWith('nodejs_gc_')), 'no GC duration histogram');
    // The scrape is counted under its own route, never as heartbeat traffic.
    const again = await scrape(port);
    assert.equal(value(again, 'heartbeat_http_requests_total', { route: 'metrics', status: '200' }), 1);
    assert.equal(value(again, 'heartbeat_http_requests_total', { route: 'heartbeat' }), 11);
    assert.equal(await hb.stop(), 0);
  });

  it("serves prom-client's default series, by name, type and help, but those left out for a reason", async () => {
    // When prom-client adds, renames or drops one, this says so. Theirs are read from collectDefaultMetrics()
    // in a registry of this test; ours from a live scrape.
    const theirs = new client.Registry();
    client.collectDefaultMetrics({ register: theirs });
    const families = (text: string): Map<string, string> => new Map([...text.matchAll(/^# (HELP|TYPE) (\S+) (.*)$/gm)]
      .reduce((m, x) => m.set(x[2] as string, `${m.get(x[2] as string) ?? ''}${x[1]}: ${x[3]}; `), new Map<string, string>()));
    const expected = families(await theirs.metrics());
    for (const name of LEFT_OUT) assert.ok(expected.delete(name), `${name} is one of prom-client's (LEFT_OUT is current)`);
    hb = await startServer(['--metrics']);
    const ours = families((await request(hb.port, 'GET', '/metrics')).body.toString());
    for (const name of ours.keys()) if (!expected.has(name)) ours.delete(name);
    assert.deepEqual(ours, expected);
    assert.equal(await hb.stop(), 0);
  });

  it('writes the series the error-ratio query reads at 0 before any traffic, and lints as Prometheus asks', async () => {
    const metricsPort = await freePort();
    hb = await startServer(['--metrics', '--metrics-port', String(metricsPort)]);
    const r = await request(metricsPort, 'GET', '/metrics');
    const text = r.body.toString();
    const samples = parseMetrics(text);
    const has = (name: string, labels: Record<string, string>): boolean =>
      samples.some((s) => s.name === name && s.value === 0 && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
    for (const [method, route] of [['GET', 'heartbeat'], ['POST', 'upload']] as const) {
      for (const status of ['200', '500']) assert.ok(has('heartbeat_http_requests_total', { method, route, status }), `${method} ${route} ${status} at 0`);
      assert.ok(has('heartbeat_aborted_transfers_total', { route }), `aborted ${route} at 0`);
    }
    assert.ok(has('heartbeat_log_lines_dropped_total', {}));
    assert.equal(value(samples, 'heartbeat_ready'), 1);
    // What `promtool check metrics` insists on (the test:prometheus tier runs promtool itself):
    // one HELP and TYPE per family, `_total` on counters and only on counters.
    const types = new Map<string, string>();
    for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
      assert.ok(!types.has(m[1] as string), `one TYPE line for ${m[1]}`);
      types.set(m[1] as string, m[2] as string);
    }
    for (const [name, type] of types) {
      assert.equal(name.endsWith('_total'), type === 'counter', `${name} (${type})`);
      assert.match(text, new RegExp(`^# HELP ${name} \\S`, 'm'));
    }
    assert.equal(types.get('heartbeat_http_request_duration_seconds'), 'histogram');
    assert.equal(types.get('nodejs_active_resources'), 'gauge', 'the per-type gauge stays (its sum is the dropped _total)');
    assert.equal(await hb.stop(), 0);
  });

  it('says heartbeat_ready 0 while draining, on the metrics port, until the drain is done', async () => {
    const metricsPort = await freePort();
    hb = await startServer(['--metrics', '--metrics-port', String(metricsPort), '--max', String(1024 ** 3)]);
    // A download the client reads slowly holds the drain open.
    const body = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: hb!.port, path: `/heartbeat/${64 * 1024 * 1024}`, agent: false }, resolve).on('error', reject);
    });
    body.pause();
    assert.equal(value(await scrape(metricsPort), 'heartbeat_ready'), 1);
    hb.proc.kill('SIGTERM');
    await waitFor(() => hb!.lines.some((l) => l.includes('shutdown begun')), 5000, 'shutdown begun');
    const draining = await scrape(metricsPort);
    assert.equal(value(draining, 'heartbeat_ready'), 0);
    assert.equal(value(draining, 'heartbeat_http_requests_in_flight'), 1, 'the download still in flight');
    body.resume();
    body.on('error', () => undefined);
    assert.equal(await hb.exited, 0);
  });

  it('counts log lines dropped when stdout is gone', async () => {
    const metricsPort = await freePort();
    hb = await startServer(['--metrics', '--metrics-port', String(metricsPort), '--log']);
    hb.proc.stdout!.destroy();
    // The first line written after the reader left finds the pipe closed.
    await request(hb.port, 'GET', '/heartbeat/1');
    await waitFor(() => hb!.stderr().includes('log output is gone'), 5000, 'the stderr notice');
    const before = value(await scrape(metricsPort), 'heartbeat_log_lines_dropped_total');
    for (let i = 0; i < 5; i++) await request(hb.port, 'GET', '/heartbeat/1');
    // Scrapes on the metrics port are not logged: the difference is the five request lines.
    assert.equal(value(await scrape(metricsPort), 'heartbeat_log_lines_dropped_total') - before, 5);
    assert.equal((await request(hb.port, 'GET', '/heartbeat/1')).status, 200, 'serving goes on');
  });

  it('serves metrics on a port of its own when asked, and only there', async () => {
    const metricsPort = await freePort();
    hb = await startServer(['--metrics', '--metrics-port', String(metricsPort), '--metrics-path', '/m']);
    assert.equal((await request(hb.port, 'GET', '/m')).status, 404);
    await request(hb.port, 'GET', '/heartbeat/1');
    const samples = await scrape(metricsPort, '/m');
    assert.equal(value(samples, 'heartbeat_http_requests_total', { route: 'heartbeat' }), 1);
    assert.equal((await request(metricsPort, 'GET', '/heartbeat/1')).status, 404);
    assert.equal((await request(metricsPort, 'POST', '/m')).status, 405);
    assert.equal(await hb.stop(), 0);
  });

  it('refuses settings that would hide the metrics behind another route', () => {
    assert.throws(() => loadConfig(['--metrics', '--metrics-path', '/heartbeat/m'], {}), /clashes/);
    assert.throws(() => loadConfig(['--metrics', '--metrics-path', '/healthz'], {}), /clashes/);
    assert.throws(() => loadConfig(['--metrics', '--metrics-port', '8080'], {}), /must differ from port/);
    assert.equal(loadConfig(['--metrics', '--metrics-port', '9090'], {}).kind, 'run');
  });
});
