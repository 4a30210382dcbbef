/**
 * One exchange, both ends (issue 19): every probe sends `X-Request-Id`, its probe line
 * carries the id, and the probed heartbeat's request line carries the same id in its
 * `request_id` column. Two real heartbeats, one probing the other; their lines joined by
 * id as central logging would: exactly one request line per probe, same size and status.
 */
import assert from 'node:assert/strict';
import { REQUEST_COLUMNS } from '../src/log/format';
import { probeLines } from './helpers/probe';
import { kill, startServer, waitFor, type Running } from './helpers/server';

describe('probe lines and the target\'s request lines, joined by request_id', function () {
  this.timeout(120_000);
  const running: Running[] = [];
  afterEach(() => { for (const r of running.splice(0)) kill(r); });

  for (const targetFormat of ['tsv', 'json'] as const) {
    it(`every probe has exactly one request line on the target (${targetFormat}), with the same size and status`, async () => {
      const target = await startServer(['--host', '127.0.0.1', '--log', '--log-format', targetFormat]);
      running.push(target);
      const prober = await startServer(['--host', '127.0.0.1', '--probe-targets', `http://127.0.0.1:${target.port}`,
        '--probe-interval', '3000', '--probe-timeout', '3000', '--probe-sizes', `1024,65536,${2 * 1024 * 1024}`, '--probe-upload', '5000']);
      running.push(prober);
      await waitFor(() => probeLines(prober).length >= 8, 60_000, 'two rounds of probes');
      assert.equal(await prober.stop(), 0);
      assert.equal(await target.stop(), 0); // every line flushed

      const requests = new Map<string, Record<string, unknown>[]>();
      for (const line of target.lines) {
        let r: Record<string, unknown>;
        if (targetFormat === 'json') {
          r = JSON.parse(line) as Record<string, unknown>;
        } else {
          const cols = line.split('\t');
          if (cols[1] !== 'request') continue;
          assert.equal(cols.length, REQUEST_COLUMNS.length, line);
          r = Object.fromEntries(REQUEST_COLUMNS.map((c, i) => [c, cols[i]]));
        }
        if (r.kind !== 'request') continue;
        const id = String(r.request_id);
        requests.set(id, [...(requests.get(id) ?? []), r]);
      }

      const probes = probeLines(prober);
      assert.ok(probes.length >= 8);
      for (const p of probes) {
        const matched = requests.get(p.request_id) ?? [];
        assert.equal(matched.length, 1, `one request line for probe ${JSON.stringify(p)}`);
        const r = matched[0] as Record<string, unknown>;
        assert.equal(String(r.status), p.status);
        assert.equal(r.method, p.method);
        if (p.method === 'GET') {
          assert.equal(r.path, `/heartbeat/${p.size}`);
          if (p.outcome === 'ok') assert.equal(String(r.bytes_out), p.size);
        } else {
          assert.equal(String(r.bytes_in), p.size, 'the upload arrived whole');
        }
        assert.match(String(r.user_agent), /^heartbeat-probe\/\d+\.\d+\.\d+/);
      }
      // and the outcomes the target's answers mean: the 2 MiB size is over its max
      assert.ok(probes.some((p) => p.outcome === 'status' && p.status === '400'));
      assert.ok(probes.filter((p) => p.size !== String(2 * 1024 * 1024)).every((p) => p.outcome === 'ok'));
    });
  }
});
