/**
 * The Helm chart (k8s/chart/heartbeat), with the real helm (v4.1.4, installed on demand by
 * scripts/helm.mjs; `npm run test:helm` passes its path as HEARTBEAT_TEST_HELM): lint --strict, every
 * mode rendered with its values file and every object checked against the Kubernetes API schemas as
 * test/k8s checks kustomize's, bad values refused by values.schema.json with a readable line, the
 * archive `helm package` writes, and the drift check: for each mode the chart renders the objects
 * kustomize renders from k8s/ (the source of truth), names' hash suffixes and labels aside.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import path from 'node:path';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { alertRules } from '../../scripts/alerts';
import { makeScratch, removeScratch } from '../../scripts/scratch';
import { KEYS } from '../../src/config/schema';
import { render, writeOverlay, type K8sObject } from '../helpers/deploy';
import { restrictedViolations } from '../helpers/pod-security';
import { ROOT } from '../helpers/server';
import { KUBECTL_HINT, kubectl, requireTool } from '../helpers/tools';
import { modelFor } from '../k8s/models';

const CHART = path.join(ROOT, 'k8s', 'chart', 'heartbeat');
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
/**
 * The modes the chart covers: its values files -> the kustomize tree of the same mode (a directory of
 * k8s/, or, for the monitoring component, a throwaway overlay adding k8s/components/alerts to one, as
 * docs/alerts.md tells an operator to).
 */
const MODES: Record<string, { values: string[]; kustomize: string; components?: string[] }> = {
  sidecar: { values: ['values-sidecar.yaml'], kustomize: 'k8s' },
  edge: { values: ['values-edge.yaml'], kustomize: 'k8s/overlays/edge' },
  restricted: { values: ['values-restricted.yaml'], kustomize: 'k8s/overlays/restricted' },
  mesh: { values: ['values-mesh.yaml'], kustomize: 'k8s/overlays/mesh' },
  'sidecar + alerts': { values: ['values-sidecar.yaml', 'values-alerts.yaml'], kustomize: 'k8s', components: ['k8s/components/alerts'] },
  'mesh + alerts': { values: ['values-mesh.yaml', 'values-alerts.yaml'], kustomize: 'k8s/overlays/mesh', components: ['k8s/components/alerts'] },
  'sidecar + otlp': { values: ['values-sidecar.yaml', 'values-otlp.yaml'], kustomize: 'k8s', components: ['k8s/components/otlp'] },
  'mesh + otlp': { values: ['values-mesh.yaml', 'values-otlp.yaml'], kustomize: 'k8s/overlays/mesh', components: ['k8s/components/otlp'] },
  // the status page, in every mode (docs/kubernetes.md: open it with kubectl port-forward)
  'sidecar + status': { values: ['values-sidecar.yaml', 'values-status.yaml'], kustomize: 'k8s', components: ['k8s/components/status'] },
  'edge + status': { values: ['values-edge.yaml', 'values-status.yaml'], kustomize: 'k8s/overlays/edge', components: ['k8s/components/status'] },
  'restricted + status': { values: ['values-restricted.yaml', 'values-status.yaml'], kustomize: 'k8s/overlays/restricted', components: ['k8s/components/status'] },
  'mesh + status': { values: ['values-mesh.yaml', 'values-status.yaml'], kustomize: 'k8s/overlays/mesh', components: ['k8s/components/status'] },
};
/** Pod Security "restricted" for heartbeat's pods: the modes without the sidecar. */
const collectorMode = (mode: string): boolean => mode.startsWith('restricted') || mode.startsWith('mesh');
/** kinds kubernetes-models has no model of (the Prometheus Operator's CRDs): checked by equality with kustomize's objects instead. */
const CRD_GROUPS = ['monitoring.coreos.com/v1'];
/** kustomize's placeholder image: the chart given it must render kustomize's objects exactly. */
const PLACEHOLDER = 'set-your-registry.invalid/heartbeat';

function helmBin(): string {
  const bin = process.env.HEARTBEAT_TEST_HELM;
  if (!bin) throw new Error('helm is missing: run the helm tier as `npm run test:helm` (scripts/helm.mjs installs helm v4.1.4 into .cache/helm and sets HEARTBEAT_TEST_HELM)');
  requireTool(bin, 'scripts/helm.mjs installs it (npm run test:helm)', ['version']);
  return bin;
}

interface Run { status: number | null; stdout: string; stderr: string }
function helm(args: string[]): Run {
  const home = scratch();
  const r = spawnSync(helmBin(), args, { encoding: 'utf8', env: { ...process.env, HELM_CACHE_HOME: home, HELM_CONFIG_HOME: home, HELM_DATA_HOME: home } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
/** The test's own temp dir (helm's home, the throwaway overlays): made in before(), removed in after(); unset until made. */
let tmpHome: string | undefined;
function scratch(): string {
  if (!tmpHome) throw new Error('the helm test\'s temp dir was not made (its before() failed)');
  return tmpHome;
}

/** A throwaway overlay (in the test's temp dir) of a k8s/ directory plus components (alerts, otlp), as the docs tell an operator to write. */
function overlay(of: string, components: string[]): string {
  return writeOverlay(mkdtempSync(path.join(scratch(), 'overlay-')), [of], components);
}

function template(values: string[], set: string[] = [`image.repository=${PLACEHOLDER}`]): K8sObject[] {
  const r = helm(['template', 'heartbeat', CHART, '--namespace', 'heartbeat', ...values.flatMap((v) => ['-f', path.join(CHART, v)]), ...set.flatMap((s) => ['--set', s])]);
  assert.equal(r.status, 0, r.stderr);
  return parseAllDocuments(r.stdout).map((d) => d.toJS() as K8sObject).filter(Boolean);
}

/** Labels aside, kustomize's name hashes aside, checksum annotations aside, empty lists as absent, JSON config files parsed. */
function normalise(objects: K8sObject[]): unknown[] {
  const hashed = new Map<string, string>();
  for (const o of objects) {
    const m = o.kind === 'ConfigMap' ? /^(.*)-[a-z0-9]{10}$/.exec(o.metadata.name) : null;
    if (m?.[1]) hashed.set(o.metadata.name, m[1]);
  }
  const strip = (node: unknown, key = ''): unknown => {
    if (Array.isArray(node)) return node.map((n) => strip(n));
    if (typeof node === 'string') {
      if (key.endsWith('.json')) return JSON.parse(node) as unknown;
      return hashed.get(node) ?? node;
    }
    if (!node || typeof node !== 'object') return node;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node)) {
      if (k === 'labels' && v && typeof v === 'object' && !('matchLabels' in v)) continue;
      if (Array.isArray(v) && v.length === 0) continue; // an empty list is an absent one to the API (kustomize leaves initContainers: [])
      if (k === 'annotations' && v && typeof v === 'object') {
        const kept = Object.fromEntries(Object.entries(v as Record<string, unknown>).filter(([a]) => !a.startsWith('checksum/')));
        if (Object.keys(kept).length) out[k] = kept;
        continue;
      }
      out[k] = strip(v, k);
    }
    return out;
  };
  return objects.map((o) => strip(o)).sort((a, b) => {
    const ka = JSON.stringify([(a as K8sObject).kind, (a as K8sObject).metadata.name]);
    const kb = JSON.stringify([(b as K8sObject).kind, (b as K8sObject).metadata.name]);
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
}

/** heartbeat's workload: the Deployment, or the mesh's DaemonSet. */
const workload = (objects: K8sObject[]): K8sObject | undefined =>
  objects.find((o) => (o.kind === 'Deployment' || o.kind === 'DaemonSet') && o.metadata.name === 'heartbeat');
const heartbeatImage = (objects: K8sObject[]): string | undefined => {
  const d = workload(objects) as { spec: { template: { spec: { containers: { name: string; image: string }[] } } } } | undefined;
  return d?.spec.template.spec.containers.find((c) => c.name === 'heartbeat')?.image;
};

describe('helm chart (k8s/chart/heartbeat)', function () {
  this.timeout(120_000);
  before(() => {
    helmBin();
    requireTool(kubectl(), KUBECTL_HINT, ['version', '--client']);
    tmpHome = makeScratch('heartbeat-helm-');
  });
  after(() => { if (tmpHome) removeScratch(tmpHome); });

  it(`Chart.yaml: apiVersion v2, appVersion ${pkg.version} (package.json); Fluent Bit pinned to kustomize's release`, () => {
    const chart = parseYaml(readFileSync(path.join(CHART, 'Chart.yaml'), 'utf8')) as { apiVersion: string; appVersion: string; name: string };
    assert.equal(chart.apiVersion, 'v2');
    assert.equal(chart.appVersion, pkg.version);
    const values = parseYaml(readFileSync(path.join(CHART, 'values.yaml'), 'utf8')) as { fluentBit: { image: { repository: string; tag: string } } };
    const pinned = parseYaml(readFileSync(path.join(ROOT, 'k8s', 'components', 'fluent-bit-image', 'kustomization.yaml'), 'utf8')) as { images: { newName: string; newTag: string }[] };
    assert.deepEqual(values.fluentBit.image, { repository: pinned.images[0]?.newName, tag: pinned.images[0]?.newTag });
  });

  it('helm lint --strict passes for every mode', () => {
    for (const [mode, { values }] of Object.entries(MODES)) {
      const r = helm(['lint', '--strict', CHART, ...values.flatMap((v) => ['-f', path.join(CHART, v)]), '--set', 'image.repository=registry.example.com/heartbeat']);
      assert.equal(r.status, 0, `${mode}: ${r.stdout}${r.stderr}`);
      assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    }
  });

  it('values.schema.json: every heartbeat setting (src/config/schema.ts) is a config value, nothing else; values.yaml\'s config is config/example.json', () => {
    const schema = JSON.parse(readFileSync(path.join(CHART, 'values.schema.json'), 'utf8')) as { properties: { config: { properties: Record<string, unknown> } } };
    assert.deepEqual(Object.keys(schema.properties.config.properties).sort(), [...KEYS].sort());
    const values = parseYaml(readFileSync(path.join(CHART, 'values.yaml'), 'utf8')) as { config: unknown };
    assert.deepEqual(values.config, JSON.parse(readFileSync(path.join(ROOT, 'config', 'example.json'), 'utf8')));
  });

  it('docs/kubernetes.md\'s values table has a row for every value the schema defines', () => {
    interface Node { properties?: Record<string, Node> }
    const schema = JSON.parse(readFileSync(path.join(CHART, 'values.schema.json'), 'utf8')) as Node;
    const docs = readFileSync(path.join(ROOT, 'docs', 'kubernetes.md'), 'utf8');
    const rows = docs.split('\n').filter((l) => l.startsWith('| `'));
    // documented as a whole: heartbeat's settings (docs: heartbeat --help), resource blocks, probe blocks, the sidecar's image
    const whole = new Set(['config', 'resources', 'probes.readiness', 'probes.liveness', 'fluentBit.image', 'fluentBit.resources']);
    const leaves = (node: Node, prefix: string): string[] => Object.entries(node.properties ?? {}).flatMap(([k, v]) =>
      (v.properties && !whole.has(`${prefix}${k}`) ? leaves(v, `${prefix}${k}.`) : [`${prefix}${k}`]));
    for (const leaf of leaves(schema, '')) {
      const parent = leaf.split('.').slice(0, -1).join('.');
      const last = leaf.split('.').at(-1) as string;
      const documented = rows.some((r) => r.includes(`\`${leaf}\``) || r.includes(`\`${leaf}.*\``)
        || (r.includes(`\`${parent}.`) && new RegExp(`[\`.]${last}\``).test(r)));
      assert.ok(documented, `values ${leaf} has no row in docs/kubernetes.md`);
    }
  });

  for (const [mode, { values, kustomize, components }] of Object.entries(MODES)) {
    describe(`mode ${mode} (${values.join(' + ')})`, () => {
      it('every object helm template renders passes the Kubernetes API schema (kubernetes-models)', async () => {
        const objects = template(values, ['image.repository=registry.example.com/heartbeat', 'namespace.create=true']);
        assert.ok(objects.length >= 6, `${objects.length} objects`);
        for (const obj of objects) {
          if (CRD_GROUPS.includes(obj.apiVersion)) continue;
          const Model = await modelFor(obj);
          assert.doesNotThrow(() => new Model(obj).validate(), `${obj.kind} ${obj.metadata.name}`);
        }
        assert.equal(heartbeatImage(objects), `registry.example.com/heartbeat:${pkg.version}`);
      });

      it(collectorMode(mode) ? 'heartbeat\'s pods meet Pod Security "restricted", and their namespace enforces it' : 'heartbeat\'s namespace is "privileged" (the sidecar\'s hostPath), warning on "restricted"', () => {
        const objects = template(values, ['image.repository=registry.example.com/heartbeat', 'namespace.create=true']);
        const ns = objects.find((o) => o.kind === 'Namespace' && o.metadata.name === 'heartbeat');
        const pod = (workload(objects) as unknown as { spec: { template: { spec: IPodSpec } } }).spec.template.spec;
        if (collectorMode(mode)) {
          assert.deepEqual(restrictedViolations(pod), []);
          assert.equal(ns?.metadata.labels?.['pod-security.kubernetes.io/enforce'], 'restricted');
        } else {
          assert.notDeepEqual(restrictedViolations(pod), [], 'the sidecar\'s hostPath is not restricted');
          assert.equal(ns?.metadata.labels?.['pod-security.kubernetes.io/enforce'], 'privileged');
          assert.equal(ns?.metadata.labels?.['pod-security.kubernetes.io/warn'], 'restricted');
        }
      });

      it(`renders what kustomize renders from ${[kustomize, ...components ?? []].join(' + ')} (labels and name hashes aside)`, () => {
        const chart = normalise(template(values, [`image.repository=${PLACEHOLDER}`, 'namespace.create=true']));
        const kust = normalise(render(components ? overlay(kustomize, components) : kustomize));
        assert.deepEqual(chart.map((o) => `${(o as K8sObject).kind}/${(o as K8sObject).metadata.name}`),
          kust.map((o) => `${(o as K8sObject).kind}/${(o as K8sObject).metadata.name}`));
        chart.forEach((o, i) => assert.deepEqual(o, kust[i], `${(o as K8sObject).kind}/${(o as K8sObject).metadata.name}`));
      });
    });
  }

  it('alerts.enabled: the PrometheusRule holds the rules scripts/alerts.ts defines, in the release\'s namespace; off by default', () => {
    const on = template(['values-alerts.yaml'], ['image.repository=r.example/hb']);
    const rule = on.find((o) => o.kind === 'PrometheusRule') as (K8sObject & { spec: { groups: unknown } }) | undefined;
    assert.ok(rule, 'a PrometheusRule');
    assert.equal(rule.metadata.namespace, 'heartbeat');
    assert.deepEqual(rule.spec.groups, alertRules());
    assert.deepEqual(on.filter((o) => o.kind === 'PodMonitor').map((o) => o.metadata.name).sort(), ['heartbeat', 'heartbeat-fluent-bit-collector']);
    assert.deepEqual(template([], ['image.repository=r.example/hb']).filter((o) => o.apiVersion.startsWith('monitoring.coreos.com/')), []);
  });

  it('mesh.enabled: a DaemonSet instead of the Deployment, heartbeat-peers on heartbeat\'s port, probe targets through it', () => {
    const objects = template(['values-mesh.yaml'], ['image.repository=r.example/hb', 'config.port=8181']);
    assert.equal(objects.filter((o) => o.kind === 'Deployment').length, 0);
    const ds = workload(objects) as unknown as { kind: string; spec: { template: { spec: { containers: { name: string; env: { name: string; value?: string }[] }[] } } } };
    assert.equal(ds.kind, 'DaemonSet');
    const env = ds.spec.template.spec.containers.find((c) => c.name === 'heartbeat')?.env ?? [];
    assert.deepEqual(env.slice(0, 2).map((e) => e.name), ['POD_NAMESPACE', 'HEARTBEAT_PROBE_TARGETS'], 'POD_NAMESPACE before the target that refers to it');
    assert.equal(env[1]?.value, 'http://heartbeat-peers.$(POD_NAMESPACE).svc.cluster.local:8181');
    const peers = objects.find((o) => o.kind === 'Service' && o.metadata.name === 'heartbeat-peers') as unknown as { spec: { clusterIP: string; ports: { port: number; protocol: string }[] } };
    assert.equal(peers.spec.clusterIP, 'None');
    assert.equal(peers.spec.ports[0]?.port, 8181);
    assert.deepEqual(peers.spec.ports.map((p) => [p.port, p.protocol]), [[8181, 'TCP'], [8181, 'UDP']], 'http and the UDP echo, one port number');
    assert.equal(env.find((e) => e.name === 'HEARTBEAT_PROBE_UDP')?.value, '20', 'the mesh measures loss by direction');
  });

  it('config.udpEcho: a UDP containerPort and Service port on the http port number, unless it is false', () => {
    const ports = (objects: K8sObject[]): string[] => {
      const svc = objects.find((o) => o.kind === 'Service' && o.metadata.name === 'heartbeat') as unknown as { spec: { ports: { port: number; protocol: string; nodePort?: number }[] } };
      const c = (workload(objects) as unknown as { spec: { template: { spec: { containers: { name: string; ports: { containerPort: number; protocol: string }[] }[] } } } })
        .spec.template.spec.containers.find((x) => x.name === 'heartbeat');
      return [...svc.spec.ports.map((p) => `service ${p.protocol}/${p.port}${p.nodePort ? ` node ${p.nodePort}` : ''}`),
        ...(c?.ports ?? []).map((p) => `container ${p.protocol}/${p.containerPort}`)];
    };
    assert.deepEqual(ports(template([], ['image.repository=r.example/hb'])),
      ['service TCP/80', 'service UDP/80', 'container TCP/8080', 'container UDP/8080', 'container TCP/9090']);
    assert.deepEqual(ports(template(['values-edge.yaml'], ['image.repository=r.example/hb'])),
      ['service TCP/80 node 31080', 'service UDP/80 node 31080', 'container TCP/8080', 'container UDP/8080', 'container TCP/9090']);
    assert.deepEqual(ports(template([], ['image.repository=r.example/hb', 'config.udpEcho=false'])),
      ['service TCP/80', 'container TCP/8080', 'container TCP/9090']);
  });

  it('status.enabled: the page on with the pod\'s identity, Service heartbeat-status (port status), the mesh view\'s NetworkPolicy; NOTES give the port-forward line; off by default', () => {
    const objects = template(['values-mesh.yaml', 'values-status.yaml'], ['image.repository=r.example/hb']);
    const ds = workload(objects) as unknown as { spec: { template: { spec: { containers: { name: string; env: { name: string; value?: string; valueFrom?: { fieldRef: { fieldPath: string } } }[]; ports: { name: string; containerPort: number }[] }[] } } } };
    const c = ds.spec.template.spec.containers.find((x) => x.name === 'heartbeat');
    const env = new Map((c?.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom?.fieldRef.fieldPath]));
    assert.deepEqual([...env].slice(0, 6), [['HEARTBEAT_STATUS', 'true'], ['POD_NAME', 'metadata.name'], ['POD_NAMESPACE', 'metadata.namespace'],
      ['NODE_NAME', 'spec.nodeName'], ['POD_IP', 'status.podIP'], ['HEARTBEAT_PROBE_TARGETS', 'http://heartbeat-peers.$(POD_NAMESPACE).svc.cluster.local:8080']]);
    const svc = objects.find((o) => o.kind === 'Service' && o.metadata.name === 'heartbeat-status') as unknown as { metadata: { namespace: string }; spec: { type: string; ports: { name: string; port: number; targetPort: string }[] } };
    assert.deepEqual([svc.metadata.namespace, svc.spec.type, svc.spec.ports], ['heartbeat', 'ClusterIP', [{ name: 'status', port: 9090, targetPort: 'metrics', protocol: 'TCP' }]]);
    assert.equal(c?.ports.find((p) => p.name === 'metrics')?.containerPort, 9090);
    const np = objects.find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === 'heartbeat-status') as unknown as { spec: { egress: { to: { podSelector?: { matchLabels: Record<string, string> } }[]; ports: { port: string | number }[] }[] } };
    assert.deepEqual(np.spec.egress[0]?.to, [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'heartbeat' } } }]);
    assert.deepEqual(np.spec.egress[0]?.ports.map((p) => p.port), ['http', 'udp-echo', 'metrics']);
    // the page needs its port even with metrics off
    const noMetrics = template(['values-status.yaml'], ['image.repository=r.example/hb', 'config.metrics=false']);
    const dep = workload(noMetrics) as unknown as typeof ds;
    assert.equal(dep.spec.template.spec.containers.find((x) => x.name === 'heartbeat')?.ports.find((p) => p.name === 'metrics')?.containerPort, 9090);
    const off = template([], ['image.repository=r.example/hb']);
    assert.equal(off.filter((o) => o.metadata.name === 'heartbeat-status').length, 0);
    assert.ok(!(workload(off) as unknown as typeof ds).spec.template.spec.containers[0]?.env?.some((e) => e.name === 'HEARTBEAT_STATUS'));
    // NOTES.txt: the one line that opens it, as docs/kubernetes.md gives it
    const dry = helm(['install', 'heartbeat', CHART, '--dry-run=client', '--namespace', 'heartbeat', '-f', path.join(CHART, 'values-status.yaml'), '--set', 'image.repository=r.example/hb']);
    assert.equal(dry.status, 0, dry.stderr);
    const line = 'kubectl -n heartbeat port-forward service/heartbeat-status 9090:status';
    assert.ok(dry.stdout.includes(`  ${line}\n`), dry.stdout.slice(dry.stdout.indexOf('NOTES:')));
    assert.ok(dry.stdout.includes('http://127.0.0.1:9090/status'));
    assert.ok(readFileSync(path.join(ROOT, 'docs', 'kubernetes.md'), 'utf8').includes(line), 'docs/kubernetes.md gives the same line');
  });

  it('image: repository + appVersion by default, a tag or a digest when given', () => {
    const repo = 'registry.example.com/heartbeat';
    assert.equal(heartbeatImage(template([], [`image.repository=${repo}`, 'image.tag=1.2.3'])), `${repo}:1.2.3`);
    const digest = `sha256:${'a'.repeat(64)}`;
    assert.equal(heartbeatImage(template([], [`image.repository=${repo}`, `image.digest=${digest}`])), `${repo}@${digest}`);
  });

  it('the forward destination, TLS and shared key Secret are values', () => {
    const objects = template([], ['image.repository=r.example/hb', 'fluentBit.forward.host=logs.example.com', 'fluentBit.forward.port=24240',
      'fluentBit.forward.tls=true', 'fluentBit.forward.sharedKeySecret=my-key', 'fluentBit.aggregatorNamespace=central']);
    const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'log-destination') as unknown as { data: Record<string, string> };
    assert.deepEqual(cm.data, {
      FLUENT_BIT_CONFIG: 'sidecar.yaml', FLUENT_FORWARD_HOST: 'logs.example.com', FLUENT_FORWARD_PORT: '24240', FLUENT_FORWARD_TLS: 'on', FLUENT_FORWARD_TLS_VERIFY: 'on',
    });
    const text = JSON.stringify(objects);
    assert.match(text, /"name":"my-key","key":"shared_key","optional":true/);
    assert.match(text, /"kubernetes.io\/metadata.name":"central"/);
    assert.match(text, /"port":24240/);
  });

  it('logs.destination otlp: the sidecar and the collector run their -otlp.yaml with the OTLP endpoint, TLS, header Secret and egress of the values', () => {
    const set = ['image.repository=r.example/hb', 'image.tag=2.3.4', 'logs.otlp.host=otlp.example.com', 'logs.otlp.port=443', 'logs.otlp.logsUri=/otlp/v1/logs',
      'logs.otlp.tls=true', 'logs.otlp.headerSecret=my-otlp', 'logs.otlp.namespace=otel'];
    for (const [values, cmName, file] of [[['values-otlp.yaml'], 'log-destination', 'sidecar-otlp.yaml'], [['values-mesh.yaml', 'values-otlp.yaml'], 'collector-log-destination', 'collector-otlp.yaml']] as const) {
      const objects = template([...values], set);
      const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === cmName) as unknown as { data: Record<string, string> };
      assert.deepEqual(cm.data, {
        FLUENT_BIT_CONFIG: file, OTLP_HOST: 'otlp.example.com', OTLP_PORT: '443', OTLP_LOGS_URI: '/otlp/v1/logs', OTLP_TLS: 'on', OTLP_TLS_VERIFY: 'on',
        OTLP_SERVICE_VERSION: '2.3.4',
      }, 'service.version follows the image tag');
      const text = JSON.stringify(objects);
      assert.match(text, /"name":"OTLP_HEADER","valueFrom":\{"secretKeyRef":\{"name":"my-otlp","key":"header","optional":true\}\}/);
      assert.match(text, /"kubernetes.io\/metadata.name":"otel"\}\}\}\],"ports":\[\{"protocol":"TCP","port":443\}\]/);
      assert.doesNotMatch(text, /"port":24224/, 'nothing of forward is left');
    }
  });

  const refused: [string, string[], RegExp][] = [
    ['a missing image repository', [], /image.*missing propert(y|ies) 'repository'|image\.repository is required/],
    ['a wrong type', ['image.repository=r.example/hb', 'replicas=two'], /\/replicas.*got string, want integer/],
    ['an unknown key', ['image.repository=r.example/hb', 'config.prot=8080'], /additional propert(y|ies) 'prot' not allowed/],
    ['a port out of range', ['image.repository=r.example/hb', 'config.port=70000'], /\/config\/port.*maximum: got 70,?000, want 65,?535/],
    ['a NodePort out of range', ['image.repository=r.example/hb', 'service.type=NodePort', 'service.nodePort=8080'], /\/service\/nodePort.*minimum/],
    ['an unknown log destination', ['image.repository=r.example/hb', 'logs.destination=kafka'], /\/logs\/destination.*(must be one of|value must be one of)/],
  ];
  for (const [what, set, message] of refused) {
    it(`refuses ${what} with one readable line naming the value`, () => {
      const r = helm(['template', 'heartbeat', CHART, ...set.flatMap((s) => ['--set', s])]);
      assert.notEqual(r.status, 0, `${what} was accepted`);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /goroutine|panic/);
      assert.equal(r.stdout, '');
    });
  }

  it('helm package writes the chart archive, with Chart.yaml, the schema and NOTES.txt in it', () => {
    const out = mkdtempSync(path.join(scratch(), 'package-'));
    const r = helm(['package', CHART, '--destination', out]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(readdirSync(out), ['heartbeat-1.0.0.tgz']);
    const files = execFileSync('tar', ['-tzf', path.join(out, 'heartbeat-1.0.0.tgz')], { encoding: 'utf8' }).split('\n');
    for (const f of ['heartbeat/Chart.yaml', 'heartbeat/values.schema.json', 'heartbeat/templates/NOTES.txt', 'heartbeat/files/sidecar.yaml']) {
      assert.ok(files.includes(f), `${f} in the archive`);
    }
  });
});
