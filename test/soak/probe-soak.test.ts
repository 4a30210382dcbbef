/**
 * Series that never reset, over minutes: five heartbeats on loopback, each probing the same five
 * addresses with K = 2 (so each probes its two ring neighbours, docs/probe.md "Peer selection"),
 * every instance's /metrics scraped every second for two minutes. Every probe counter of every live
 * pair must be there in every scrape once it appeared and never go down; the pairs are exactly the
 * ring's, in every scrape. (The 40-process mesh in test:root checks the same over fewer scrapes.)
 */
import assert from 'node:assert/strict';
import { neighbours } from '../../src/probe/neighbours';
import { scrape } from '../helpers/probe';
import { freePort, kill, request, sleep, startServer, until, type Running } from '../helpers/server';

const MEMBERS = 5;
const K = 2;
const SCRAPES = 120;

describe('probe mode over minutes', function () {
  this.timeout(SCRAPES * 1000 + 120_000);
  const running: Running[] = [];
  after(() => { for (const r of running.splice(0)) kill(r); });

  it(`${MEMBERS} heartbeats, K = ${K}, scraped every second for ${SCRAPES} s: every per-pair counter is kept and never decreases`, async () => {
    const ports: number[] = [];
    for (let i = 0; i < MEMBERS; i++) ports.push(await freePort());
    const labels = ports.map((p) => `127.0.0.1:${p}`);
    const targets = labels.map((l) => `http://${l}`).join(',');
    for (const port of ports) {
      running.push(await startServer(['--host', '127.0.0.1', '--metrics', '--probe-targets', targets, '--probe-interval', '1000',
        '--probe-timeout', '1000', '--probe-sizes', '1024', '--probe-max-peers', String(K)], { port }));
    }
    const ring = new Map(labels.map((l) => [l, neighbours(labels, l, K).sort()]));
    const probesOf = async (r: Running): Promise<Map<string, number>> => {
      const m = scrape((await request(r.port, 'GET', '/metrics')).body.toString());
      return new Map([...m].filter(([k]) => k.startsWith('heartbeat_probes_total{')));
    };
    // until every instance counted a probe of each of its neighbours
    await until('a first probe of every neighbour', 30_000, async () => {
      for (const r of running) {
        const peers = new Set([...(await probesOf(r)).keys()].map((k) => /peer="([^"]+)"/.exec(k)?.[1]));
        if ((ring.get(`127.0.0.1:${r.port}`) as string[]).some((p) => !peers.has(p))) return undefined;
      }
      return true;
    }, 200);

    const last = new Map<Running, Map<string, number>>();
    const problems: string[] = [];
    for (let s = 0; s < SCRAPES && problems.length === 0; s++) {
      const started = Date.now();
      for (const r of running) {
        const me = `127.0.0.1:${r.port}`;
        const now = await probesOf(r);
        const peers = [...new Set([...now.keys()].map((k) => /peer="([^"]+)"/.exec(k)?.[1] as string))].sort();
        if (JSON.stringify(peers) !== JSON.stringify(ring.get(me))) problems.push(`scrape ${s}, ${me}: series for ${peers.join(' ')}, ring says ${ring.get(me)?.join(' ')}`);
        for (const [k, v] of last.get(r) ?? []) {
          const n = now.get(k);
          if (n === undefined) problems.push(`scrape ${s}, ${me}: ${k} was ${v} and is gone`);
          else if (n < v) problems.push(`scrape ${s}, ${me}: ${k} went from ${v} to ${n}`);
        }
        last.set(r, now);
      }
      await sleep(Math.max(0, 1000 - (Date.now() - started)));
    }
    assert.deepEqual(problems, []);
    // and probing went on all along: each pair counted (nearly) every round of the two minutes
    for (const r of running) {
      const ok = new Map<string, number>();
      for (const [k, v] of last.get(r) as Map<string, number>) {
        if (!k.includes('outcome="ok"')) continue;
        const peer = /peer="([^"]+)"/.exec(k)?.[1] as string;
        ok.set(peer, (ok.get(peer) ?? 0) + v);
      }
      for (const peer of ring.get(`127.0.0.1:${r.port}`) as string[]) {
        assert.ok((ok.get(peer) ?? 0) >= SCRAPES / 2, `127.0.0.1:${r.port} → ${peer}: ${ok.get(peer) ?? 0} ok probes in ${SCRAPES} s`);
      }
    }
  });
});
