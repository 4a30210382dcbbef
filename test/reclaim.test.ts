/**
 * src/http/reclaim.ts: a young-generation collection after every RECLAIM_BYTES of upload body, counted over
 * all uploads together, with a gc() that stays out of the main context's globals. Run in a Node process
 * of its own (the test Node, or HEARTBEAT_TEST_NODE: the image's), where V8 reports each collection to a
 * PerformanceObserver.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { MAIN, NODE } from './helpers/server';

const RECLAIM = path.join(path.dirname(MAIN), 'http', 'reclaim.js');

/** Runs `uploaded(n)` for each n, then reports the minor and major collections V8 made meanwhile. */
function collections(chunks: number[], flags: string[] = []): { minor: number; major: number; globalGc: string; reclaimBytes: number } {
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
      process.stdout.write(JSON.stringify({ ...seen, globalGc: typeof globalThis.gc, reclaimBytes: r.RECLAIM_BYTES }));
    }, 50);
  `;
  return JSON.parse(execFileSync(NODE, [...flags, '-e', script], { encoding: 'utf8' })) as ReturnType<typeof collections>;
}

describe('upload reclaim (src/http/reclaim.ts)', () => {
  const MiB = 1024 * 1024;
  const chunk = 64 * 1024;

  it('collects the young generation once per MiB of upload body, and gives the main context no gc()', () => {
    const r = collections(Array.from({ length: (8 * MiB) / chunk }, () => chunk));
    assert.equal(r.reclaimBytes, MiB);
    assert.equal(r.globalGc, 'undefined', 'gc() must not become a global of every module');
    // 8 MiB of body: 8 collections asked for; V8 may add a few of its own, never fewer
    assert.ok(r.minor >= 8, `${r.minor} minor collections for 8 MiB of upload`);
    assert.equal(r.major, 0, 'a scavenge, not a full collection');
  });

  it('asks for none below a MiB: small uploads pay nothing', () => {
    const quiet = collections([]);
    const r = collections(Array.from({ length: 15 }, () => chunk)); // 960 KiB
    assert.equal(r.minor, quiet.minor, `${r.minor} minor collections for 960 KiB, ${quiet.minor} for none`);
  });

  it('uses the global gc() when node runs with --expose-gc', () => {
    const r = collections(Array.from({ length: (4 * MiB) / chunk }, () => chunk), ['--expose-gc']);
    assert.equal(r.globalGc, 'function');
    assert.ok(r.minor >= 4, `${r.minor} minor collections for 4 MiB`);
  });
});
