/**
 * The Kubernetes manifests: every deploy mode rendered with the real `kubectl kustomize` (the
 * base, edge, restricted = base + node collector, edge + node collector, mesh, the mesh under
 * another namespace, and logs over OTLP (components/otlp) on the base and on the mesh), every object checked against the Kubernetes API schemas (kubernetes-models),
 * and the pods' contract with the app checked with the app's own code: its config loader, its
 * defaults, the real server answering the probes, the Fluent Bit files each log shipper is given.
 * Modes without the sidecar are checked field by field against Pod Security "restricted".
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { INamespace } from 'kubernetes-models/v1/Namespace';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import type { IService } from 'kubernetes-models/v1/Service';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { parse as parseYaml } from 'yaml';
import { ConfigError, loadConfig } from '../../src/config/load';
import { defaults, type Config } from '../../src/config/schema';
import { execForm, readDockerfile, render, writeOverlay, type K8sObject } from '../helpers/deploy';
import { restrictedViolations } from '../helpers/pod-security';
import { modelFor } from './models';
import { KUBECTL_HINT, kubectl, ltsNode, requireTool } from '../helpers/tools';
import { ROOT, freePort, kill, request, startServer, type Running } from '../helpers/server';
import { makeScratch, removeScratch } from '../../scripts/scratch';

const MI = 1024 * 1024;
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
/** What the downward API gives in these tests. */
const POD = { name: 'heartbeat-5d8f7c9b6-x2x7q', uid: '3f1c6b7e-9a2d-4c1b-8e5f-0a9b8c7d6e5f', node: 'edge-node-1' };
const COLLECTOR_NAMESPACE = 'heartbeat-logging';
/** The release test/data/fluent-bit-keys.yaml was read from: the pinned image must be of its line. */
const KEYS_RELEASE = (parseYaml(readFileSync(path.join(ROOT, 'test', 'data', 'fluent-bit-keys.yaml'), 'utf8')) as { release: string }).release;

/** A pod as it runs: its spec and the namespace it runs in. */
interface Pod { spec: IPodSpec; namespace: string; annotations: Record<string, string> }

/**
 * How a mode ships heartbeat's logs: the Fluent Bit container, the pod it runs in, its -c file (the
 * args as the kubelet expands them: $(FLUENT_BIT_CONFIG) from the destination's ConfigMap) and the
 * destination that file sends to.
 */
interface Shipper { kind: 'sidecar' | 'collector'; container: IContainer; pod: Pod; config: string; destination: 'forward' | 'otlp' }

interface Rendered {
  objects: K8sObject[];
  /** heartbeat's namespace (the Namespace labelled app.kubernetes.io/name=heartbeat). */
  namespace: INamespace;
  ns: string;
  workload: K8sObject & { spec: { selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> } } } };
  pod: Pod;
  heartbeat: IContainer;
  shipper: Shipper;
  service: IService;
  configMaps: Map<string, IConfigMap>;
}

const key = (ns: string | undefined, name: string): string => `${ns ?? ''}/${name}`;

function podOf(obj: K8sObject): Pod {
  const t = (obj as unknown as { spec: { template: { metadata?: { annotations?: Record<string, string> }; spec: IPodSpec } } }).spec.template;
  return { spec: t.spec, namespace: obj.metadata.namespace ?? 'default', annotations: t.metadata?.annotations ?? {} };
}

function analyse(objects: K8sObject[]): Rendered {
  const namespaces = objects.filter((o) => o.kind === 'Namespace' && o.metadata.labels?.['app.kubernetes.io/name'] === 'heartbeat');
  assert.equal(namespaces.length, 1, 'exactly one heartbeat Namespace');
  const namespace = namespaces[0] as unknown as INamespace;
  const ns = namespace.metadata?.name as string;
  const workloads = objects.filter((o) => ['Deployment', 'DaemonSet'].includes(o.kind) && o.metadata.name === 'heartbeat');
  assert.equal(workloads.length, 1, 'exactly one heartbeat workload');
  const workload = workloads[0] as Rendered['workload'];
  const pod = podOf(workload);
  const heartbeat = pod.spec.containers.find((c) => c.name === 'heartbeat');
  assert.ok(heartbeat, 'a container named heartbeat');
  const sidecar = (pod.spec.initContainers ?? []).find((c) => c.name === 'fluent-bit');
  const collector = objects.find((o) => o.kind === 'DaemonSet' && o.metadata.name === 'fluent-bit-collector');
  assert.ok(Boolean(sidecar) !== Boolean(collector), 'logs are shipped by a sidecar or by the node collector, never both');
  let shipper: Shipper;
  if (sidecar) {
    shipper = { kind: 'sidecar', container: sidecar, pod, config: '', destination: 'forward' };
  } else {
    const cpod = podOf(collector as K8sObject);
    shipper = { kind: 'collector', container: cpod.spec.containers[0] as IContainer, pod: cpod, config: '', destination: 'forward' };
  }
  const services = objects.filter((o) => o.kind === 'Service' && o.metadata.name === 'heartbeat');
  assert.equal(services.length, 1, 'one Service heartbeat');
  const configMaps = new Map(objects.filter((o) => o.kind === 'ConfigMap')
    .map((o) => [key(o.metadata.namespace, o.metadata.name), o as unknown as IConfigMap]));
  const r: Rendered = { objects, namespace, ns, workload, pod, heartbeat, shipper, service: services[0] as unknown as IService, configMaps };
  const args = expandedArgs(shipper.container, environment(r, shipper.pod, shipper.container));
  assert.equal(args[0], '-c');
  shipper.config = path.posix.basename(args[1] ?? '');
  shipper.destination = shipper.config.endsWith('-otlp.yaml') ? 'otlp' : 'forward';
  return r;
}

/** A container's args as the kubelet expands them: $(VAR) from its environment, $$ as $. */
function expandedArgs(c: IContainer, env: Map<string, string>): string[] {
  return (c.args ?? []).map((a) => a.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name?: string) => (name === undefined ? '$' : env.get(name) ?? whole)));
}

/** The files of the ConfigMap volume a container of `pod` mounts at `mountPath`. */
function mountedFiles(r: Rendered, pod: Pod, container: IContainer, mountPath: string): Record<string, string> {
  const norm = (p: string): string => p.replace(/\/+$/, '');
  const mount = container.volumeMounts?.find((m) => norm(m.mountPath) === norm(mountPath));
  assert.ok(mount, `${container.name} mounts something at ${mountPath}`);
  const volume = pod.spec.volumes?.find((v) => v.name === mount.name);
  assert.ok(volume?.configMap?.name, `${mountPath} is a ConfigMap volume`);
  const cm = r.configMaps.get(key(pod.namespace, volume.configMap.name));
  assert.ok(cm, `ConfigMap ${volume.configMap.name} is rendered in ${pod.namespace}`);
  return cm.data ?? {};
}

/**
 * A container's environment as the kubelet builds it: envFrom's ConfigMaps first (every key), then
 * env in order, `$(VAR)` expanding only variables defined above, downward-API fields and ConfigMap
 * keys (of the pod's namespace) resolved, an optional Secret that is not rendered leaving its
 * variable unset.
 */
function environment(r: Rendered, pod: Pod, container: IContainer): Map<string, string> {
  const env = new Map<string, string>();
  for (const from of container.envFrom ?? []) {
    assert.ok(from.configMapRef && !from.secretRef, `${container.name}: envFrom only from ConfigMaps`);
    const cm = r.configMaps.get(key(pod.namespace, from.configMapRef.name ?? ''));
    assert.ok(cm, `${container.name}: envFrom ConfigMap ${from.configMapRef.name} is rendered in ${pod.namespace}`);
    for (const [k, v] of Object.entries(cm.data ?? {})) env.set(`${from.prefix ?? ''}${k}`, v);
  }
  const fields: Record<string, string> = {
    'metadata.name': POD.name,
    'metadata.namespace': pod.namespace,
    'metadata.uid': POD.uid,
    'spec.nodeName': POD.node,
  };
  for (const e of container.env ?? []) {
    if (e.valueFrom?.fieldRef) {
      const v = fields[e.valueFrom.fieldRef.fieldPath];
      assert.ok(v !== undefined, `${e.name}: downward API field ${e.valueFrom.fieldRef.fieldPath}`);
      env.set(e.name, v);
    } else if (e.valueFrom?.configMapKeyRef) {
      const { name, key: k } = e.valueFrom.configMapKeyRef;
      const v = r.configMaps.get(key(pod.namespace, name ?? ''))?.data?.[k];
      assert.ok(v !== undefined, `${e.name}: ConfigMap ${name} in ${pod.namespace} has no key ${k}`);
      env.set(e.name, v);
    } else if (e.valueFrom?.secretKeyRef) {
      const secret = r.objects.find((o) => o.kind === 'Secret' && o.metadata.name === e.valueFrom?.secretKeyRef?.name);
      assert.ok(secret || e.valueFrom.secretKeyRef.optional, `${e.name}: Secret ${e.valueFrom.secretKeyRef.name} is not optional and not rendered`);
    } else if (e.valueFrom) {
      assert.fail(`${e.name}: unexpected valueFrom ${JSON.stringify(e.valueFrom)}`);
    } else {
      env.set(e.name, (e.value ?? '').replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g,
        (whole, name?: string) => (name === undefined ? '$' : env.get(name) ?? whole)));
    }
  }
  return env;
}

/** Writes a container's mounted ConfigMaps under `dir` and points its args at them. */
function localArgs(r: Rendered, pod: Pod, c: IContainer, dir: string): string[] {
  let args = [...c.args ?? []];
  for (const m of c.volumeMounts ?? []) {
    const vol = pod.spec.volumes?.find((v) => v.name === m.name);
    if (!vol?.configMap) continue;
    const local = path.join(dir, m.mountPath);
    mkdirSync(local, { recursive: true });
    for (const [k, v] of Object.entries(mountedFiles(r, pod, c, m.mountPath))) writeFileSync(path.join(local, k), v);
    args = args.map((a) => (a.startsWith(`${m.mountPath.replace(/\/$/, '')}/`) ? path.join(local, a.slice(m.mountPath.replace(/\/$/, '').length)) : a));
  }
  return args;
}

/** heartbeat's settings in the pod: its args, its env, the config file it mounts, via the app's loader. */
function podConfig(r: Rendered, dir: string, extraEnv: NodeJS.ProcessEnv = {}): Config {
  const loaded = loadConfig(localArgs(r, r.pod, r.heartbeat, dir), { ...Object.fromEntries(environment(r, r.pod, r.heartbeat)), ...extraEnv });
  assert.equal(loaded.kind, 'run');
  return loaded.config;
}

function containerPort(c: IContainer, port: number | string): number {
  if (typeof port === 'number') return port;
  const found = c.ports?.find((p) => p.name === port);
  assert.ok(found, `${c.name} has a port named ${port}`);
  return found.containerPort;
}

const truthy = (v: unknown): boolean => v === true || (typeof v === 'string' && /^(on|true|yes)$/i.test(v));

/** Every key/value in a parsed YAML tree (keys lower-cased, as Fluent Bit reads them). */
function entries(node: unknown, out: [string, unknown][] = []): [string, unknown][] {
  if (Array.isArray(node)) for (const n of node) entries(n, out);
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) { out.push([k.toLowerCase(), v]); entries(v, out); }
  }
  return out;
}

/** Kubernetes quantity (Mi, Gi, M, plain) in bytes. */
function bytes(q: string | number | undefined): number {
  const m = /^([0-9.]+)(Ki|Mi|Gi|k|M|G)?$/.exec(String(q));
  assert.ok(m, `quantity ${String(q)}`);
  const unit = { Ki: 1024, Mi: MI, Gi: 1024 * MI, k: 1e3, M: 1e6, G: 1e9 }[m[2] ?? ''] ?? 1;
  return Number(m[1]) * unit;
}

/** The renders: label -> directory (repo-relative, or built in the test's temp dir). */
function renders(tmp: string): Record<string, string> {
  const collector = 'k8s/components/node-collector';
  const renamed = writeOverlay(path.join(tmp, 'mesh-other', 'heartbeat'), ['k8s/overlays/mesh/heartbeat'], [], 'namespace: hb-mesh');
  return {
    base: 'k8s',
    edge: 'k8s/overlays/edge',
    restricted: 'k8s/overlays/restricted',
    'edge+collector': writeOverlay(path.join(tmp, 'edge-collector'), ['k8s/overlays/edge'], [collector]),
    mesh: 'k8s/overlays/mesh',
    'mesh in another namespace': writeOverlay(path.join(tmp, 'mesh-other', 'top'), [renamed], [collector]),
    // logs over OTLP: components/otlp on the sidecar's base, and on the mesh's collector
    'base+otlp': writeOverlay(path.join(tmp, 'base-otlp'), ['k8s'], [OTLP_COMPONENT]),
    'mesh+otlp': writeOverlay(path.join(tmp, 'mesh-otlp'), ['k8s/overlays/mesh'], [OTLP_COMPONENT]),
  };
}
const OTLP_COMPONENT = 'k8s/components/otlp';
const LABELS = ['base', 'edge', 'restricted', 'edge+collector', 'mesh', 'mesh in another namespace', 'base+otlp', 'mesh+otlp'];
const isOtlp = (label: string): boolean => label.endsWith('+otlp');
const isEdge = (label: string): boolean => label.startsWith('edge');
const isMesh = (label: string): boolean => label.startsWith('mesh');

describe('k8s manifests', function () {
  this.timeout(60_000);
  const rendered = new Map<string, Rendered>();
  let tmp: string;

  before(() => {
    requireTool(kubectl(), KUBECTL_HINT, ['version', '--client']);
    tmp = makeScratch('heartbeat-k8s-');
    for (const [label, dir] of Object.entries(renders(tmp))) rendered.set(label, analyse(render(dir)));
    assert.deepEqual([...rendered.keys()], LABELS);
  });
  after(() => { if (tmp) removeScratch(tmp); });
  const get = (label: string): Rendered => rendered.get(label) as Rendered;

  it('the documented overlay names the operator\'s image (docs/kubernetes.md: first name your image)', () => {
    const dir = writeOverlay(path.join(tmp, 'my-heartbeat'), ['k8s'], [],
      'images:\n  - name: set-your-registry.invalid/heartbeat\n    newName: registry.example.com/heartbeat\n    newTag: 1.2.3');
    assert.equal(analyse(render(dir)).heartbeat.image, 'registry.example.com/heartbeat:1.2.3');
  });

  it('components/otlp changes only where logs go: the destination ConfigMap and the shipper\'s egress rule, nothing else', () => {
    // kustomize's hash suffixes aside (a changed ConfigMap renames itself and its references)
    const byId = (objects: K8sObject[]): Map<string, string> => {
      const hashed = objects.filter((o) => o.kind === 'ConfigMap').map((o) => o.metadata.name);
      return new Map(objects.map((o) => {
        let text = JSON.stringify(o);
        for (const h of hashed) text = text.split(`"${h}"`).join(`"${h.replace(/-[a-z0-9]{10}$/, '')}"`);
        return [`${o.kind}/${o.metadata.name.replace(/-[a-z0-9]{10}$/, '')}`, text];
      }));
    };
    for (const [plain, otlp, changed] of [['base', 'base+otlp', ['ConfigMap/log-destination', 'NetworkPolicy/heartbeat-egress']],
      ['mesh', 'mesh+otlp', ['ConfigMap/collector-log-destination', 'NetworkPolicy/fluent-bit-collector-egress']]] as const) {
      const a = byId(get(plain).objects);
      const b = byId(get(otlp).objects);
      assert.deepEqual([...b.keys()].sort(), [...a.keys()].sort(), `${otlp}: the same objects as ${plain}`);
      assert.deepEqual([...a.keys()].filter((k) => a.get(k) !== b.get(k)).sort(), [...changed].sort(), otlp);
    }
  });

  it('the schema validation is real: a broken Deployment is rejected', async () => {
    const d = structuredClone(get('base').objects.find((o) => o.kind === 'Deployment') as K8sObject);
    const Deployment = await modelFor(d);
    new Deployment(d).validate();
    const spec = d.spec as { template: { spec: { containers: { ports: unknown[] }[] } } };
    (spec.template.spec.containers[0] as { ports: unknown[] }).ports = [{ containerPort: '8080' }];
    assert.throws(() => new Deployment(d).validate(), /containerPort must be integer/);
  });

  it('the Pod Security check is real: the sidecar\'s pod (hostPath) and a root container are refused "restricted"', () => {
    assert.deepEqual(restrictedViolations(get('base').pod.spec), ['volume pod-logs: hostPath', 'volume pod-logs: hostPath']);
    const spec = structuredClone(get('restricted').pod.spec);
    assert.deepEqual(restrictedViolations(spec), []);
    const sc = (spec.containers[0] as IContainer).securityContext as Record<string, unknown>;
    sc.runAsUser = 0;
    delete sc.allowPrivilegeEscalation;
    assert.deepEqual(restrictedViolations(spec), ['container heartbeat: allowPrivilegeEscalation is not false', 'container heartbeat: runAsUser 0']);
  });

  it('heartbeat\'s V8 heap, with the image\'s flags on the image\'s Node, stays under half the pod\'s memory limit', () => {
    const r = get('base');
    const entry = execForm(readDockerfile().stages.at(-1)?.instructions.find((i) => i.op === 'ENTRYPOINT')?.args ?? '') ?? [];
    const flags = entry.filter((a) => a.startsWith('--'));
    assert.ok(flags.some((f) => f.startsWith('--max-old-space-size=')), `the ENTRYPOINT sets the old space: ${entry.join(' ')}`);
    const out = execFileSync(ltsNode(), [...flags, '-p', 'require("v8").getHeapStatistics().heap_size_limit'], { encoding: 'utf8' });
    const heap = Number(out.trim());
    assert.equal(r.heartbeat.resources?.limits?.memory, '256Mi');
    assert.ok(heap <= 112 * MI, `V8 heap limit ${heap / MI} MiB is more than half of 224 MiB`);
  });

  it('Fluent Bit: one pinned release of the 5.1 line for every shipper, set in one place (k8s/components/fluent-bit-image)', () => {
    const files: string[] = [];
    const walk = (dir: string): void => {
      for (const f of readdirSync(dir)) {
        const p = path.join(dir, f);
        if (statSync(p).isDirectory()) walk(p); else if (/\.ya?ml$/.test(f)) files.push(p);
      }
    };
    walk(path.join(ROOT, 'k8s'));
    // (the generated copies of fluent-bit/*.yaml name no image; the Helm chart's values.yaml names the
    // release for Helm users, and test/helm fails unless it is this one)
    const naming = files.filter((f) => /fluent\/fluent-bit|fluent-bit:[0-9]/.test(readFileSync(f, 'utf8').replace(/^\s*#.*$/gm, '')));
    assert.deepEqual(naming.map((f) => path.relative(ROOT, f)), ['k8s/chart/heartbeat/values.yaml', 'k8s/components/fluent-bit-image/kustomization.yaml']);
    const pinned = /newName: fluent\/fluent-bit\s+newTag: ([0-9]+\.[0-9]+\.[0-9]+)/.exec(readFileSync(naming[1] as string, 'utf8'))?.[1];
    assert.ok(pinned, 'fluent-bit-image pins a release');
    assert.equal(pinned.split('.').slice(0, 2).join('.'), KEYS_RELEASE.replace(/^v/, '').split('.').slice(0, 2).join('.'),
      'the pinned line is the one test/data/fluent-bit-keys.yaml was read from');
    for (const [label, r] of rendered) {
      const images = r.objects.flatMap((o) => (['Deployment', 'DaemonSet'].includes(o.kind) ? [podOf(o)] : []))
        .flatMap((p) => [...p.spec.initContainers ?? [], ...p.spec.containers]).map((c) => c.image as string).filter((i) => i.includes('fluent'));
      assert.deepEqual(images, [`fluent/fluent-bit:${pinned}`], label);
    }
  });

  for (const label of LABELS) {
    describe(`render: ${label}`, () => {
      it('every rendered object passes the Kubernetes API schema of its kind, in a rendered namespace; no RBAC', async () => {
        const r = get(label);
        for (const obj of r.objects) {
          const Model = await modelFor(obj);
          assert.doesNotThrow(() => new Model(obj).validate(), `${obj.kind} ${obj.metadata.name}`);
        }
        const namespaces = r.objects.filter((o) => o.kind === 'Namespace').map((o) => o.metadata.name);
        for (const obj of r.objects.filter((o) => o.kind !== 'Namespace')) {
          assert.ok(namespaces.includes(obj.metadata.namespace ?? ''), `${obj.kind} ${obj.metadata.name} is in a rendered namespace`);
        }
        assert.equal(r.workload.metadata.namespace, r.ns);
        assert.deepEqual(r.objects.filter((o) => /Role|ServiceAccount/.test(o.kind)).map((o) => o.kind), [], 'nothing talks to the API');
        for (const p of [r.pod, r.shipper.pod]) assert.equal(p.spec.automountServiceAccountToken, false, 'no API token');
      });

      it('the config file the pod mounts is valid for the app, and with the pod\'s args and env gives logging on', () => {
        const r = get(label);
        const work = path.join(tmp, `${label}-config`);
        const args = localArgs(r, r.pod, r.heartbeat, work);
        const file = args[args.indexOf('--config') + 1];
        assert.ok(file && args.includes('--config'), 'heartbeat is given --config <mounted file>');
        assert.equal(loadConfig(['--config', file], {}).kind, 'run');
        const config = podConfig(r, path.join(tmp, `${label}-pod`));
        assert.equal(config.log, true, 'request logging on: the shipper has lines to ship');
        assert.equal(config.logFormat, isEdge(label) ? 'json' : 'tsv');
      });

      it('probes: startup and readiness on /readyz, liveness on /healthz, on the port heartbeat listens on; the real server answers them', async () => {
        const r = get(label);
        const config = podConfig(r, path.join(tmp, `${label}-probes`));
        const { startupProbe, readinessProbe, livenessProbe } = r.heartbeat;
        assert.equal(startupProbe?.httpGet?.path, '/readyz');
        assert.equal(readinessProbe?.httpGet?.path, '/readyz');
        assert.equal(livenessProbe?.httpGet?.path, '/healthz');
        for (const probe of [startupProbe, readinessProbe, livenessProbe]) {
          assert.equal(containerPort(r.heartbeat, probe?.httpGet?.port as number | string), config.port);
        }
        assert.equal(config.port, defaults().port);
        assert.equal(containerPort(r.heartbeat, r.service.spec?.ports?.[0]?.targetPort as number | string), config.port);
        if (isMesh(label)) return; // the mesh's probe mode sends requests out: its pod is started by the mesh test below
        let hb: Running | undefined;
        try {
          hb = await startServer([...localArgs(r, r.pod, r.heartbeat, path.join(tmp, `${label}-run`)), '--metrics-port', String(await freePort())],
            { env: Object.fromEntries(environment(r, r.pod, r.heartbeat)) });
          for (const probe of [startupProbe, readinessProbe, livenessProbe]) {
            assert.equal((await request(hb.port, 'GET', probe?.httpGet?.path as string)).status, 200, probe?.httpGet?.path);
          }
          assert.equal(await hb.stop(), 0);
        } finally {
          kill(hb);
        }
      });

      it('metrics: on, on a port of their own the Service does not expose, and the prometheus.io annotations point at them', async () => {
        const r = get(label);
        const config = podConfig(r, path.join(tmp, `${label}-metrics`));
        assert.equal(config.metrics, true, 'metrics on');
        assert.notEqual(config.metricsPort, 0);
        const annotations = r.pod.annotations;
        assert.equal(annotations['prometheus.io/scrape'], 'true');
        assert.equal(annotations['prometheus.io/port'], String(config.metricsPort));
        assert.equal(annotations['prometheus.io/path'], config.metricsPath);
        assert.equal(containerPort(r.heartbeat, 'metrics'), config.metricsPort);
        for (const p of r.service.spec?.ports ?? []) {
          assert.notEqual(containerPort(r.heartbeat, p.targetPort as number | string), config.metricsPort, 'the Service keeps metrics inside');
        }
        if (isMesh(label)) return;
        const metricsPort = await freePort();
        let hb: Running | undefined;
        try {
          hb = await startServer([...localArgs(r, r.pod, r.heartbeat, path.join(tmp, `${label}-scrape`)), '--metrics-port', String(metricsPort)],
            { env: Object.fromEntries(environment(r, r.pod, r.heartbeat)) });
          const scrape = await request(metricsPort, 'GET', annotations['prometheus.io/path']);
          assert.equal(scrape.status, 200);
          assert.match(scrape.body.toString(), /^heartbeat_build_info\{/m);
          assert.equal(await hb.stop(), 0);
        } finally {
          kill(hb);
        }
      });

      it('heartbeat runs as the image\'s numeric non-root user, read-only, no privilege escalation, no capabilities, seccomp RuntimeDefault', () => {
        const r = get(label);
        const sc = r.heartbeat.securityContext;
        const user = /^(\d+):(\d+)$/.exec(readDockerfile().stages.at(-1)?.instructions.filter((i) => i.op === 'USER').at(-1)?.args ?? '');
        assert.ok(user, 'the Dockerfile sets USER uid:gid');
        assert.equal(sc?.runAsNonRoot, true);
        assert.equal(sc?.runAsUser, Number(user[1]));
        assert.equal(sc?.runAsGroup, Number(user[2]));
        assert.notEqual(sc?.runAsUser, 0);
        assert.equal(sc?.readOnlyRootFilesystem, true);
        assert.equal(sc?.allowPrivilegeEscalation, false);
        assert.deepEqual(sc?.capabilities?.drop, ['ALL']);
        assert.equal(sc?.capabilities?.add, undefined);
        assert.equal(sc?.seccompProfile?.type ?? r.pod.spec.securityContext?.seccompProfile?.type, 'RuntimeDefault');
        // group 0 (the log files' group) is the sidecar's alone, never heartbeat's
        assert.ok(!(r.pod.spec.securityContext?.supplementalGroups ?? []).includes(0), 'no pod-wide group 0');
        assert.equal(r.pod.spec.automountServiceAccountToken, false, 'no API token in a pod that never calls the API');
      });

      it('service links are off: a Service named heartbeat would inject HEARTBEAT_PORT=tcp://..., which heartbeat rejects', () => {
        const r = get(label);
        const links: NodeJS.ProcessEnv = {};
        for (const s of r.objects.filter((o) => o.kind === 'Service') as unknown as IService[]) {
          const name = (s.metadata?.name ?? '').toUpperCase().replace(/-/g, '_');
          const port = s.spec?.ports?.[0];
          links[`${name}_SERVICE_HOST`] = '10.96.0.42';
          links[`${name}_SERVICE_PORT`] = String(port?.port);
          links[`${name}_PORT`] = `tcp://10.96.0.42:${port?.port}`;
        }
        assert.throws(() => podConfig(r, path.join(tmp, `${label}-links`), links), ConfigError);
        assert.equal(r.pod.spec.enableServiceLinks, false);
      });

      it('resources: requests cpu 100m / memory 128Mi, limit memory 256Mi (from the measured peaks), no CPU limit (no throttling); the shipper\'s from its bounded backlog', () => {
        const r = get(label);
        assert.deepEqual(r.heartbeat.resources, { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } });
        const res = r.shipper.container.resources;
        assert.ok(res?.limits?.cpu && res.requests?.cpu, 'shipper cpu');
        // Fluent Bit's memory at the worst: ~14 MB steady + storage.max_chunks_up chunks of up to
        // 2,048,000 bytes (FLB_INPUT_CHUNK_FS_MAX_SIZE) up at once; request it, limit at twice that
        const service = parseYaml(mountedFiles(r, r.shipper.pod, r.shipper.container, '/fluent-bit/etc/')[r.shipper.config] as string) as { service: Record<string, unknown> };
        const peak = 14e6 + Number(service.service['storage.max_chunks_up']) * 2_048_000;
        assert.ok(bytes(res.requests?.memory) >= peak, `request ${String(res.requests?.memory)} covers the bounded peak ${Math.round(peak / 1e6)} MB`);
        assert.ok(bytes(res.limits?.memory) >= 2 * peak, `limit ${String(res.limits?.memory)} leaves room over ${Math.round(peak / 1e6)} MB`);
      });

      it('terminationGracePeriodSeconds covers preStop + drainTimeout + the sidecar\'s flush', () => {
        const r = get(label);
        const config = podConfig(r, path.join(tmp, `${label}-grace`));
        const preStop = r.heartbeat.lifecycle?.preStop?.sleep?.seconds ?? 0;
        const text = mountedFiles(r, r.shipper.pod, r.shipper.container, '/fluent-bit/etc')[r.shipper.config] as string;
        const service = entries(parseYaml(text)).find(([k, v]) => k === 'service' && v && typeof v === 'object')?.[1];
        const grace = Number(entries(service ?? {}).find(([k]) => k === 'grace')?.[1] ?? 5); // Fluent Bit's default: 5 s
        const grant = r.pod.spec.terminationGracePeriodSeconds ?? 30;
        const flush = r.shipper.kind === 'sidecar' ? grace : 0; // the collector is not in heartbeat's pod
        assert.ok(grant > preStop + config.drainTimeout / 1000 + flush,
          `terminationGracePeriodSeconds ${grant} <= preStop ${preStop} + drain ${config.drainTimeout / 1000} + Fluent Bit grace ${flush}`);
        assert.ok((r.shipper.pod.spec.terminationGracePeriodSeconds ?? 30) > grace, 'the shipper has time to flush');
        assert.ok(config.drainTimeout > 0);
      });

      it(`heartbeat image is pinned to the package version (${pkg.version}) under a registry that never resolves until the operator sets theirs`, () => {
        const image = get(label).heartbeat.image ?? '';
        assert.equal(image.split(':').at(-1), pkg.version);
        assert.match(image.split('/')[0] ?? '', /\.invalid$/, `${image}: the quick start must not pull an image someone else published`);
      });

      it('probes: readiness survives one slow answer, liveness never restarts a pod that is merely busy', () => {
        const { readinessProbe, livenessProbe } = get(label).heartbeat;
        assert.ok((readinessProbe?.failureThreshold ?? 3) >= 3, 'readiness: 3 misses in a row, not one');
        const patience = (livenessProbe?.periodSeconds ?? 10) * (livenessProbe?.failureThreshold ?? 3);
        assert.ok(patience >= 60, `liveness restarts after ${patience} s of silence: at least a minute`);
        assert.ok((livenessProbe?.timeoutSeconds ?? 1) >= 5, 'liveness waits 5 s for an answer');
      });

      it('Fluent Bit shipper: its config from its ConfigMap, health probe on 2020, least privilege, reads only heartbeat\'s own log files', () => {
        const r = get(label);
        const { container: sc, pod, kind } = r.shipper;
        const env = environment(r, pod, sc);
        assert.deepEqual(sc.args, ['-c', '/fluent-bit/etc/$(FLUENT_BIT_CONFIG)'], 'the file is the destination\'s (its ConfigMap)');
        assert.equal(r.shipper.config, `${kind}${isOtlp(label) ? '-otlp' : ''}.yaml`, 'forward unless components/otlp is added');
        assert.deepEqual(expandedArgs(sc, env), ['-c', `/fluent-bit/etc/${r.shipper.config}`]);
        const files = mountedFiles(r, pod, sc, '/fluent-bit/etc/');
        assert.ok(r.shipper.config in files, `its ConfigMap holds ${r.shipper.config}: run npm run k8s:sync`);
        assert.ok(`${kind}.yaml` in files && `${kind}-otlp.yaml` in files, 'both destinations\' files are there: the choice is one ConfigMap value');
        assert.equal(sc.livenessProbe?.httpGet?.path, '/api/v1/health');
        assert.equal(containerPort(sc, sc.livenessProbe.httpGet.port), 2020);
        assert.equal(sc.readinessProbe, undefined, 'a logging hiccup must not take anything out of service');
        assert.equal(sc.env?.find((e) => e.name === 'NODE_NAME')?.valueFrom?.fieldRef?.fieldPath, 'spec.nodeName');
        const prefix = r.shipper.destination === 'otlp' ? 'OTLP' : 'FLUENT_FORWARD';
        assert.match(env.get(`${prefix}_HOST`) ?? '', /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/);
        const destPort = Number(env.get(`${prefix}_PORT`));
        assert.ok(Number.isInteger(destPort) && destPort > 0 && destPort < 65536);
        assert.equal(env.get(`${prefix}_TLS`), 'off', 'TLS is a setting, off for the in-cluster default');
        assert.equal(env.get(`${prefix}_TLS_VERIFY`), 'on', 'and checks the certificate once on');
        assert.equal(env.get('FLUENT_FORWARD_SHARED_KEY'), undefined, 'no shared key unless the Secret log-forward-auth exists');
        assert.equal(env.get('OTLP_HEADER'), undefined, 'no OTLP header unless the Secret log-otlp-auth exists');
        const other = r.shipper.destination === 'otlp' ? 'FLUENT_FORWARD_' : 'OTLP_';
        assert.deepEqual([...env.keys()].filter((k) => k.startsWith(other)), [], `nothing of the other destination (${other}*) is set`);
        if (r.shipper.destination === 'otlp') {
          assert.equal(env.get('OTLP_SERVICE_VERSION'), pkg.version, 'service.version is the package\'s version, as the image\'s tag');
          const byName = new Map((sc.env ?? []).map((e) => [e.name, e.valueFrom?.secretKeyRef]));
          assert.deepEqual(byName.get('OTLP_HEADER'), { name: 'log-otlp-auth', key: 'header', optional: true });
        }
        // host paths: read-only, except the collector's own state directory
        const hostMounts = (sc.volumeMounts ?? []).filter((m) => pod.spec.volumes?.find((v) => v.name === m.name)?.hostPath);
        for (const m of hostMounts) if (m.mountPath !== '/var/fluent-bit') assert.equal(m.readOnly, true, `${m.mountPath} read-only`);
        const ssc = sc.securityContext;
        assert.equal(ssc?.readOnlyRootFilesystem, true);
        assert.equal(ssc?.allowPrivilegeEscalation, false);
        assert.deepEqual(ssc?.capabilities?.drop, ['ALL']);
        assert.equal(ssc?.capabilities?.add, undefined);
        assert.equal(ssc?.seccompProfile?.type ?? pod.spec.securityContext?.seccompProfile?.type, 'RuntimeDefault');
        const logMount = hostMounts.find((m) => env.get('HEARTBEAT_LOG_PATH')?.startsWith(`${m.mountPath.replace(/\/$/, '')}/`));
        assert.ok(logMount, 'the log glob lies under a host path mount');
        const logVolume = pod.spec.volumes?.find((v) => v.name === logMount.name);
        assert.equal(logVolume?.hostPath?.path, '/var/log/pods', 'the kubelet\'s pod log directories, rotated files included');
        if (kind === 'sidecar') {
          assert.ok(pod.spec.initContainers?.includes(sc) && sc.restartPolicy === 'Always', 'native sidecar: up before heartbeat, stopped after it');
          // only this pod's directory is visible: /var/log/pods/<namespace>_<pod>_<uid>
          assert.equal(logMount.subPathExpr, '$(POD_NAMESPACE)_$(POD_NAME)_$(POD_UID)');
          const byName = new Map((sc.env ?? []).map((e) => [e.name, e.valueFrom?.fieldRef?.fieldPath]));
          assert.deepEqual([byName.get('POD_NAME'), byName.get('POD_NAMESPACE'), byName.get('POD_UID')], ['metadata.name', 'metadata.namespace', 'metadata.uid']);
          assert.equal(env.get('HEARTBEAT_LOG_PATH'), `${logMount.mountPath}/${r.heartbeat.name}/*.log*`);
          // not root: group 0 reads the runtime's root:root 0640 files
          assert.equal(ssc?.runAsNonRoot, true);
          assert.ok((ssc?.runAsUser ?? 0) > 0);
          assert.equal(ssc?.runAsGroup, 0);
          // state on an emptyDir at /var/fluent-bit
          const state = sc.volumeMounts?.find((m) => m.mountPath === '/var/fluent-bit');
          assert.ok(state && pod.spec.volumes?.find((v) => v.name === state.name)?.emptyDir, 'emptyDir at /var/fluent-bit');
        } else {
          assert.equal(pod.namespace, COLLECTOR_NAMESPACE);
          assert.equal(logMount.mountPath, '/var/log/pods');
          assert.equal(env.get('HEARTBEAT_LOG_PATH'), `/var/log/pods/${r.ns}_heartbeat-*_*/${r.heartbeat.name}/*.log*`,
            'heartbeat\'s namespace, pods and container only');
          assert.deepEqual(Object.keys(Object.fromEntries(env)).filter((k) => k.startsWith('POD_')), [], 'pod and namespace come from the file path');
          const state = sc.volumeMounts?.find((m) => m.mountPath === '/var/fluent-bit');
          const stateVolume = pod.spec.volumes?.find((v) => v.name === state?.name);
          assert.equal(stateVolume?.hostPath?.type, 'DirectoryOrCreate', 'buffer and offsets on the node: a restarted collector resumes');
          assert.notEqual(stateVolume.hostPath.path, '/var/log/pods');
          const ds = r.objects.find((o) => o.kind === 'DaemonSet' && o.metadata.name === 'fluent-bit-collector') as { spec: { template: { spec: IPodSpec } } } | undefined;
          assert.deepEqual(ds?.spec.template.spec.tolerations, [{ operator: 'Exists' }], 'on every node heartbeat may run on');
        }
      });

      it('every ${VAR} in the Fluent Bit files the shipper loads is set in its env; paths it writes are writable, files it reads are mounted', () => {
        const r = get(label);
        const { container, pod } = r.shipper;
        const env = environment(r, pod, container);
        const files = mountedFiles(r, pod, container, '/fluent-bit/etc/');
        const writable = (container.volumeMounts ?? []).filter((m) => !m.readOnly).map((m) => m.mountPath.replace(/\/$/, ''));
        const toLoad = [path.posix.basename(expandedArgs(container, env)[1] ?? '')];
        const loaded = new Set<string>();
        while (toLoad.length) {
          const name = toLoad.shift() as string;
          if (loaded.has(name)) continue;
          const text = files[name];
          assert.ok(text !== undefined, `the shipper loads ${name}, which its ConfigMap does not hold: run npm run k8s:sync`);
          loaded.add(name);
          for (const m of text.replace(/^\s*#.*$/gm, '').matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)) {
            // the Secrets' FLUENT_FORWARD_SHARED_KEY and OTLP_HEADER may stay unset (an empty value leaves the setting off)
            if (m[1] === 'FLUENT_FORWARD_SHARED_KEY' || m[1] === 'OTLP_HEADER') continue;
            assert.ok(env.has(m[1] as string), `${name} uses \${${m[1]}}, which the shipper's env does not set`);
          }
          if (!/\.ya?ml$/.test(name)) continue;
          for (const [k, value] of entries(parseYaml(text))) {
            for (const v of Array.isArray(value) ? value : [value]) {
              if (typeof v !== 'string') continue;
              if (k === 'storage.path' || k === 'db') {
                assert.ok(writable.some((w) => v.startsWith(`${w}/`)), `${name}: ${k} ${v} is not on a writable volume`);
              }
              if (['parsers_file', 'plugins_file', 'streams_file', 'includes', 'script'].includes(k)) {
                toLoad.push(v.startsWith('/fluent-bit/etc/') ? v.slice('/fluent-bit/etc/'.length) : v);
              }
            }
          }
        }
        assert.ok(loaded.has('parsers.yaml'));
        const svc = new Map(entries(entries(parseYaml(files[r.shipper.config] as string)).find(([k]) => k === 'service')?.[1] ?? {}));
        assert.ok(truthy(svc.get('http_server')) && truthy(svc.get('health_check')), 'the liveness probe needs the health check');
        assert.equal(Number(svc.get('http_port') ?? 2020), 2020);
      });

      it('Pod Security: with the sidecar, "privileged" (its hostPath) warning on "restricted"; without, every heartbeat pod meets "restricted"', () => {
        const r = get(label);
        const labels = r.namespace.metadata?.labels ?? {};
        assert.equal(labels['pod-security.kubernetes.io/warn'], 'restricted');
        if (r.shipper.kind === 'sidecar') {
          assert.equal(labels['pod-security.kubernetes.io/enforce'], 'privileged');
          // everything but the hostPath meets "restricted"
          assert.deepEqual(restrictedViolations(r.pod.spec).filter((v) => !v.includes('hostPath')), []);
          return;
        }
        assert.equal(labels['pod-security.kubernetes.io/enforce'], 'restricted');
        const pods = r.objects.filter((o) => o.metadata.namespace === r.ns && ['Deployment', 'DaemonSet', 'StatefulSet', 'Job', 'CronJob', 'Pod', 'ReplicaSet'].includes(o.kind));
        assert.ok(pods.length >= 1);
        for (const o of pods) {
          const spec = podOf(o).spec;
          assert.deepEqual(restrictedViolations(spec), [], `${o.kind} ${o.metadata.name}`);
          assert.ok(!(spec.volumes ?? []).some((v) => v.hostPath), 'no hostPath in heartbeat\'s namespace');
          for (const c of [...spec.initContainers ?? [], ...spec.containers]) {
            assert.notEqual(c.securityContext?.runAsUser ?? spec.securityContext?.runAsUser, 0, `${c.name}: no uid 0 in heartbeat's namespace`);
          }
        }
        // the privileged level stays in the collector's own namespace
        const cns = r.objects.find((o) => o.kind === 'Namespace' && o.metadata.name === COLLECTOR_NAMESPACE);
        assert.equal(cns?.metadata.labels?.['pod-security.kubernetes.io/enforce'], 'privileged');
        assert.deepEqual(r.objects.filter((o) => o.metadata.namespace === r.ns && o.metadata.name.startsWith('fluent-bit')).map((o) => o.kind), [],
          'nothing of the sidecar is left in heartbeat\'s namespace');
      });

      it('egress NetworkPolicy for the shipper: DNS and the aggregator\'s namespace and port, nothing else', () => {
        const r = get(label);
        const { pod, container } = r.shipper;
        const env = environment(r, pod, container);
        const policies = r.objects.filter((o) => o.kind === 'NetworkPolicy' && o.metadata.namespace === pod.namespace) as unknown as INetworkPolicy[];
        const selecting = policies.filter((p) => Object.entries(p.spec?.podSelector.matchLabels ?? {}).every(([k, v]) =>
          (r.shipper.kind === 'sidecar' ? r.workload.spec.template.metadata.labels : { 'app.kubernetes.io/name': 'fluent-bit-collector' } as Record<string, string>)[k] === v));
        assert.equal(selecting.length, 1, 'one policy selects the shipper\'s pods');
        const policy = selecting[0] as INetworkPolicy;
        assert.deepEqual(policy.spec?.policyTypes, ['Egress']);
        const rules = policy.spec?.egress ?? [];
        assert.equal(rules.length, 2);
        const dns = rules.find((e) => e.ports?.some((p) => p.port === 53));
        assert.deepEqual(dns?.ports?.map((p) => `${p.protocol}/${p.port}`).sort(), ['TCP/53', 'UDP/53']);
        const agg = rules.find((e) => e !== dns);
        const prefix = r.shipper.destination === 'otlp' ? 'OTLP' : 'FLUENT_FORWARD';
        assert.deepEqual(agg?.ports, [{ protocol: 'TCP', port: Number(env.get(`${prefix}_PORT`)) }]);
        // the aggregator's namespace is the one its Service name is in: <service>.<namespace>.svc...
        const aggNs = /^[^.]+\.([^.]+)\.svc/.exec(env.get(`${prefix}_HOST`) ?? '')?.[1];
        assert.deepEqual(agg?.to?.map((t) => t.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name']), [aggNs]);
      });

      it(isEdge(label) ? 'edge: a NodePort on 31080 to heartbeat\'s port' : 'a ClusterIP Service to heartbeat\'s port', () => {
        const r = get(label);
        const port = r.service.spec?.ports?.find((p) => containerPort(r.heartbeat, p.targetPort as number | string) === defaults().port);
        assert.ok(port, 'a Service port targets heartbeat');
        // the UDP echo responder: the same port number, in the pod and in the Service (a prober's datagrams go to the HTTP port number)
        const udp = r.service.spec?.ports?.find((p) => p.protocol === 'UDP');
        assert.deepEqual([udp?.port, udp?.nodePort], [port.port, port.nodePort], 'UDP on the Service\'s http port (and nodePort)');
        const udpContainer = r.heartbeat.ports?.find((p) => p.name === udp?.targetPort);
        assert.deepEqual([udpContainer?.protocol, udpContainer?.containerPort], ['UDP', defaults().port]);
        assert.equal(podConfig(r, path.join(tmp, `${label}-udp-config`)).udpEcho, true, 'the responder is on in the pod');
        assert.deepEqual(r.service.spec?.selector, r.workload.spec.selector.matchLabels);
        if (isEdge(label)) {
          assert.equal(r.service.spec?.type, 'NodePort');
          assert.equal(port.nodePort, 31080);
        } else {
          assert.equal(r.service.spec?.type, 'ClusterIP');
        }
      });
    });
  }

  describe('the mesh', () => {
    for (const label of LABELS.filter(isMesh)) {
      it(`${label}: a DaemonSet with the Deployment's container, probes, security and resources, and a headless heartbeat-peers of ready pods`, () => {
        const r = get(label);
        const base = get('restricted');
        assert.equal(r.workload.kind, 'DaemonSet');
        const strip = (c: IContainer): IContainer => ({ ...c, env: (c.env ?? []).filter((e) => !/^(HEARTBEAT_PROBE_|POD_NAMESPACE$)/.test(e.name)) });
        assert.deepEqual(strip(r.heartbeat), strip(base.heartbeat));
        assert.deepEqual({ ...r.pod.spec, containers: [] }, { ...base.pod.spec, containers: [] });
        assert.deepEqual(r.pod.annotations, base.pod.annotations);
        const peers = r.objects.find((o) => o.kind === 'Service' && o.metadata.name === 'heartbeat-peers') as unknown as IService | undefined;
        assert.ok(peers, 'Service heartbeat-peers');
        assert.equal(peers.metadata?.namespace, r.ns);
        assert.equal(peers.spec?.clusterIP, 'None', 'headless: its DNS name resolves to every pod');
        assert.equal(peers.spec?.publishNotReadyAddresses, false, 'ready pods only');
        assert.deepEqual(peers.spec?.selector, r.workload.spec.selector.matchLabels);
        assert.ok(Object.entries(peers.spec?.selector ?? {}).every(([k, v]) => r.workload.spec.template.metadata.labels[k] === v));
        assert.deepEqual(peers.spec?.ports?.map((p) => [p.protocol, p.port, containerPort(r.heartbeat, p.targetPort as number | string)]),
          [['TCP', 8080, 8080], ['UDP', 8080, 8080]], 'http, and the UDP echo the probers\' datagrams go to');
        assert.equal(environment(r, r.pod, r.heartbeat).get('HEARTBEAT_PROBE_UDP'), '20', 'the mesh measures loss by direction');
        assert.equal(r.pod.spec.hostNetwork, undefined, 'pod network (docs/kubernetes.md: hostNetwork and what it implies)');
      });

      it(`${label}: probe mode points at http://heartbeat-peers.<its namespace>.svc.cluster.local:8080, with the mesh's interval and sizes`, () => {
        const r = get(label);
        const env = environment(r, r.pod, r.heartbeat);
        const port = containerPort(r.heartbeat, 'http');
        assert.equal(env.get('HEARTBEAT_PROBE_TARGETS'), `http://heartbeat-peers.${r.ns}.svc.cluster.local:${port}`);
        assert.equal(r.ns, label === 'mesh in another namespace' ? 'hb-mesh' : 'heartbeat');
        assert.equal(env.get('HEARTBEAT_PROBE_INTERVAL'), '10000');
        assert.equal(env.get('HEARTBEAT_PROBE_SIZES'), '1,16384');
        assert.equal(env.get('HEARTBEAT_PROBE_CONNECTION'), 'new');
        assert.ok(Number(env.get('HEARTBEAT_PROBE_TIMEOUT')) < Number(env.get('HEARTBEAT_PROBE_INTERVAL')), 'a round ends before the next');
        assert.ok(Number(env.get('HEARTBEAT_PROBE_MAX_PEERS')) > 0);
        // the collector reads the renamed namespace's pods
        assert.equal(environment(r, r.shipper.pod, r.shipper.container).get('HEARTBEAT_LOG_PATH')?.split('/')[4]?.split('_')[0], r.ns);
      });

      it(`${label}: the app reads the mesh's probe settings`, () => {
        const r = get(label);
        const config = podConfig(r, path.join(tmp, `${label}-probe-config`)) as unknown as Record<string, unknown>;
        assert.deepEqual(config.probeTargets, [`http://heartbeat-peers.${r.ns}.svc.cluster.local:8080`]);
        assert.equal(config.probeInterval, 10000);
        assert.equal(config.probeConnection, 'new');
        assert.equal(config.metrics, true, 'each node\'s view of the others reaches Prometheus');
      });
    }
  });
});
