/**
 * Every query of the Grafana dashboard (prometheus/heartbeat-dashboard.json: each panel's and each
 * variable's) evaluated by a real Prometheus scraping a live mesh of three heartbeats that probe each other
 * (the upload too), with the shipped alert rules (short for:). The variables are resolved as Grafana does
 * (label_values via the series API, chained: namespace, then cluster, then target) and substituted; each
 * panel that should show data does, the Fluent Bit panels (no Fluent Bit here) evaluate without error;
 * once a heartbeat is stopped, the failing pairs by outcome and the alerts firing show it.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Dashboard, Panel, RowPanel } from '@grafana/schema';
import { alertRules, DEFAULTS, type AlertSettings } from '../../scripts/alerts';
import { dashboard, WORST, type Expect } from '../../scripts/dashboard';
import { DASHBOARD_FILE } from '../../scripts/sync-dashboard';
import { rulesFile } from '../../scripts/sync-alerts';
import { startMesh, type Mesh } from '../helpers/mesh';
import { api, eventually, requirePrometheusTool, startPrometheus, type RunningPrometheus } from '../helpers/prometheus';
import { ROOT, type Running } from '../helpers/server';

const FAST: AlertSettings = { ...DEFAULTS, down: { for: '5s' }, probeFailing: { ...DEFAULTS.probeFailing, window: '15s', for: '2s' } };
const NAMESPACE = 'heartbeat';
const CLUSTER = 'test';
/** What Grafana would make of $__rate_interval at a 1 s scrape interval, with room. */
const RATE_INTERVAL = '15s';
/** $__range: the dashboard showing the last 15 s (the stop, not the start-up's first refusals). */
const RANGE = '15s';

interface Series { metric: Record<string, string>; values?: [number, string][]; value?: [number, string] }
interface Query { expr: string; instant?: boolean }

const committed = JSON.parse(readFileSync(path.join(ROOT, DASHBOARD_FILE), 'utf8')) as Dashboard;
const panels = (committed.panels ?? []).flatMap((p) => (p.type === 'row' ? (p as RowPanel).panels : [p as Panel])).filter((p) => p.type !== 'row');
const expectOf = new Map(dashboard().specs.map((s) => [s.title, s.expect]));

/**
 * Grafana's formatting of a multi-value variable in a Prometheus regex matcher: (a|b), each value's regex
 * characters escaped for a PromQL string (`.` as `\\.`: the string's `\\` is the regex's `\`).
 */
const regexValue = (values: string[]): string => `(${values.map((v) => v.replace(/[.*+?^${}()|[\]\\]/g, '\\\\$&')).join('|')})`;

function substitute(expr: string, vars: Record<string, string>): string {
  return expr.replace(/\$(__rate_interval|__range|\w+)/g, (all, name: string) =>
    (name === '__rate_interval' ? RATE_INTERVAL : name === '__range' ? RANGE : vars[name] ?? all));
}

describe('the Grafana dashboard on a real Prometheus scraping a live mesh', function () {
  this.timeout(240_000);
  let mesh: Mesh | undefined;
  let prom: RunningPrometheus | undefined;
  const vars: Record<string, string> = {};

  /** Evaluates a panel query: instant (a table) or over the last minute (a graph); the series with a value. */
  const evaluate = async (q: Query): Promise<Series[]> => {
    const expr = substitute(q.expr, vars);
    assert.ok(!/\$\w/.test(expr), `unresolved variable in ${expr}`);
    const now = Date.now() / 1000;
    const data = q.instant
      ? await api<{ result: Series[] }>(prom!.port, `query?query=${encodeURIComponent(expr)}`)
      : await api<{ result: Series[] }>(prom!.port, `query_range?query=${encodeURIComponent(expr)}&start=${now - 60}&end=${now}&step=5`);
    return data.result.filter((s) => (s.values ?? [s.value as [number, string]]).some((v) => v && Number.isFinite(Number(v[1]))));
  };
  const panelData = async (p: Panel): Promise<Series[]> =>
    (await Promise.all((p.targets ?? []).map((t) => evaluate(t as unknown as Query)))).flat();
  const titled = (title: string): Panel => panels.find((p) => p.title === title) as Panel;

  before(async () => {
    requirePrometheusTool('prometheus');
    mesh = await startMesh({ size: 3, intervalMs: 1000, metricsPort: true, flags: ['--probe-upload', '4096', '--probe-udp', '5'] });
    const targets = mesh.metricsPorts.map((p) => `"127.0.0.1:${p}"`).join(', ');
    prom = await startPrometheus([
      'global: { scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s }',
      'rule_files: [heartbeat-rules.yaml]',
      'scrape_configs:',
      `  - job_name: ${DEFAULTS.job}`,
      `    static_configs: [{ targets: [${targets}], labels: { namespace: ${NAMESPACE}, cluster: ${CLUSTER} } }]`,
      '',
    ].join('\n'), { 'heartbeat-rules.yaml': rulesFile(alertRules(FAST)) });
    // a few rounds and scrapes: a rate over the rate interval has two samples of every series
    await eventually('probe series of every pair scraped for a while', 60_000, async () => {
      const r = await api<{ result: Series[] }>(prom!.port, `query?query=${encodeURIComponent(`count(count_over_time(heartbeat_probes_total{outcome="ok"}[${RATE_INTERVAL}]) >= 5)`)}`);
      return Number(r.result[0]?.value?.[1] ?? 0) >= 3 * 2 * 3 ? true : undefined;
    });
  });

  after(async () => {
    mesh?.stopAll();
    await prom?.stop();
  });

  it('the variables, resolved as Grafana does (label_values, chained): the namespace, the cluster, the three targets', async () => {
    const list = committed.templating?.list ?? [];
    assert.equal(list[0]?.type, 'datasource');
    const expected: Record<string, string[]> = { namespace: [NAMESPACE], cluster: [CLUSTER], target: [...(mesh as Mesh).targets].sort() };
    for (const v of list.slice(1)) {
      const query = substitute((v.query as { query: string }).query, vars);
      const m = /^label_values\((.+),\s*(\w+)\)$/.exec(query);
      assert.ok(m, `${v.name}: ${query}`);
      const series = await api<Record<string, string>[]>(prom!.port, `series?match[]=${encodeURIComponent(m[1] as string)}`);
      const values = [...new Set(series.map((s) => s[m[2] as string]).filter((x): x is string => x !== undefined))].sort();
      assert.deepEqual(values, expected[v.name], v.name);
      vars[v.name] = regexValue(values);
    }
  });

  it('every panel query evaluates; each panel that should show data does, the Fluent Bit ones are empty (no Fluent Bit here)', async () => {
    const counts: [string, Expect, number][] = [];
    for (const p of panels) {
      const expect = expectOf.get(p.title ?? '') as Expect;
      assert.ok(expect, `${p.title} is in the definition`);
      const data = await panelData(p);
      counts.push([p.title as string, expect, data.length]);
      if (expect === 'data') assert.ok(data.length > 0, `${p.title}: no data`);
      if (expect === 'empty without Fluent Bit') assert.equal(data.length, 0, `${p.title}: data without Fluent Bit?`);
    }
    assert.ok(counts.filter(([, e]) => e === 'data').length >= 15, counts.map((c) => c.join(': ')).join('\n'));
    // what they say: every pair ok, the matrix has every prober × peer, the success ratio is 1
    const m = mesh as Mesh;
    const matrix = await panelData(titled('p99 probe time, prober × peer'));
    assert.equal(matrix.length, 6, 'three probers × two peers');
    for (const s of matrix) assert.ok(Number(s.value?.[1]) > 0 && Number(s.value?.[1]) < 1, `${s.metric.instance} → ${s.metric.peer}: ${s.value?.[1]}`);
    const ratio = await panelData(titled('Probe success ratio per target'));
    assert.deepEqual(ratio.map((s) => s.metric.target).sort(), [...m.targets].sort());
    for (const s of ratio) assert.equal(Number(s.values?.at(-1)?.[1]), 1, s.metric.target);
    const failing = await panelData(titled('Failing pairs'));
    assert.equal(Number(failing[0]?.values?.at(-1)?.[1]), 0);
    const phases = new Set((await panelData(titled('Probe phase p99 by phase and size'))).map((s) => s.metric.phase));
    assert.deepEqual([...phases].sort(), ['connect', 'transfer', 'ttfb']);
    const upload = await panelData(titled('Upload rate per instance'));
    assert.ok(upload.some((s) => Number(s.values?.at(-1)?.[1]) > 0), 'the probes\' uploads are seen');
    assert.deepEqual(await panelData(titled('Failing pairs by outcome')), [], 'no failing pair yet');
    // the fleet's worst pairs by latency: every pair of every instance, largest p99 first
    const worst = await panelData(titled(`Worst pairs by latency (top ${WORST})`));
    assert.deepEqual(worst.map((s) => `${s.metric.instance} ${s.metric.peer}`).sort(),
      m.metricsPorts.flatMap((port, i) => m.peers.filter((_, j) => j !== i).map((peer) => `127.0.0.1:${port} ${peer}`)).sort());
    const values = worst.map((s) => Number(s.value?.[1]));
    assert.deepEqual(values, [...values].sort((a, b) => b - a), 'worst first');
    assert.ok(values.every((v) => v > 0 && v < 1), values.join(' '));
  });

  it('a stopped heartbeat: the failing pairs by outcome show refused, the alerts firing show HeartbeatDown, one instance down', async () => {
    const m = mesh as Mesh;
    assert.equal(await (m.nodes[2] as Running).stop(), 0);
    // its two probers see it refused
    const byOutcome = await eventually('two pairs refused in the failing pairs by outcome', 60_000, async () => {
      const d = await panelData(titled('Failing pairs by outcome'));
      return Number(d.find((s) => s.metric.outcome === 'refused')?.values?.at(-1)?.[1]) === 2 ? d : undefined;
    });
    assert.deepEqual(byOutcome.map((s) => s.metric.outcome), ['refused']);
    // the fleet's worst pairs by outcome: the two probers of the stopped one, refused, worst first
    const stopped = m.peers[2] as string;
    const worst = await eventually('the two pairs refused among the worst pairs', 30_000, async () => {
      const d = await panelData(titled(`Worst pairs by outcome (top ${WORST})`));
      return d.length === 2 ? d : undefined;
    });
    assert.deepEqual(worst.map((s) => [s.metric.instance, s.metric.peer, s.metric.outcome]).sort(),
      [[`127.0.0.1:${m.metricsPorts[0]}`, stopped, 'refused'], [`127.0.0.1:${m.metricsPorts[1]}`, stopped, 'refused']].sort());
    const counts = worst.map((s) => Number(s.value?.[1]));
    assert.ok(counts.every((v) => v > 0) && counts[0]! >= counts[1]!, counts.join(' '));
    const alerts = await eventually('HeartbeatDown in the alerts panel', 60_000, async () => {
      const d = await panelData(titled('Alerts firing'));
      return d.some((s) => s.metric.alertname === 'HeartbeatDown') ? d : undefined;
    });
    assert.ok(alerts.every((s) => s.metric.alertname?.startsWith('Heartbeat')));
    const down = await eventually('one down instance', 30_000, async () => {
      const d = await panelData(titled('Down instances'));
      return Number(d[0]?.values?.at(-1)?.[1]) === 1 ? d : undefined;
    });
    assert.ok(down);
    for (const p of panels) if (expectOf.get(p.title ?? '') !== 'empty without Fluent Bit') assert.ok((await panelData(p)).length > 0, `${p.title}: no data`);
  });
});
