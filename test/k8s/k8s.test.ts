/**
 * The Kubernetes manifests: rendered with the real `kubectl kustomize` (base and the edge
 * overlay), every object checked against the Kubernetes API schemas (kubernetes-models), and the
 * pod's contract with the app checked with the app's own code: its config loader, its defaults,
 * the real server answering the probes, the Fluent Bit files the sidecar is given.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { INamespace } from 'kubernetes-models/v1/Namespace';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import type { IService } from 'kubernetes-models/v1/Service';
import { parse as parseYaml } from 'yaml';
import { ConfigError, loadConfig } from '../../src/config/load';
import { defaults, type Config } from '../../src/config/schema';
import { readDockerfile, render, type K8sObject } from '../helpers/deploy';
import { KUBECTL_HINT, ltsNode, requireTool } from '../helpers/tools';
import { ROOT, freePort, kill, request, startServer, type Running } from '../helpers/server';

const MI = 1024 * 1024;
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
/** What the downward API gives in these tests. */
const POD = { name: 'heartbeat-5d8f7c9b6-x2x7q', node: 'edge-node-1' };

interface Model { validate(): void }
type ModelClass = new (data: unknown) => Model;

/** The kubernetes-models class for an object's apiVersion and kind (e.g. apps/v1 Deployment). */
async function modelFor(obj: K8sObject): Promise<ModelClass> {
  const group = (await import(`kubernetes-models/${obj.apiVersion}`)) as Record<string, ModelClass | undefined>;
  const cls = group[obj.kind];
  if (!cls) throw new Error(`kubernetes-models has no ${obj.apiVersion} ${obj.kind}`);
  return cls;
}

interface Rendered {
  objects: K8sObject[];
  namespace: INamespace;
  deployment: IDeployment;
  pod: IPodSpec;
  heartbeat: IContainer;
  sidecar: IContainer;
  service: IService;
  configMaps: Map<string, IConfigMap>;
}

function analyse(objects: K8sObject[]): Rendered {
  const one = <T>(kind: string): T => {
    const found = objects.filter((o) => o.kind === kind);
    assert.equal(found.length, 1, `exactly one ${kind}`);
    return found[0] as unknown as T;
  };
  const deployment = one<IDeployment>('Deployment');
  const pod = deployment.spec?.template.spec as IPodSpec;
  const heartbeat = pod.containers.find((c) => c.name === 'heartbeat');
  const sidecar = [...pod.initContainers ?? [], ...pod.containers].find((c) => c.name === 'fluent-bit');
  assert.ok(heartbeat, 'a container named heartbeat');
  assert.ok(sidecar, 'a container named fluent-bit');
  const configMaps = new Map(objects.filter((o) => o.kind === 'ConfigMap')
    .map((o) => [o.metadata.name, o as unknown as IConfigMap]));
  return { objects, namespace: one('Namespace'), deployment, pod, heartbeat, sidecar, service: one('Service'), configMaps };
}

/** The files of the ConfigMap volume a container mounts at `mountPath`. */
function mountedFiles(r: Rendered, container: IContainer, mountPath: string): Record<string, string> {
  const norm = (p: string): string => p.replace(/\/+$/, '');
  const mount = container.volumeMounts?.find((m) => norm(m.mountPath) === norm(mountPath));
  assert.ok(mount, `${container.name} mounts something at ${mountPath}`);
  const volume = r.pod.volumes?.find((v) => v.name === mount.name);
  assert.ok(volume?.configMap?.name, `${mountPath} is a ConfigMap volume`);
  const cm = r.configMaps.get(volume.configMap.name);
  assert.ok(cm, `ConfigMap ${volume.configMap.name} is rendered`);
  return cm.data ?? {};
}

/**
 * A container's environment as the kubelet builds it: in order, `$(VAR)` expanding only
 * variables defined above, downward-API fields and ConfigMap keys resolved.
 */
function environment(r: Rendered, container: IContainer): Map<string, string> {
  const env = new Map<string, string>();
  const fields: Record<string, string> = {
    'metadata.name': POD.name,
    'metadata.namespace': r.deployment.metadata?.namespace ?? 'default',
    'spec.nodeName': POD.node,
  };
  for (const e of container.env ?? []) {
    if (e.valueFrom?.fieldRef) {
      const v = fields[e.valueFrom.fieldRef.fieldPath];
      assert.ok(v !== undefined, `${e.name}: downward API field ${e.valueFrom.fieldRef.fieldPath}`);
      env.set(e.name, v);
    } else if (e.valueFrom?.configMapKeyRef) {
      const { name, key } = e.valueFrom.configMapKeyRef;
      const v = r.configMaps.get(name ?? '')?.data?.[key];
      assert.ok(v !== undefined, `${e.name}: ConfigMap ${name} has no key ${key}`);
      env.set(e.name, v);
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
function localArgs(r: Rendered, c: IContainer, dir: string): string[] {
  let args = [...c.args ?? []];
  for (const m of c.volumeMounts ?? []) {
    const vol = r.pod.volumes?.find((v) => v.name === m.name);
    if (!vol?.configMap) continue;
    const local = path.join(dir, m.mountPath);
    mkdirSync(local, { recursive: true });
    for (const [k, v] of Object.entries(mountedFiles(r, c, m.mountPath))) writeFileSync(path.join(local, k), v);
    args = args.map((a) => (a.startsWith(`${m.mountPath}/`) ? path.join(local, a.slice(m.mountPath.length)) : a));
  }
  return args;
}

/** heartbeat's settings in the pod: its args, its env, the config file it mounts, via the app's loader. */
function podConfig(r: Rendered, dir: string, extraEnv: NodeJS.ProcessEnv = {}): Config {
  const loaded = loadConfig(localArgs(r, r.heartbeat, dir), { ...Object.fromEntries(environment(r, r.heartbeat)), ...extraEnv });
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

const RENDERS = { base: 'k8s', edge: 'k8s/overlays/edge' } as const;

describe('k8s manifests', function () {
  this.timeout(30_000);
  const rendered = new Map<string, Rendered>();
  let tmp: string;

  before(() => {
    requireTool('kubectl', KUBECTL_HINT, ['version', '--client']);
    tmp = mkdtempSync(path.join(os.tmpdir(), 'heartbeat-k8s-'));
    for (const [label, dir] of Object.entries(RENDERS)) rendered.set(label, analyse(render(dir)));
  });
  after(() => { if (tmp) rmSync(tmp, { recursive: true, force: true }); });
  const get = (label: string): Rendered => rendered.get(label) as Rendered;

  it('the schema validation is real: a broken Deployment is rejected', async () => {
    const d = structuredClone(get('base').objects.find((o) => o.kind === 'Deployment') as K8sObject);
    const Deployment = await modelFor(d);
    new Deployment(d).validate();
    const spec = (d as unknown as IDeployment).spec as { template: { spec: { containers: { ports: unknown[] }[] } } };
    (spec.template.spec.containers[0] as { ports: unknown[] }).ports = [{ containerPort: '8080' }];
    assert.throws(() => new Deployment(d).validate(), /containerPort must be integer/);
  });

  it('heartbeat\'s V8 heap, with the pod\'s NODE_OPTIONS on the container\'s Node, fits the memory limit with room for Node', () => {
    const r = get('base');
    const options = environment(r, r.heartbeat).get('NODE_OPTIONS');
    assert.ok(options, 'NODE_OPTIONS is set');
    const out = execFileSync(ltsNode(), ['-p', 'require("v8").getHeapStatistics().heap_size_limit'],
      { encoding: 'utf8', env: { NODE_OPTIONS: options } });
    const heap = Number(out.trim());
    const limit = r.heartbeat.resources?.limits?.memory;
    assert.equal(limit, '128Mi');
    // Node itself (code, libuv, socket buffers, the payload buffer) needs ~25-40 MiB beside the heap.
    assert.ok(heap <= 128 * MI - 40 * MI, `V8 heap limit ${heap / MI} MiB leaves too little of 128 MiB`);
  });

  for (const [label, dir] of Object.entries(RENDERS)) {
    describe(`kubectl kustomize ${dir}`, () => {
      it('every rendered object passes the Kubernetes API schema of its kind', async () => {
        const r = get(label);
        for (const obj of r.objects) {
          const Model = await modelFor(obj);
          assert.doesNotThrow(() => new Model(obj).validate(), `${obj.kind} ${obj.metadata.name}`);
        }
        const ns = r.namespace.metadata?.name;
        for (const obj of r.objects.filter((o) => o.kind !== 'Namespace')) {
          assert.equal(obj.metadata.namespace, ns, `${obj.kind} ${obj.metadata.name} is in namespace ${ns}`);
        }
      });

      it('the config file the pod mounts is valid for the app, and with the pod\'s args and env gives logging on', () => {
        const r = get(label);
        const work = path.join(tmp, `${label}-config`);
        const args = localArgs(r, r.heartbeat, work);
        const file = args[args.indexOf('--config') + 1];
        assert.ok(file && args.includes('--config'), 'heartbeat is given --config <mounted file>');
        assert.equal(loadConfig(['--config', file], {}).kind, 'run');
        const config = podConfig(r, path.join(tmp, `${label}-pod`));
        assert.equal(config.log, true, 'request logging on: the sidecar has lines to ship');
        assert.equal(config.logFormat, label === 'edge' ? 'json' : 'tsv');
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
        // the service sends traffic to the same port
        assert.equal(containerPort(r.heartbeat, r.service.spec?.ports?.[0]?.targetPort as number | string), config.port);

        // start the compiled server exactly as the pod does (its args, env and config file), on a free port
        let hb: Running | undefined;
        try {
          // (metrics moved off their fixed port to a free one, so parallel runs cannot clash)
          hb = await startServer([...localArgs(r, r.heartbeat, path.join(tmp, `${label}-run`)), '--metrics-port', String(await freePort())],
            { env: Object.fromEntries(environment(r, r.heartbeat)) });
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
        assert.equal(config.metrics, true, 'the base enables metrics');
        assert.notEqual(config.metricsPort, 0);
        const annotations = r.deployment.spec?.template.metadata?.annotations ?? {};
        assert.equal(annotations['prometheus.io/scrape'], 'true');
        assert.equal(annotations['prometheus.io/port'], String(config.metricsPort));
        assert.equal(annotations['prometheus.io/path'], config.metricsPath);
        assert.equal(containerPort(r.heartbeat, 'metrics'), config.metricsPort);
        for (const p of r.service.spec?.ports ?? []) {
          assert.notEqual(containerPort(r.heartbeat, p.targetPort as number | string), config.metricsPort, 'the Service keeps metrics inside');
        }
        // The real server, as the pod runs it (metrics moved to a free port), answers the scrape.
        const metricsPort = await freePort();
        let hb: Running | undefined;
        try {
          hb = await startServer([...localArgs(r, r.heartbeat, path.join(tmp, `${label}-scrape`)), '--metrics-port', String(metricsPort)],
            { env: Object.fromEntries(environment(r, r.heartbeat)) });
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
        assert.equal(sc?.seccompProfile?.type ?? r.pod.securityContext?.seccompProfile?.type, 'RuntimeDefault');
        assert.equal(r.pod.automountServiceAccountToken, false, 'no API token in a pod that never calls the API');
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
        assert.equal(r.pod.enableServiceLinks, false);
      });

      it('resources as the Go pod: requests cpu 100m / memory 64Mi, limits cpu 200m / memory 128Mi; the sidecar has its own', () => {
        const r = get(label);
        assert.deepEqual(r.heartbeat.resources, { requests: { cpu: '100m', memory: '64Mi' }, limits: { cpu: '200m', memory: '128Mi' } });
        assert.ok(r.sidecar.resources?.limits?.memory && r.sidecar.resources.limits.cpu, 'sidecar limits');
        assert.ok(r.sidecar.resources.requests?.memory && r.sidecar.resources.requests.cpu, 'sidecar requests');
      });

      it('terminationGracePeriodSeconds covers preStop + drainTimeout + the sidecar\'s flush', () => {
        const r = get(label);
        const config = podConfig(r, path.join(tmp, `${label}-grace`));
        const preStop = r.heartbeat.lifecycle?.preStop?.sleep?.seconds ?? 0;
        const sidecarYaml = mountedFiles(r, r.sidecar, '/fluent-bit/etc')['sidecar.yaml'];
        const service = sidecarYaml === undefined ? undefined
          : entries(parseYaml(sidecarYaml)).find(([k, v]) => k === 'service' && v && typeof v === 'object')?.[1];
        const grace = Number(entries(service ?? {}).find(([k]) => k === 'grace')?.[1] ?? 5); // Fluent Bit's default: 5 s
        const grant = r.pod.terminationGracePeriodSeconds ?? 30;
        assert.ok(grant > preStop + config.drainTimeout / 1000 + grace,
          `terminationGracePeriodSeconds ${grant} <= preStop ${preStop} + drain ${config.drainTimeout / 1000} + Fluent Bit grace ${grace}`);
        assert.ok(config.drainTimeout > 0);
      });

      it(`heartbeat image is pinned to the package version (${pkg.version})`, () => {
        assert.equal(get(label).heartbeat.image?.split(':').at(-1), pkg.version);
      });

      it('Fluent Bit sidecar: pinned official image, native sidecar, sidecar.yaml from the ConfigMap, health probe on 2020', () => {
        const r = get(label);
        const sc = r.sidecar;
        assert.match(sc.image ?? '', /^fluent\/fluent-bit:\d+\.\d+\.\d+$/);
        assert.ok(r.pod.initContainers?.includes(sc) && sc.restartPolicy === 'Always',
          'an init container with restartPolicy Always: up before heartbeat, stopped after it');
        assert.deepEqual(sc.args, ['-c', '/fluent-bit/etc/sidecar.yaml']);
        const files = mountedFiles(r, sc, '/fluent-bit/etc/');
        assert.ok('sidecar.yaml' in files,
          `the fluent-bit ConfigMap holds no sidecar.yaml (has: ${Object.keys(files).join(', ') || 'nothing'}): add fluent-bit/sidecar.yaml and run npm run k8s:sync`);
        assert.equal(sc.livenessProbe?.httpGet?.path, '/api/v1/health');
        assert.equal(containerPort(sc, sc.livenessProbe.httpGet.port), 2020);
        assert.equal(sc.readinessProbe, undefined, 'a logging hiccup must not take heartbeat out of service');
      });

      it('Fluent Bit sidecar: downward API, this pod\'s log path, forward target, read-only host logs, emptyDir state', () => {
        const r = get(label);
        const sc = r.sidecar;
        const byName = new Map((sc.env ?? []).map((e) => [e.name, e]));
        assert.equal(byName.get('POD_NAME')?.valueFrom?.fieldRef?.fieldPath, 'metadata.name');
        assert.equal(byName.get('POD_NAMESPACE')?.valueFrom?.fieldRef?.fieldPath, 'metadata.namespace');
        assert.equal(byName.get('NODE_NAME')?.valueFrom?.fieldRef?.fieldPath, 'spec.nodeName');
        const env = environment(r, sc);
        // the kubelet's link for this pod's heartbeat container: <pod>_<namespace>_<container>-<id>.log
        assert.equal(env.get('HEARTBEAT_LOG_PATH'),
          `/var/log/containers/${POD.name}_${r.namespace.metadata?.name}_${r.heartbeat.name}-*.log`);
        assert.match(env.get('FLUENT_FORWARD_HOST') ?? '', /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/);
        const fwdPort = Number(env.get('FLUENT_FORWARD_PORT'));
        assert.ok(Number.isInteger(fwdPort) && fwdPort > 0 && fwdPort < 65536);

        // host paths: read-only, and the log path lies under one
        const hostMounts = (sc.volumeMounts ?? []).filter((m) => r.pod.volumes?.find((v) => v.name === m.name)?.hostPath);
        assert.ok(hostMounts.length > 0);
        for (const m of hostMounts) assert.equal(m.readOnly, true, `${m.mountPath} read-only`);
        assert.ok(hostMounts.some((m) => env.get('HEARTBEAT_LOG_PATH')?.startsWith(`${m.mountPath.replace(/\/$/, '')}/`)));
        // state (tail offsets, buffer) on an emptyDir at /var/fluent-bit
        const state = sc.volumeMounts?.find((m) => m.mountPath === '/var/fluent-bit');
        assert.ok(state && r.pod.volumes?.find((v) => v.name === state.name)?.emptyDir, 'emptyDir at /var/fluent-bit');

        const ssc = sc.securityContext;
        assert.equal(ssc?.readOnlyRootFilesystem, true);
        assert.equal(ssc?.allowPrivilegeEscalation, false);
        assert.deepEqual(ssc?.capabilities?.drop, ['ALL']);
        assert.equal(ssc?.seccompProfile?.type ?? r.pod.securityContext?.seccompProfile?.type, 'RuntimeDefault');
      });

      it('every ${VAR} in the Fluent Bit files the sidecar loads is set in its env; paths it writes are writable, files it reads are mounted', () => {
        const r = get(label);
        const env = environment(r, r.sidecar);
        const files = mountedFiles(r, r.sidecar, '/fluent-bit/etc/');
        const writable = (r.sidecar.volumeMounts ?? []).filter((m) => !m.readOnly).map((m) => m.mountPath.replace(/\/$/, ''));
        // from the -c file, follow what it loads (other files in fluent-bit/, e.g. a laptop config, are not loaded)
        const toLoad = [path.posix.basename(r.sidecar.args?.[1] ?? '')];
        const loaded = new Set<string>();
        while (toLoad.length) {
          const name = toLoad.shift() as string;
          if (loaded.has(name)) continue;
          const text = files[name];
          assert.ok(text !== undefined, `the sidecar loads ${name}, which its ConfigMap does not hold: run npm run k8s:sync`);
          loaded.add(name);
          for (const m of text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)) {
            assert.ok(env.has(m[1] as string), `${name} uses \${${m[1]}}, which the sidecar's env does not set`);
          }
          if (!/\.ya?ml$/.test(name)) continue;
          for (const [key, value] of entries(parseYaml(text))) {
            for (const v of Array.isArray(value) ? value : [value]) {
              if (typeof v !== 'string') continue;
              if (key === 'storage.path' || key === 'db') {
                assert.ok(writable.some((w) => v.startsWith(`${w}/`)), `${name}: ${key} ${v} is not on a writable volume`);
              }
              if (['parsers_file', 'plugins_file', 'streams_file', 'includes', 'script'].includes(key)) {
                toLoad.push(v.startsWith('/fluent-bit/etc/') ? v.slice('/fluent-bit/etc/'.length) : v);
              }
            }
          }
          if (name === 'sidecar.yaml') {
            const service = entries(parseYaml(text)).find(([k, v]) => k === 'service' && v && typeof v === 'object')?.[1] ?? {};
            const svc = new Map(entries(service));
            assert.ok(truthy(svc.get('http_server')), 'sidecar.yaml: service.http_server on (the liveness probe needs it)');
            assert.ok(truthy(svc.get('health_check')), 'sidecar.yaml: service.health_check on (/api/v1/health)');
            assert.equal(Number(svc.get('http_port') ?? 2020), 2020);
          }
        }
      });

      it('the namespace\'s Pod Security level admits the pod (hostPath needs "privileged") and warns against "restricted"', () => {
        const r = get(label);
        const labels = r.namespace.metadata?.labels ?? {};
        const usesHostPath = (r.pod.volumes ?? []).some((v) => v.hostPath);
        assert.equal(labels['pod-security.kubernetes.io/enforce'], usesHostPath ? 'privileged' : 'restricted');
        assert.equal(labels['pod-security.kubernetes.io/warn'], 'restricted');
      });

      it(label === 'edge' ? 'edge: a NodePort on 31080 to heartbeat\'s port' : 'base: a ClusterIP Service to heartbeat\'s port', () => {
        const r = get(label);
        const port = r.service.spec?.ports?.find((p) => containerPort(r.heartbeat, p.targetPort as number | string) === defaults().port);
        assert.ok(port, 'a Service port targets heartbeat');
        assert.deepEqual(r.service.spec?.selector, r.deployment.spec?.selector.matchLabels);
        if (label === 'edge') {
          assert.equal(r.service.spec?.type, 'NodePort');
          assert.equal(port.nodePort, 31080);
        } else {
          assert.equal(r.service.spec?.type, 'ClusterIP');
        }
      });
    });
  }
});
