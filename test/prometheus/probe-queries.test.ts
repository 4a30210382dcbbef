/**
 * The PromQL docs/probe.md shows, run by a real Prometheus (Debian's `prometheus`, its own
 * temporary config and storage, loopback only) scraping a real prober every second: one
 * peer that answers and one that refuses. "The 10 worst peers by p99" names the answering
 * peer; "peers failing now" names the refusing one (and not the other); the silence query
 * is valid and names nobody while every answering peer keeps answering; UDP loss by pair and direction
 * puts the refusing peer (no echo responder: every datagram lost, direction unknown) first.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { freePort, kill, ROOT, sleep, startServer, type Running } from '../helpers/server';
import { makeScratch, removeScratch } from '../../scripts/scratch';

interface Sample { metric: Record<string, string>; value: [number, string] }

function get(port: number, p: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: p, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => { body += c.toString(); });
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

async function query(port: number, q: string): Promise<Sample[]> {
  const r = JSON.parse(await get(port, `/api/v1/query?query=${encodeURIComponent(q)}`)) as { status: string; error?: string; data: { result: Sample[] } };
  assert.equal(r.status, 'success', `${q}: ${r.error ?? ''}`);
  return r.data.result;
}

/** The ```promql blocks of docs/probe.md, in order. */
function docQueries(): string[] {
  const doc = readFileSync(path.join(ROOT, 'docs', 'probe.md'), 'utf8');
  return [...doc.matchAll(/```promql\n([\s\S]*?)\n```/g)].map((m) => (m[1] as string).trim());
}

describe('docs/probe.md PromQL on a real Prometheus scraping a real prober', function () {
  this.timeout(120_000);
  let peer: Running | undefined;
  let prober: Running | undefined;
  let prom: ChildProcess | undefined;
  let dir = '';
  let promPort = 0;
  let okTarget = '';
  let downTarget = '';

  before(async () => {
    for (const tool of ['prometheus', 'promtool']) {
      if (spawnSync(tool, ['--version']).status !== 0) {
        throw new Error(`${tool} is missing: npm run test:prometheus needs Debian's prometheus package: apt-get install -y --no-install-recommends prometheus`);
      }
    }
    peer = await startServer(['--host', '127.0.0.1']);
    okTarget = `http://127.0.0.1:${peer.port}`;
    downTarget = `http://127.0.0.1:${await freePort()}`;
    prober = await startServer(['--host', '127.0.0.1', '--metrics', '--probe-targets', `${okTarget},${downTarget}`,
      '--probe-interval', '1000', '--probe-timeout', '1000', '--probe-sizes', '1024', '--probe-udp', '5']);
    dir = makeScratch('heartbeat-probe-prometheus-');
    writeFileSync(path.join(dir, 'prometheus.yml'), [
      'global: { scrape_interval: 1s, scrape_timeout: 1s }',
      'scrape_configs:',
      '  - job_name: heartbeat',
      `    static_configs: [{ targets: ["127.0.0.1:${prober.port}"] }]`,
      '',
    ].join('\n'));
    promPort = await freePort();
    prom = spawn('prometheus', [`--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${promPort}`, '--log.level=warn'], { cwd: dir, stdio: 'ignore' });
    // ready, and a few scrapes in: rate() and increase() need two samples at least
    for (let i = 0; ; i++) {
      const n = await query(promPort, 'count_over_time(heartbeat_probes_total{outcome="ok"}[1m])').catch(() => []);
      // and both peers' counters seen moving (a round with probeUdp takes longer than the interval)
      const moved = await query(promPort, 'increase(heartbeat_probes_total[1m]) > 0').catch(() => []);
      if (n.some((s) => Number(s.value[1]) >= 4) && moved.length >= 2) break;
      if (i >= 120) throw new Error('Prometheus did not scrape the prober within 60 s');
      await sleep(500);
    }
  });

  after(() => {
    prom?.kill('SIGKILL');
    kill(prober);
    kill(peer);
    if (dir) removeScratch(dir);
  });

  it('docs/probe.md shows the four queries, each one promtool accepts', () => {
    const qs = docQueries();
    assert.equal(qs.length, 4, qs.join('\n'));
    const rules = `groups:\n  - name: docs\n    rules:\n${qs.map((q, i) => `      - record: docs_probe_${i}\n        expr: ${JSON.stringify(q)}\n`).join('')}`;
    const file = path.join(dir, 'docs-rules.yaml');
    writeFileSync(file, rules);
    const r = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  });

  it('"the 10 worst peers by p99" names the peer that answers (the refusing one has no ok probes to time)', async () => {
    const [worst] = docQueries() as [string];
    const r = await query(promPort, worst);
    assert.deepEqual(r.map((s) => [s.metric.target, s.metric.peer]), [[okTarget, okTarget.slice(7)]]);
    const p99 = Number(r[0]?.value[1]);
    assert.ok(p99 > 0 && p99 <= 1, `p99 ${p99} s within the probe timeout`);
  });

  it('"peers failing now" names the refusing peer, with its outcome, and not the answering one', async () => {
    const failing = docQueries()[1] as string;
    const r = await query(promPort, failing);
    assert.deepEqual(r.map((s) => [s.metric.target, s.metric.peer, s.metric.outcome]), [[downTarget, downTarget.slice(7), 'refused']]);
    assert.ok(Number(r[0]?.value[1]) > 0);
  });

  it('the silence query names the peer down since boot (last success 0), not the answering one', async () => {
    const silent = docQueries()[2] as string;
    assert.deepEqual((await query(promPort, silent)).map((s) => [s.metric.target, s.metric.peer]), [[downTarget, downTarget.slice(7)]]);
    // and the series it reads is there for both: the time for the answering peer, 0 for the refusing one
    const last = await query(promPort, 'heartbeat_probe_last_success_timestamp_seconds');
    const byTarget = new Map(last.map((s) => [s.metric.target, Number(s.value[1])]));
    assert.equal(byTarget.get(downTarget), 0);
    assert.ok((byTarget.get(okTarget) ?? 0) > 0);
  });

  it('"loss by pair and direction, worst first" puts the peer with no UDP echo first (all lost, direction unknown), the answering one at 0', async () => {
    const loss = docQueries()[3] as string;
    let r: Sample[] = [];
    for (let i = 0; i < 60; i++) {
      r = await query(promPort, loss);
      if (r.some((x) => x.metric.target === okTarget) && r.some((x) => x.metric.target === downTarget && Number(x.value[1]) > 0)) break;
      await sleep(500);
    }
    assert.deepEqual([r[0]?.metric.target, r[0]?.metric.direction, Number(r[0]?.value[1])], [downTarget, 'unknown', 1], JSON.stringify(r));
    const answering = r.filter((x) => x.metric.target === okTarget);
    assert.deepEqual(answering.map((x) => [x.metric.direction, Number(x.value[1])]).sort(), [['back', 0], ['out', 0], ['unknown', 0]]);
  });
});
