/**
 * A real Prometheus (Debian's binary, its own temporary config and storage, a free loopback port)
 * scraping two running heartbeats every second, one probing the other: the queries docs/metrics.md
 * shows answer what they say, the rules load and evaluate without errors, and stopping a heartbeat
 * makes HeartbeatDown go pending, then firing, HeartbeatProbeFailing fire for the probes of it, and
 * HeartbeatPacketLoss for its echo datagrams (every one lost, direction unknown: no count came back).
 * The rules are the shipped ones with test-only short `for:` and windows (scripts/alerts.ts settings).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { alertRules, DEFAULTS, queries, type AlertSettings } from '../../scripts/alerts';
import { ROOT, rulesFile } from '../../scripts/sync-alerts';
import {
  alerts, api, eventually, promtool, query, requirePrometheusTool, startPrometheus, type RunningPrometheus, type VectorSample,
} from '../helpers/prometheus';
import { freePort, kill, request, sleep, startServer, type Running } from '../helpers/server';

/** The shipped rules with short for: and windows, so a test sees them change state in seconds. */
const FAST: AlertSettings = {
  ...DEFAULTS,
  down: { for: '5s' },
  probeFailing: { ...DEFAULTS.probeFailing, window: '15s', for: '2s' },
  packetLoss: { ...DEFAULTS.packetLoss, window: '15s', for: '2s' },
};

/** The ```promql blocks of docs/metrics.md: `# title` then the query, up to a blank line or the next title. */
function docsQueries(): Map<string, string> {
  const doc = readFileSync(path.join(ROOT, 'docs', 'metrics.md'), 'utf8');
  const out = new Map<string, string>();
  for (const block of doc.matchAll(/```promql\n([\s\S]*?)```/g)) {
    let title: string | undefined;
    let lines: string[] = [];
    const flush = (): void => {
      if (title && lines.length) out.set(title, lines.join('\n'));
      title = undefined;
      lines = [];
    };
    for (const line of (block[1] as string).split('\n')) {
      if (line.startsWith('# ')) { flush(); title = line.slice(2); } else if (line.trim() === '') flush();
      else lines.push(line);
    }
    flush();
  }
  return out;
}

interface RuleState { name: string; health: string; lastError?: string; lastEvaluation: string }

describe('a real Prometheus scraping two heartbeats, one probing the other', function () {
  this.timeout(180_000);
  let a: Running | undefined;
  let b: Running | undefined;
  let prom: RunningPrometheus | undefined;
  let traffic = false;
  let trafficDone: Promise<void> = Promise.resolve();
  const metricsPort = { a: 0, b: 0 };
  let instance = { a: '', b: '' };
  let peer = '';
  let target = '';

  before(async () => {
    requirePrometheusTool('prometheus');
    requirePrometheusTool('promtool');
    metricsPort.a = await freePort();
    metricsPort.b = await freePort();
    b = await startServer(['--host', '127.0.0.1', '--metrics', '--metrics-port', String(metricsPort.b)]);
    peer = `127.0.0.1:${b.port}`;
    target = `http://${peer}`;
    a = await startServer(['--host', '127.0.0.1', '--metrics', '--metrics-port', String(metricsPort.a),
      '--probe-targets', target, '--probe-interval', '1000', '--probe-timeout', '500', '--probe-udp', '5']);
    instance = { a: `127.0.0.1:${metricsPort.a}`, b: `127.0.0.1:${metricsPort.b}` };
    prom = await startPrometheus([
      'global: { scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s }',
      'rule_files: [heartbeat-rules.yaml]',
      'scrape_configs:',
      `  - job_name: ${DEFAULTS.job}`,
      `    static_configs: [{ targets: ["${instance.a}", "${instance.b}"] }]`,
      '',
    ].join('\n'), { 'heartbeat-rules.yaml': rulesFile(alertRules(FAST)) });
    // Heartbeats of two size classes on both, and some 400s (never in the latency histogram).
    traffic = true;
    trafficDone = (async () => {
      for (let i = 0; traffic && i < 20_000; i++) {
        const hb = i % 2 ? a : b;
        await request(hb.port, 'GET', i % 3 ? '/heartbeat/1024' : '/heartbeat/65536').catch(() => undefined);
        if (i % 10 === 0) await request(hb.port, 'GET', '/heartbeat/x').catch(() => undefined);
        await sleep(20);
      }
    })();
  });

  after(async () => {
    traffic = false;
    await trafficDone;
    kill(a);
    kill(b);
    await prom?.stop();
  });

  it('scrapes both, and /metrics with probe series (TCP and UDP) passes promtool check metrics', async () => {
    await eventually('both targets up', 30_000, async () => {
      const up = await query(prom!.port, `up{job="${DEFAULTS.job}"} == 1`);
      return up.length === 2 ? up : undefined;
    });
    const text = await eventually('probe series on the prober', 30_000, async () => {
      const t = (await request(metricsPort.a, 'GET', '/metrics')).body.toString();
      return t.includes(`heartbeat_probes_total{target="${target}",peer="${peer}"`) && t.includes(`heartbeat_udp_probe_sent_total{target="${target}",peer="${peer}",family="ipv4"}`) ? t : undefined;
    });
    const r = promtool(['check', 'metrics'], { input: text });
    assert.equal(r.status, 0, r.output);
  });

  it('the queries docs/metrics.md shows answer what they say', async () => {
    const shown = docsQueries();
    const q = queries();
    const promql = (name: keyof typeof q): string => {
      const text = shown.get(q[name].title);
      assert.ok(text, `docs/metrics.md shows "${q[name].title}"`);
      return text;
    };
    const nonEmpty = (name: keyof typeof q, ok: (r: VectorSample[]) => boolean) =>
      eventually(`${name} to have an answer`, 30_000, async () => {
        const r = await query(prom!.port, promql(name));
        return ok(r) ? r : undefined;
      });

    // p99 by size class: one series per class heartbeat served, a real duration.
    const p99 = await nonEmpty('p99BySize', (r) => ['1KiB', '64KiB'].every((s) => r.some((x) => x.metric.size === s && Number.isFinite(Number(x.value[1])))));
    for (const s of p99) {
      const v = Number(s.value[1]);
      assert.ok(v > 0 && v < 30, `p99 of ${s.metric.size}: ${v}`);
    }
    assert.ok(!p99.some((s) => s.metric.route), 'summed over instances and routes');

    // Error ratio: an answer for each instance, 0, though no 5xx and no aborted transfer ever happened
    // (the 400s are client errors, not in it).
    const ratio = await nonEmpty('errorRatio', (r) => r.length === 2);
    assert.deepEqual(ratio.map((s) => [s.metric.instance, Number(s.value[1])]).sort(), [[instance.a, 0], [instance.b, 0]].sort());

    // Probe success rate per target, and the worst peers: the one peer, every probe ok.
    // (finite: a rate over a counter scraped once is 0/0 until its second sample)
    const success = await nonEmpty('probeSuccess', (r) => r.length > 0 && r.every((x) => Number.isFinite(Number(x.value[1]))));
    assert.deepEqual(success.map((s) => [s.metric.target, Number(s.value[1])]), [[target, 1]]);
    const worst = await nonEmpty('worstPeers', (r) => r.length > 0 && r.every((x) => Number.isFinite(Number(x.value[1]))));
    assert.deepEqual(worst.map((s) => [s.metric.instance, s.metric.target, s.metric.peer, Number(s.value[1])]), [[instance.a, target, peer, 1]]);
  });

  it('the rules load and evaluate with no errors; nothing fires while all is well', async () => {
    const rules = await eventually('every rule evaluated', 30_000, async () => {
      const data = await api<{ groups: { rules: RuleState[] }[] }>(prom!.port, 'rules');
      const all = data.groups.flatMap((g) => g.rules);
      return all.length > 0 && all.every((r) => r.health !== 'unknown') ? all : undefined;
    });
    assert.deepEqual(rules.map((r) => r.name).sort(), alertRules().flatMap((g) => g.rules.map((x) => x.alert)).sort());
    for (const r of rules) assert.equal(r.health, 'ok', `${r.name}: ${r.lastError ?? ''}`);
    assert.deepEqual(await alerts(prom!.port), []);
  });

  it('a stopped heartbeat: HeartbeatDown pending, then firing; HeartbeatProbeFailing for the probes of it, HeartbeatPacketLoss for its datagrams', async () => {
    traffic = false;
    await trafficDone;
    assert.equal(await b!.stop(), 0);
    const seen = new Set<string>();
    const down = await eventually('HeartbeatDown firing', 60_000, async () => {
      const now = (await alerts(prom!.port)).filter((x) => x.labels.alertname === 'HeartbeatDown');
      for (const x of now) seen.add(`${x.labels.instance} ${x.state}`);
      return now.find((x) => x.state === 'firing');
    });
    assert.ok(seen.has(`${instance.b} pending`), `pending before firing (seen: ${[...seen].join(', ')})`);
    assert.equal(down.labels.instance, instance.b);
    assert.equal(down.labels.severity, 'critical');
    assert.equal(down.annotations.description, `heartbeat ${instance.b}: its scrapes have failed for ${FAST.down.for}.`);
    const failing = await eventually('HeartbeatProbeFailing firing', 60_000, async () =>
      (await alerts(prom!.port)).find((x) => x.labels.alertname === 'HeartbeatProbeFailing' && x.state === 'firing'));
    assert.deepEqual([failing.labels.instance, failing.labels.target, failing.labels.peer], [instance.a, target, peer]);
    assert.match(failing.annotations.description ?? '', new RegExp(`^heartbeat ${instance.a}: .*% of its probes of peer ${peer} \\(target ${target}\\) failed`));
    // its UDP echo is gone with it: every datagram lost, and no count to say which way
    const loss = await eventually('HeartbeatPacketLoss firing', 60_000, async () =>
      (await alerts(prom!.port)).find((x) => x.labels.alertname === 'HeartbeatPacketLoss' && x.state === 'firing'));
    assert.deepEqual([loss.labels.instance, loss.labels.target, loss.labels.peer, loss.labels.direction, loss.labels.severity], [instance.a, target, peer, 'unknown', 'warning']);
    assert.match(loss.annotations.description ?? '', new RegExp(`^heartbeat ${instance.a}: [0-9.]+% of its echo datagrams to peer ${peer} \\(target ${target.replace(/\./g, '\\.')}\\) were lost in an unknown direction`));
    // The heartbeat still running is not down.
    assert.ok(!(await alerts(prom!.port)).some((x) => x.labels.alertname === 'HeartbeatDown' && x.labels.instance === instance.a));
  });
});
