/**
 * The status component (k8s/components/status), rendered with the real `kubectl kustomize` on top of
 * every mode as docs/kubernetes.md tells an operator to: the page on with the pod's identity from the
 * downward API, Service heartbeat-status (port `status`, ClusterIP) to the port where the page is
 * served, and the NetworkPolicy that lets the mesh view reach other heartbeat pods there, nothing else;
 * the edge NodePort never carries it; docs/kubernetes.md's port-forward line names what is rendered.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { renderOverlay, type K8sObject } from '../helpers/deploy';
import { ROOT } from '../helpers/server';
import { KUBECTL_HINT, kubectl, requireTool } from '../helpers/tools';

interface EnvVar { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }
interface Container { name: string; env?: EnvVar[]; ports?: { name: string; containerPort: number }[] }
interface Workload extends K8sObject {
  spec: { template: { metadata: { labels: Record<string, string> }; spec: { containers: Container[] } } };
}
interface Service extends K8sObject { spec: { type: string; selector: Record<string, string>; ports: { name: string; port: number; targetPort: string | number; nodePort?: number }[] } }
interface Policy extends K8sObject {
  spec: {
    podSelector: { matchLabels: Record<string, string> };
    policyTypes: string[];
    egress: { to: { podSelector?: { matchLabels: Record<string, string> }; namespaceSelector?: unknown }[]; ports: { protocol: string; port: string | number }[] }[];
  };
}

const MODES = { base: 'k8s', edge: 'k8s/overlays/edge', restricted: 'k8s/overlays/restricted', mesh: 'k8s/overlays/mesh' };
const STATUS = 'k8s/components/status';

const workload = (objs: K8sObject[]): Workload =>
  objs.find((o) => (o.kind === 'Deployment' || o.kind === 'DaemonSet') && o.metadata.name === 'heartbeat') as Workload;
const matches = (selector: Record<string, string>, labels: Record<string, string>): boolean =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

describe('k8s/components/status', function () {
  this.timeout(60_000);
  before(() => requireTool(kubectl(), KUBECTL_HINT, ['version', '--client']));

  for (const [mode, dir] of Object.entries(MODES)) {
    it(`${mode}: the page on, who the pod is, Service heartbeat-status to where it is served, the mesh view let through`, () => {
      const objs = renderOverlay([dir], [STATUS]);
      const w = workload(objs);
      const ns = w.metadata.namespace;
      const hb = w.spec.template.spec.containers.find((c) => c.name === 'heartbeat') as Container;
      const env = hb.env ?? [];
      const value = (n: string): string | undefined => {
        const e = env.find((x) => x.name === n);
        return e?.value ?? e?.valueFrom?.fieldRef?.fieldPath;
      };
      assert.equal(value('HEARTBEAT_STATUS'), 'true');
      assert.deepEqual(['POD_NAME', 'POD_NAMESPACE', 'NODE_NAME', 'POD_IP'].map(value), ['metadata.name', 'metadata.namespace', 'spec.nodeName', 'status.podIP']);
      assert.equal(new Set(env.map((e) => e.name)).size, env.length, 'each variable once');
      // a $(VAR) reference only after VAR (Kubernetes expands in order)
      env.forEach((e, i) => {
        for (const [, ref] of (e.value ?? '').matchAll(/\$\(([A-Z_]+)\)/g)) {
          assert.ok(env.slice(0, i).some((d) => d.name === ref), `${e.name} refers to ${ref} before it is defined`);
        }
      });

      // served where the mounted config says: the metrics port, which the container names `metrics`
      const cm = objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('heartbeat-config')) as K8sObject & { data: Record<string, string> };
      const config = JSON.parse(cm.data['heartbeat.json'] as string) as { metricsPort: number };
      const svc = objs.find((o) => o.kind === 'Service' && o.metadata.name === 'heartbeat-status') as Service;
      assert.equal(svc.metadata.namespace, ns);
      assert.equal(svc.spec.type, 'ClusterIP');
      assert.ok(matches(svc.spec.selector, w.spec.template.metadata.labels));
      assert.deepEqual(svc.spec.ports.map((p) => [p.name, p.port, p.targetPort]), [['status', config.metricsPort, 'metrics']]);
      assert.equal(hb.ports?.find((p) => p.name === 'metrics')?.containerPort, config.metricsPort);
      // the heartbeat Service (the edge's NodePort) is unchanged: the page is not on any node's port
      const main = objs.find((o) => o.kind === 'Service' && o.metadata.name === 'heartbeat') as Service;
      assert.deepEqual(main.spec.ports.map((p) => p.name), ['http', 'udp-echo']);

      // the mesh view: heartbeat pods to heartbeat pods on the ports probed and served, and DNS; nothing else
      const np = objs.find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === 'heartbeat-status') as Policy;
      assert.equal(np.metadata.namespace, ns);
      assert.ok(matches(np.spec.podSelector.matchLabels, w.spec.template.metadata.labels));
      assert.deepEqual(np.spec.policyTypes, ['Egress']);
      const [peers, dns] = np.spec.egress;
      assert.equal(peers?.to.length, 1);
      assert.equal(peers?.to[0]?.namespaceSelector, undefined, 'only this namespace');
      assert.ok(matches(peers?.to[0]?.podSelector?.matchLabels ?? { none: 'x' }, w.spec.template.metadata.labels), 'only heartbeat pods');
      const named = new Set((hb.ports ?? []).map((p) => p.name));
      // http (probed, and where the status answers), the UDP echo (probeUdp's datagrams), metrics (the status)
      assert.deepEqual(peers?.ports.map((p) => [p.protocol, p.port]), [['TCP', 'http'], ['UDP', 'udp-echo'], ['TCP', 'metrics']]);
      for (const p of peers?.ports ?? []) assert.ok(named.has(String(p.port)), `the container names port ${p.port}`);
      assert.deepEqual(dns?.ports.map((p) => p.port), [53, 53]);
      assert.equal(np.spec.egress.length, 2);
    });
  }

  it('moves with an overlay\'s namespace', () => {
    const objs = renderOverlay(['k8s/overlays/mesh/heartbeat'], [STATUS], 'namespace: hb-status-test');
    for (const [kind, name] of [['DaemonSet', 'heartbeat'], ['Service', 'heartbeat-status'], ['NetworkPolicy', 'heartbeat-status']]) {
      assert.equal(objs.find((o) => o.kind === kind && o.metadata.name === name)?.metadata.namespace, 'hb-status-test', `${kind} ${name}`);
    }
  });

  it('docs/kubernetes.md gives the one port-forward line that opens it, naming the rendered Service and port', () => {
    const objs = renderOverlay([MODES.base], [STATUS]);
    const svc = objs.find((o) => o.kind === 'Service' && o.metadata.name === 'heartbeat-status') as Service;
    const docs = readFileSync(path.join(ROOT, 'docs', 'kubernetes.md'), 'utf8');
    const port = svc.spec.ports[0];
    assert.ok(docs.includes(`kubectl -n ${svc.metadata.namespace} port-forward service/${svc.metadata.name} ${port?.port}:${port?.name}`), 'the port-forward line');
    assert.ok(docs.includes(`http://127.0.0.1:${port?.port}/status`));
    assert.ok(docs.includes('- ../../components/status'), 'the component line an overlay adds');
  });
});
