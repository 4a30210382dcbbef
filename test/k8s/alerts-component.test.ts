/**
 * The alerts component (k8s/components/alerts), rendered with the real `kubectl kustomize` in an
 * overlay beside the base, as docs/alerts.md tells an operator to use it: the PrometheusRule holds
 * the rules scripts/alerts.ts defines, and the PodMonitor finds the Deployment's pods and their ports.
 */
import assert from 'node:assert/strict';
import { alertRules, DEFAULTS } from '../../scripts/alerts';
import { renderOverlay, type K8sObject } from '../helpers/deploy';
import { KUBECTL_HINT, kubectl, requireTool } from '../helpers/tools';

interface PodMonitor extends K8sObject {
  spec: {
    selector: { matchLabels: Record<string, string> };
    podMetricsEndpoints: { port: string; path: string; relabelings: { targetLabel: string; replacement: string }[] }[];
  };
}
interface Container { name: string; ports?: { name: string; containerPort: number }[] }
/** A Deployment or DaemonSet: the pod template. */
interface Workload extends K8sObject {
  spec: { template: { metadata: { labels: Record<string, string> }; spec: { containers: Container[]; initContainers?: Container[] } } };
}

/** Renders a throwaway overlay of `of` (k8s/base, an overlay) plus the component (`extra`: more kustomization lines). */
function renderWithAlerts(extra = '', of = 'base'): K8sObject[] {
  return renderOverlay([`k8s/${of}`], ['k8s/components/alerts'], extra);
}

describe('k8s/components/alerts', function () {
  this.timeout(60_000);
  before(() => requireTool(kubectl(), KUBECTL_HINT, ['version', '--client']));

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
    const pm = objs.find((o) => o.kind === 'PodMonitor' && o.metadata.name === 'heartbeat') as PodMonitor;
    const deployment = objs.find((o) => o.kind === 'Deployment') as Workload;
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

  it('in the mesh overlay: heartbeat\'s DaemonSet pods, and the node collector\'s Fluent Bit in its namespace', () => {
    const objs = renderWithAlerts('', 'overlays/mesh');
    const ds = objs.find((o) => o.kind === 'DaemonSet' && o.metadata.name === 'heartbeat') as Workload;
    const collector = objs.find((o) => o.kind === 'DaemonSet' && o.metadata.name !== 'heartbeat') as Workload;
    assert.ok(ds && collector, 'both DaemonSets');
    const monitors = objs.filter((o) => o.kind === 'PodMonitor') as (PodMonitor & { spec: { namespaceSelector?: { matchNames: string[] } } })[];
    const matches = (pm: PodMonitor, w: Workload): boolean =>
      Object.entries(pm.spec.selector.matchLabels).every(([k, v]) => w.spec.template.metadata.labels[k] === v);
    const hb = monitors.find((m) => m.metadata.name === 'heartbeat')!;
    assert.ok(matches(hb, ds), 'the heartbeat PodMonitor selects the DaemonSet\'s pods');
    assert.equal(hb.metadata.namespace, ds.metadata.namespace);
    const fb = monitors.find((m) => m.metadata.name === 'heartbeat-fluent-bit-collector')!;
    assert.ok(matches(fb, collector), 'the collector PodMonitor selects the collector\'s pods');
    assert.deepEqual(fb.spec.namespaceSelector?.matchNames, [collector.metadata.namespace]);
    const ports = collector.spec.template.spec.containers.flatMap((c) => (c.ports ?? []).map((p) => p.name));
    assert.ok(ports.includes(fb.spec.podMetricsEndpoints[0]!.port), 'the collector has the port scraped');
  });
});
