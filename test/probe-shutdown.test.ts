/**
 * SIGTERM in the middle of a probe round: no further probe starts, the one still
 * waiting for its peer is aborted at the drain deadline and logged as `aborted`,
 * every line reaches stdout, and the process exits 0.
 */
import assert from 'node:assert/strict';
import { probeLines } from './helpers/probe';
import { slowBesideFast, type Proxy } from './helpers/probe-proxy';
import { kill, startServer, waitFor, type Running } from './helpers/server';

const DRAIN_MS = 1000;

describe('probe mode and SIGTERM', function () {
  this.timeout(60_000);
  let peer: Running | undefined;
  let prober: Running | undefined;
  let proxy: Proxy | undefined;
  afterEach(async () => {
    kill(prober);
    kill(peer);
    await proxy?.close();
  });

  it('stops new probes at once, aborts the one in flight at the drain deadline, logs it, exits 0', async () => {
    peer = await startServer(['--host', '127.0.0.1']);
    const pair = await slowBesideFast(peer.port); // the slow target's answers come after the probe's timeout
    proxy = pair.proxy;
    const { slow, fast } = pair;
    prober = await startServer(['--host', '127.0.0.1', '--drain-timeout', String(DRAIN_MS), '--probe-targets', `${slow},${fast}`,
      '--probe-interval', '30000', '--probe-timeout', '30000', '--probe-sizes', '1024,65536']);
    const p = prober;
    // mid-round: the fast peer is done, the slow one's first probe waits for its answer
    await waitFor(() => probeLines(p).filter((l) => l.target === fast).length === 2 && proxy!.connections === 1, 45_000, 'the round under way');
    assert.deepEqual(probeLines(p).filter((l) => l.target === slow), [], 'the slow probe is still running');

    assert.equal(await p.stop('SIGTERM'), 0);
    const lines = probeLines(p);
    const slowLines = lines.filter((l) => l.target === slow);
    assert.equal(slowLines.length, 1, 'the next size of the slow peer never started');
    const [aborted] = slowLines as [(typeof slowLines)[number]];
    assert.equal(aborted.outcome, 'aborted');
    assert.equal(aborted.status, '0');
    assert.equal(aborted.size, '1024');
    assert.ok(Number(aborted.total_ms) >= DRAIN_MS, `aborted at the drain deadline, not before (${aborted.total_ms} ms)`);
    assert.equal(proxy.connections, 1, 'no probe started after SIGTERM');
    assert.ok(lines.filter((l) => l.target === fast).every((l) => l.outcome === 'ok'));

    // in order: shutdown begun, the aborted probe, shutdown done (the last line)
    const messages = p.lines.map((l) => l.split('\t')).map((c) => (c[1] === 'probe' ? `probe ${c[7]}` : c[1] === 'lifecycle' ? c[3] : c[1]));
    const begun = messages.indexOf('shutdown begun');
    assert.ok(begun >= 0 && messages.indexOf('probe aborted') > begun, messages.join(', '));
    assert.equal(messages.filter(Boolean).at(-1), 'shutdown done');
  });
});
