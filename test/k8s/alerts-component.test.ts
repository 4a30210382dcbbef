/**
 * The alerts component (k8s/components/alerts), rendered with the real `kubectl kustomize` in an
 * overlay beside the base, as docs/alerts.md tells an operator to use it: the PrometheusRule holds
 * the rules scripts/alerts.ts defines, and the PodMonitor finds the Deployment's pods and their ports.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { alertRules, DEFAULTS } from '../../scripts/alerts';
import type { K8sObject } from '../helpers/deploy';
import { ROOT } from '../helpers/server';
import { KUBECTL_HINT, requireTool } from '../helpers/tools';

interface PodMonitor extends K8sObject {
  spec: {
    selector: { matchLabels: Record<string, string> };
    podMetricsEndpoints: { port: string; path: string; relabelings: { targetLabel: string; replacement: string }[] }[];
  };
}
interface Container { name: string; ports?: { name: string; containerPort: number }[] }
interface Deployment extends K8sObject {
  spec: { template: { metadata: { labels: Record<string, string> }; spec: { containers: Container[]; initContainers?: Container[] } } };
}

/** Renders a throwaway overlay of the base plus the component (`extra`: more kustomization lines). */
function renderWithAlerts(extra = ''): K8sObject[] {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'heartbeat-alerts-overlay-'));
  try {
    const k8s = path.relative(dir, path.join(ROOT, 'k8s'));
    writeFileSync(path.join(dir, 'kustomization.yaml'), [
      'apiVersion: kustomize.config.k8s.io/v1beta1',
      'kind: Kustomization',
      `resources: [${k8s}/base]`,
      `components: [${k8s}/components/alerts]`,
      extra,
    ].join('\n'));
    const out = execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return parseAllDocuments(out).map((d) => d.toJS() as K8sObject);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('k8s/components/alerts', function () {
  this.timeout(60_000);
  before(() => requireTool('kubectl', KUBECTL_HINT, ['version', '--client']));

  it('adds the PrometheusRule with the defined rules, in the Deployment\'s namespace', () => {
    const objs = renderWithAlerts();
    const rule = objs.find((o) => o.kind === 'PrometheusRule') as K8sObject & { spec: { groups: unknown } };
    const deployment = objs.find((o) => o.kind === 'Deployment')!;
    assert.ok(rule, 'a PrometheusRule');
    assert.equal(rule.apiVersion, 'monitoring.coreos.com/v1');
    assert.equal(rule.metadata.namespace, deployment.metadata.namespace);
    assert.deepEqual(rule.spec.groups, alertRules());
  });

  it('adds a PodMonitor that selects the Deployment\'s pods and scrapes ports they have, as the jobs the rules select', () => {
    const objs = renderWithAlerts();
    const pm = objs.find((o) => o.kind === 'PodMonitor') as PodMonitor;
    const deployment = objs.find((o) => o.kind === 'Deployment') as Deployment;
    assert.equal(pm.metadata.namespace, deployment.metadata.namespace);
    const podLabels = deployment.spec.template.metadata.labels;
    for (const [k, v] of Object.entries(pm.spec.selector.matchLabels)) assert.equal(podLabels[k], v, `pod label ${k}`);
    // The Fluent Bit sidecar is a native sidecar (an init container): Prometheus's pod discovery
    // lists init containers' ports too (__meta_kubernetes_pod_container_init).
    const { containers, initContainers = [] } = deployment.spec.template.spec;
    const ports = new Map([...containers, ...initContainers].flatMap((c) => (c.ports ?? []).map((p) => [p.name, c.name] as const)));
    assert.deepEqual(pm.spec.podMetricsEndpoints.map((e) => [e.port, ports.get(e.port), e.relabelings.find((r) => r.targetLabel === 'job')?.replacement]),
      [['metrics', 'heartbeat', DEFAULTS.job], ['fluent-bit', 'fluent-bit', `${DEFAULTS.job}-fluent-bit`]]);
  });

  it('moves with an overlay\'s namespace, like the base', () => {
    const objs = renderWithAlerts('namespace: monitoring-test');
    for (const kind of ['Deployment', 'PrometheusRule', 'PodMonitor']) {
      assert.equal(objs.find((o) => o.kind === kind)?.metadata.namespace, 'monitoring-test', kind);
    }
  });
});
