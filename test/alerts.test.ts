/**
 * The alert rules ship in two forms generated from one definition (scripts/alerts.ts): these fail
 * when a shipped file differs from the definition or the two forms differ from each other, and when
 * the docs' alert table or queries drift from it. promtool and a real Prometheus check the rules
 * themselves in test/prometheus/ (npm run test:prometheus).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { ALERTS, alertRules, DEFAULTS, queries, type RuleGroup } from '../scripts/alerts';
import { plan, PROMETHEUS_RULE_FILE, ROOT, RULES_FILE } from '../scripts/sync-alerts';
import { defaults } from '../src/config/schema';
import { MAX_BACKLOG_BYTES } from '../src/log/logger';

const read = (rel: string): string => readFileSync(path.join(ROOT, rel), 'utf8');

describe('alert rules', () => {
  it('the shipped files are exactly what scripts/alerts.ts generates (npm run alerts:sync)', () => {
    for (const p of plan()) {
      assert.ok(existsSync(path.join(ROOT, p.target)), `${p.target} is missing: run npm run alerts:sync`);
      assert.equal(read(p.target), p.content, `${p.target} drifted from scripts/alerts.ts: run npm run alerts:sync`);
    }
  });

  it('the plain rules file and the PrometheusRule hold the same groups', () => {
    const plain = YAML.parse(read(RULES_FILE)) as { groups: RuleGroup[] };
    const operator = YAML.parse(read(PROMETHEUS_RULE_FILE)) as { apiVersion: string; kind: string; spec: { groups: RuleGroup[] } };
    assert.equal(operator.apiVersion, 'monitoring.coreos.com/v1');
    assert.equal(operator.kind, 'PrometheusRule');
    assert.deepEqual(operator.spec.groups, plain.groups);
    assert.deepEqual(plain.groups, alertRules());
  });

  it('the kustomize component ships the PrometheusRule, PodMonitors for heartbeat and Fluent Bit and the Grafana dashboard (test/k8s/ renders them)', () => {
    const k = YAML.parse(read('k8s/components/alerts/kustomization.yaml')) as { kind: string; resources: string[] };
    assert.equal(k.kind, 'Component');
    assert.deepEqual(k.resources.sort(), ['dashboard-configmap.yaml', 'podmonitor-collector.yaml', 'podmonitor.yaml', 'prometheusrule.yaml']);
    type PodMonitor = { kind: string; spec: { podMetricsEndpoints: { port: string; path: string; relabelings: { targetLabel: string; replacement: string }[] }[] } };
    const endpoints = (file: string) => {
      const pm = YAML.parse(read(`k8s/components/alerts/${file}`)) as PodMonitor;
      assert.equal(pm.kind, 'PodMonitor');
      return pm.spec.podMetricsEndpoints.map((e) => [e.port, e.path, e.relabelings.find((r) => r.targetLabel === 'job')?.replacement]);
    };
    assert.deepEqual(endpoints('podmonitor.yaml'), [['metrics', '/metrics', DEFAULTS.job], ['fluent-bit', '/api/v2/metrics/prometheus', `${DEFAULTS.job}-fluent-bit`]]);
    assert.deepEqual(endpoints('podmonitor-collector.yaml'), [['fluent-bit', '/api/v2/metrics/prometheus', `${DEFAULTS.job}-fluent-bit`]]);
  });

  it('the ten alerts, each with a severity, and a summary and description naming the instance', () => {
    assert.deepEqual(ALERTS, [
      'HeartbeatDown', 'HeartbeatNotReady', 'HeartbeatErrorRatioHigh', 'HeartbeatLatencyHigh',
      'HeartbeatProbeFailing', 'HeartbeatProbeLatencyHigh', 'HeartbeatPeersMissing', 'HeartbeatPathMtuBlackhole', 'HeartbeatPacketLoss',
      'HeartbeatLogsDropped',
    ]);
    for (const r of alertRules().flatMap((g) => g.rules)) {
      assert.ok(['warning', 'critical'].includes(r.labels.severity), r.alert);
      assert.match(r.annotations.summary, /\$labels\.instance/, `${r.alert} summary`);
      assert.match(r.annotations.description, /\$labels\.instance/, `${r.alert} description`);
      assert.match(r.expr, new RegExp(`job="${DEFAULTS.job}"`), `${r.alert} selects the heartbeat job`);
    }
  });

  it('thresholds come from the settings: changing one changes the rules (and only there)', () => {
    const changed = alertRules({ ...DEFAULTS, errorRatio: { ...DEFAULTS.errorRatio, ratio: 0.2 }, down: { for: '7m' } })[0]!.rules;
    const rule = (name: string) => changed.find((r) => r.alert === name)!;
    assert.match(rule('HeartbeatErrorRatioHigh').expr, /> 0\.2$/);
    assert.equal(rule('HeartbeatDown').for, '7m');
    const defaults = alertRules()[0]!.rules;
    assert.match(defaults.find((r) => r.alert === 'HeartbeatErrorRatioHigh')!.expr, /> 0\.05$/);
  });

  it('docs/alerts.md has a row per alert with its severity, default for: and a runbook line', () => {
    const doc = read('docs/alerts.md');
    for (const r of alertRules().flatMap((g) => g.rules)) {
      const row = doc.split('\n').find((l) => l.startsWith(`| \`${r.alert}\``));
      assert.ok(row, `a table row for ${r.alert}`);
      const cells = row.split('|').map((c) => c.trim());
      assert.equal(cells[2], r.labels.severity, `${r.alert} severity`);
      assert.equal(cells[4], `\`${r.for}\``, `${r.alert} for:`);
      assert.ok((cells[5] ?? '').length > 40, `${r.alert}: a runbook line (what it means, what to look at first)`);
    }
  });

  it('the numbers the runbook and metrics docs quote are the code\'s', () => {
    const backlog = `${MAX_BACKLOG_BYTES / (1024 * 1024)} MiB`;
    assert.match(read('docs/alerts.md'), new RegExp(`stayed backed up past ${backlog}`));
    assert.match(read('docs/metrics.md'), new RegExp(`backed up past ${backlog}`));
    assert.ok(read('docs/alerts.md').includes(`\`drainTimeout\` (${defaults().drainTimeout / 1000} s)`), 'the default drain timeout');
  });

  it('docs/metrics.md shows the dashboard queries exactly as scripts/alerts.ts defines them', () => {
    const doc = read('docs/metrics.md');
    const blocks = [...doc.matchAll(/```promql\n([\s\S]*?)```/g)].map((m) => m[1] as string).join('\n');
    for (const [name, q] of Object.entries(queries())) {
      assert.ok(blocks.includes(`# ${q.title}\n${q.promql}\n`), `docs/metrics.md shows query ${name}`);
    }
  });
});
