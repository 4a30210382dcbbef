/**
 * src/http/reclaim.ts: a young-generation collection after every RECLAIM_BYTES of upload body, counted over
 * all uploads together, with the gc() of node's --expose-gc (the image's ENTRYPOINT), and nothing without
 * it: no V8 flag turned on after start. Run in a Node process of its own (the test Node, or
 * HEARTBEAT_TEST_NODE: the image's), where V8 reports each collection to a PerformanceObserver.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { imageNodeFlags } from './helpers/deploy';
import { kill, MAIN, NODE, startServer } from './helpers/server';

const RECLAIM = path.join(path.dirname(MAIN), 'http', 'reclaim.js');

/** Runs `uploaded(n)` for each n, then reports the minor and major collections V8 made meanwhile. */
function collections(chunks: number[], flags: string[] = ['--expose-gc']): {
  minor: number; major: number; globalGc: string; vmGc: string; reclaiming: boolean; reclaimBytes: number;
} {
  const script = `
    const { PerformanceObserver, constants } = require('node:perf_hooks');
    const r = require(${JSON.stringify(RECLAIM)});
    const seen = { minor: 0, major: 0 };
    const obs = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        if (e.detail.kind === constants.NODE_PERFORMANCE_GC_MINOR) seen.minor++;
        if (e.detail.kind === constants.NODE_PERFORMANCE_GC_MAJOR) seen.major++;
      }
    });
    obs.observe({ entryTypes: ['gc'] });
    for (const n of ${JSON.stringify(chunks)}) r.uploaded(n);
    setTimeout(() => {
      obs.disconnect();
      const vmGc = require('node:vm').runInNewContext('typeof gc');
      process.stdout.write(JSON.stringify({ ...seen, globalGc: typeof globalThis.gc, vmGc, reclaiming: r.reclaiming, reclaimBytes: r.RECLAIM_BYTES }));
    }, 50);
  `;
  return JSON.parse(execFileSync(NODE, [...flags, '-e', script], { encoding: 'utf8' })) as ReturnType<typeof collections>;
}

describe('upload reclaim (src/http/reclaim.ts)', () => {
  const MiB = 1024 * 1024;
  const chunk = 64 * 1024;

  it('collects the young generation once per MiB of upload body, with the gc() of --expose-gc', () => {
    const r = collections(Array.from({ length: (8 * MiB) / chunk }, () => chunk));
    assert.equal(r.reclaimBytes, MiB);
    assert.equal(r.reclaiming, true);
    // 8 MiB of body: 8 collections asked for; V8 may add a few of its own, never fewer
    assert.ok(r.minor >= 8, `${r.minor} minor collections for 8 MiB of upload`);
    assert.equal(r.major, 0, 'gc({ type: "minor" }) must be a scavenge, not a full collection, on this Node');
  });

  it('asks for none below a MiB: small uploads pay nothing', () => {
    const quiet = collections([]);
    const r = collections(Array.from({ length: 15 }, () => chunk)); // 960 KiB
    assert.equal(r.minor, quiet.minor, `${r.minor} minor collections for 960 KiB, ${quiet.minor} for none`);
  });

  it('without --expose-gc: reclaims nothing and turns no V8 flag on (no gc() in the main context or a new vm context)', () => {
    const quiet = collections([], []);
    const r = collections(Array.from({ length: (4 * MiB) / chunk }, () => chunk), []);
    assert.equal(r.reclaiming, false);
    assert.equal(r.globalGc, 'undefined');
    assert.equal(r.vmGc, 'undefined', 'a vm context made after loading reclaim.ts must not get a gc global');
    // 4 MiB of counting, no collection asked for: only what V8 does on its own with nothing allocated
    assert.equal(r.minor, quiet.minor);
  });

  it('the image starts node with --expose-gc, and the server says whether it reclaims in its starting line', async () => {
    assert.ok(imageNodeFlags().entrypoint.includes('--expose-gc'), 'the Dockerfile ENTRYPOINT has --expose-gc');
    for (const [nodeArgs, want] of [[['--expose-gc'], true], [[], false]] as const) {
      const hb = await startServer([], { nodeArgs: [...nodeArgs] });
      try {
        const starting = hb.lines.map((l) => l.split('\t')).find((f) => f[1] === 'lifecycle' && f[3] === 'starting');
        assert.ok(starting, hb.lines.join('\n'));
        assert.match(starting.join('\t'), new RegExp(`"reclaim":${want}`));
      } finally {
        kill(hb);
      }
    }
  });
});
