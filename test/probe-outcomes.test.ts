/**
 * Every probe outcome, made to happen on real sockets: a proxy between the prober
 * and a real heartbeat breaks each exchange one way (test/helpers/probe-proxy.ts),
 * a stopped peer refuses, a full accept queue never connects. A name nobody knows
 * (dns): test/root/probe-names.test.ts, where the prober has a resolver of its own.
 */
import assert from 'node:assert/strict';
import { probeLines, scrape, type ProbeLine } from './helpers/probe';
import { startBlackHole, startProxy, type Fault, type Proxy } from './helpers/probe-proxy';
import { freePort, kill, request, startServer, waitFor, type Running } from './helpers/server';

const TIMEOUT_MS = 500;

describe('probe outcomes', function () {
  this.timeout(60_000);
  let peer: Running | undefined;
  let prober: Running | undefined;
  let proxy: Proxy | undefined;
  before(async () => { peer = await startServer(['--host', '127.0.0.1', '--log']); });
  after(() => kill(peer));
  afterEach(async () => {
    kill(prober);
    prober = undefined;
    await proxy?.close();
    proxy = undefined;
  });

  /** Starts a prober of `target` and returns its first `n` probe lines once they are there. */
  async function probeOf(target: string, args: string[] = [], n = 1, wrap?: string[]): Promise<ProbeLine[]> {
    prober = await startServer(['--host', '127.0.0.1', '--metrics', '--probe-targets', target, '--probe-interval', '1000',
      '--probe-timeout', String(TIMEOUT_MS), '--probe-sizes', '1024', ...args], { wrap });
    const p = prober;
    await waitFor(() => probeLines(p).length >= n, 20_000, `${n} probe lines`);
    return probeLines(p).slice(0, n);
  }

  const cases: [Fault, string, (l: ProbeLine) => void][] = [
    ['delay', 'timeout', (l) => {
      assert.equal(l.status, '0');
      assert.ok(Number(l.total_ms) >= TIMEOUT_MS, `total ${l.total_ms} >= the timeout`);
    }],
    ['close-early', 'short', (l) => {
      assert.equal(l.status, '200');
      assert.equal(l.bytes, '10', 'the 10 body bytes the proxy let through');
    }],
    ['flip', 'corrupt', (l) => {
      assert.equal(l.status, '200');
      assert.ok(Number(l.bytes) <= 1024);
    }],
    ['status-503', 'status', (l) => assert.equal(l.status, '503')],
    ['reset', 'reset', (l) => assert.equal(l.status, '0')],
  ];
  for (const [fault, outcome, check] of cases) {
    it(`${fault} between prober and peer: ${outcome}`, async () => {
      proxy = await startProxy(peer!.port, fault);
      proxy.delayMs = TIMEOUT_MS * 4;
      const target = `http://127.0.0.1:${proxy.port}`;
      const [l] = await probeOf(target) as [ProbeLine];
      assert.equal(l.outcome, outcome, JSON.stringify(l));
      assert.equal(l.target, target);
      assert.equal(l.peer, `127.0.0.1:${proxy.port}`);
      check(l);
      const m = scrape((await request(prober!.port, 'GET', '/metrics')).body.toString());
      assert.ok((m.get(`heartbeat_probes_total{target="${target}",peer="${l.peer}",family="ipv4",method="GET",size="1024",outcome="${outcome}"}`) ?? 0) >= 1);
      assert.equal(m.get(`heartbeat_probe_last_success_timestamp_seconds{target="${target}",peer="${l.peer}",family="ipv4"}`), 0, 'never a success: 0');
      // the peer's readiness is its own: a failing probe changes nothing on the prober either
      assert.equal((await request(prober!.port, 'GET', '/readyz')).status, 200);
    });
  }

  it('an upload whose X-Received-Bytes does not match: upload_mismatch', async () => {
    proxy = await startProxy(peer!.port, 'received-wrong');
    const lines = await probeOf(`http://127.0.0.1:${proxy.port}`, ['--probe-upload', '5000'], 2);
    const up = lines.find((l) => l.method === 'POST');
    assert.ok(up, JSON.stringify(lines));
    assert.equal(up.outcome, 'upload_mismatch');
    assert.equal(up.size, '5000');
    assert.equal(up.bytes, '5000', 'all of it was sent');
    assert.equal(lines.find((l) => l.method === 'GET')?.outcome, 'ok', 'the GET through the same proxy is fine');
  });

  it('a stopped peer: refused', async () => {
    const port = await freePort();
    const [l] = await probeOf(`http://127.0.0.1:${port}`) as [ProbeLine];
    assert.equal(l.outcome, 'refused');
    assert.equal(l.status, '0');
    assert.equal(l.ttfb_ms, '0');
  });

  it('a peer that never completes the handshake: connect_timeout', async () => {
    const hole = await startBlackHole();
    try {
      const [l] = await probeOf(`http://127.0.0.1:${hole.port}`) as [ProbeLine];
      assert.equal(l.outcome, 'connect_timeout', JSON.stringify(l));
      assert.ok(Number(l.connect_ms) >= TIMEOUT_MS);
    } finally {
      hole.close();
    }
  });

  it('a peer that answers wrongly but is heartbeat: a size it refuses is status 400', async () => {
    const [l] = await probeOf(`http://127.0.0.1:${peer!.port}`, ['--probe-sizes', String(2 * 1024 * 1024)]) as [ProbeLine];
    assert.equal(l.outcome, 'status');
    assert.equal(l.status, '400');
  });
});
