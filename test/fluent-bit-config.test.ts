/**
 * fluent-bit/sidecar.yaml, fluent-bit/collector.yaml and fluent-bit/local.yaml: valid pipelines
 * whose references resolve (parsers file, parser names, tags), which use only the environment the
 * manifests set and docs/fluent-bit.md documents, keep what delivery relies on (acknowledgements,
 * unlimited retries, bounded memory and disk, the listen address), read exactly the files meant
 * (globs matched against a fake node tree with rotated files), and turn the lines the docs show
 * into the records the docs show, through the sidecar and through the node collector alike.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { formatLifecycle, formatProbe, formatRequest } from '../src/log/format';
import {
  FLUENT_BIT_DIR, type FbMap, type Parsed, type Parser, criRecord, fbBool, loadOniguruma, pipelineParsers, plain, readYaml,
  runFilters, tagMatches, values,
} from './helpers/fluentbit';
import { ROOT } from './helpers/server';
import { makeScratch, removeScratch } from '../scripts/scratch';

type Section = Record<string, unknown>;
interface Pipeline { service: Section; parsers?: Section[]; pipeline: { inputs: Section[]; filters: Section[]; outputs: Section[] } }

const FORWARD_ENV = ['FLUENT_FORWARD_HOST', 'FLUENT_FORWARD_PORT', 'FLUENT_FORWARD_TLS', 'FLUENT_FORWARD_TLS_VERIFY', 'FLUENT_FORWARD_SHARED_KEY'];
/** The variables the k8s manifests set for each pipeline, and local.yaml's. */
const ENV: Record<string, string[]> = {
  'sidecar.yaml': ['HEARTBEAT_LOG_PATH', ...FORWARD_ENV, 'POD_NAME', 'POD_NAMESPACE', 'NODE_NAME'],
  'collector.yaml': ['HEARTBEAT_LOG_PATH', ...FORWARD_ENV, 'NODE_NAME'],
  'local.yaml': ['HEARTBEAT_LOG_FILE'],
};
const SHIPPERS = ['sidecar.yaml', 'collector.yaml'] as const;
/** The pod docs/fluent-bit.md's examples are set in. */
const EXAMPLE_ENV = { POD_NAME: 'heartbeat-7c9d5b8f4-x2x7q', POD_NAMESPACE: 'heartbeat', NODE_NAME: 'edge-ber-01' };
const EXAMPLE_UID = '3f1c6b7e-9a2d-4c1b-8e5f-0a9b8c7d6e5f';
/** Fluent Bit's built-in multiline parsers. */
const BUILTIN_MULTILINE = ['docker', 'cri', 'go', 'python', 'java', 'ruby'];
const PLUGINS = { inputs: ['tail'], filters: ['modify', 'parser'], outputs: ['forward', 'stdout'] };
const HEARTBEAT_PARSERS = ['heartbeat_tsv_request', 'heartbeat_tsv_lifecycle', 'heartbeat_tsv_probe', 'heartbeat_tsv_udp', 'heartbeat_json'];

const file = (name: string): string => path.join(FLUENT_BIT_DIR, name);
const load = (name: string): Pipeline => readYaml(file(name)) as unknown as Pipeline;

function docsSection(): string {
  const doc = fs.readFileSync(path.join(ROOT, 'docs', 'fluent-bit.md'), 'utf8');
  const m = /<!-- fluent-bit:begin -->([\s\S]*?)<!-- fluent-bit:end -->/.exec(doc);
  assert.ok(m, 'docs/fluent-bit.md has the Fluent Bit section');
  return m[1] as string;
}

function tail(p: Pipeline): Section {
  const inputs = p.pipeline.inputs;
  assert.equal(inputs.length, 1);
  return inputs[0] as Section;
}

/** The parser filter that parses heartbeat's line (`log`). */
function logParserOf(p: Pipeline): Section {
  const f = p.pipeline.filters.filter((x) => x.name === 'parser' && x.key_name === 'log');
  assert.equal(f.length, 1);
  return f[0] as Section;
}

/** A path glob as glob(3) reads it (`*` and `?` never cross a `/`), as a RegExp. */
function globRegex(pattern: string): RegExp {
  return new RegExp(`^${pattern.split('').map((c) => (c === '*' ? '[^/]*' : c === '?' ? '[^/]' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&'))).join('')}$`);
}

/** fnmatch(pattern, path, 0) as in_tail's exclude_path calls it: no FNM_PATHNAME, so `*` crosses `/`. */
function fnmatch(pattern: string, p: string): boolean {
  return new RegExp(`^${pattern.split('').map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&'))).join('')}$`).test(p);
}

/** The files in_tail reads under `root` for `path` minus `exclude_path` (tail_scan_glob.c). */
function tailFiles(root: string, pattern: string, exclude: string[]): string[] {
  const all: string[] = [];
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p); else all.push(`/${path.relative(root, p).split(path.sep).join('/')}`);
    }
  };
  walk(root);
  const re = globRegex(pattern);
  return all.filter((p) => re.test(p) && !exclude.some((x) => fnmatch(x, p))).sort();
}

/** A container's env as written in a manifest (literal values, `$(VAR)` expanded from earlier ones and `given`). */
function manifestEnv(container: Section, given: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of (container.env ?? []) as { name: string; value?: string }[]) {
    if (e.value === undefined) { if (given[e.name] !== undefined) env[e.name] = given[e.name] as string; continue; }
    env[e.name] = e.value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (w, n: string) => env[n] ?? w);
  }
  return env;
}

/** The first container (init containers included) named `name` in a manifest file. */
function manifestContainer(rel: string, name: string): Section {
  const doc = readYaml(path.join(ROOT, rel)) as { spec: { template: { spec: { initContainers?: Section[]; containers?: Section[] } } } };
  const spec = doc.spec.template.spec;
  const c = [...spec.initContainers ?? [], ...spec.containers ?? []].find((x) => x.name === name);
  assert.ok(c, `${rel} has a container ${name}`);
  return c;
}

describe('Fluent Bit pipelines (fluent-bit/sidecar.yaml, collector.yaml, local.yaml)', () => {
  const parsers = new Map<string, Map<string, Parser>>();
  let tmp: string;

  before(async () => {
    await loadOniguruma();
    for (const name of [...SHIPPERS, 'local.yaml']) parsers.set(name, pipelineParsers(file(name)));
    tmp = makeScratch('heartbeat-fb-');
  });
  after(() => { if (tmp) removeScratch(tmp); });

  for (const name of [...SHIPPERS, 'local.yaml']) {
    it(`${name}: a YAML pipeline whose parsers file, parser names and tags all resolve`, () => {
      const p = load(name);
      assert.deepEqual(Object.keys(p).filter((k) => k !== 'parsers').sort(), ['pipeline', 'service']);
      assert.deepEqual(Object.keys(p.pipeline).sort(), ['filters', 'inputs', 'outputs']);
      // parsers_file is found beside the config file, as Fluent Bit resolves a relative path
      const pf = String(p.service.parsers_file);
      assert.ok(!path.isAbsolute(pf));
      assert.equal(path.resolve(FLUENT_BIT_DIR, pf), file('parsers.yaml'));
      for (const [kind, allowed] of Object.entries(PLUGINS)) {
        for (const s of p.pipeline[kind as keyof typeof PLUGINS]) assert.ok(allowed.includes(String(s.name)), `${kind}: ${String(s.name)}`);
      }
      // every parser named anywhere exists; heartbeat's line tries the sidecar's parsers, in the
      // sidecar's order (so every shipper gives the same records), TSV request first (the hot line)
      const known = parsers.get(name) as Map<string, Parser>;
      const order = values(logParserOf(p).parser);
      assert.deepEqual(order, values(logParserOf(load('sidecar.yaml')).parser), 'the same parsers as the sidecar, in its order');
      assert.equal(order[0], 'heartbeat_tsv_request');
      for (const n of HEARTBEAT_PARSERS) assert.ok(order.includes(n), `${name} tries ${n}`);
      for (const f of p.pipeline.filters.filter((x) => x.name === 'parser')) {
        for (const n of values(f.parser)) assert.ok(known.has(n), `parser ${n} is defined for ${name}`);
        assert.ok(fbBool(f.reserve_data), 'reserve_data keeps the other fields');
      }
      assert.equal(tail(p).parser, undefined, 'the tail input parses nothing itself');
      for (const m of values(tail(p)['multiline.parser']).flatMap((v) => v.split(',')).map((v) => v.trim())) {
        assert.ok(BUILTIN_MULTILINE.includes(m), `multiline parser ${m} is built in`);
      }
      // records reach every filter and the output
      const tag = String(tail(p).tag);
      for (const s of [...p.pipeline.filters, ...p.pipeline.outputs]) assert.ok(tagMatches(String(s.match), tag), `${String(s.name)} matches ${tag}`);
    });
  }

  it('uses only the environment variables the manifests set, each documented in docs/fluent-bit.md', () => {
    const used = (name: string): string[] =>
      [...new Set([...fs.readFileSync(file(name), 'utf8').replace(/^\s*#.*$/gm, '').matchAll(/\$\{([^}:]*)(?::-[^}]*)?\}/g)].map((m) => m[1] as string))].sort();
    for (const [name, vars] of Object.entries(ENV)) assert.deepEqual(used(name), [...vars].sort(), name);
    assert.deepEqual(used('parsers.yaml'), []);
    const section = docsSection();
    for (const v of new Set(Object.values(ENV).flat())) assert.ok(section.includes(`| \`${v}\` |`), `docs/fluent-bit.md has a row for ${v}`);
  });

  for (const name of SHIPPERS) {
    it(`${name}: acknowledged delivery, unlimited retries, bounded disk and memory, health on every address`, () => {
      const p = load(name);
      const s = p.service;
      assert.ok(fbBool(s.http_server) && fbBool(s.health_check));
      assert.equal(String(s.http_port), '2020');
      assert.equal(s.http_listen, '::', 'IPv6 and IPv4 (0.0.0.0 is IPv4 only: no liveness answer on an IPv6-only cluster)');
      assert.ok(fbBool(s['storage.metrics']), 'storage metrics for the backlog alerts');
      assert.equal(s['storage.path'], '/var/fluent-bit/buffer');
      // memory: at most 16 chunks of up to 2,048,000 bytes up at once (the manifests' limits are sized from it)
      assert.ok(Number(s['storage.max_chunks_up']) > 0 && Number(s['storage.max_chunks_up']) <= 16);
      assert.equal(s['storage.backlog.mem_limit'], 8 * 1024 * 1024);
      // the longest wait between retries is 1 + cap seconds (flb_scheduler.c): a minute at most
      assert.ok(1 + Number(s['scheduler.cap']) <= 60, `retry wait up to ${1 + Number(s['scheduler.cap'])} s`);
      const t = tail(p);
      assert.equal(t.path, '${HEARTBEAT_LOG_PATH}');
      assert.deepEqual(values(t.exclude_path).flatMap((v) => v.split(',')).sort(), ['*.gz', '*.tmp']);
      assert.deepEqual(String(t['multiline.parser']).split(',').map((x) => x.trim()).sort(), ['cri', 'docker']);
      assert.equal(t['storage.type'], 'filesystem');
      assert.equal(path.posix.dirname(String(t.db)), '/var/fluent-bit', 'the offsets sit beside the buffer, on the same volume');
      assert.ok(fbBool(t.read_from_head));
      assert.equal(p.pipeline.outputs.length, 1);
      const out = p.pipeline.outputs[0] as Section;
      assert.equal(out.name, 'forward');
      assert.equal(out.host, '${FLUENT_FORWARD_HOST}');
      assert.equal(out.port, '${FLUENT_FORWARD_PORT:-24224}');
      assert.equal(out.require_ack_response, true, 'a chunk is delivered only when the aggregator acknowledges it');
      assert.ok(['false', 'no_limits'].includes(String(out.retry_limit)), 'retries never give up');
      // TLS and the shared key are settings, off unless the manifests set them
      assert.equal(out.tls, '${FLUENT_FORWARD_TLS:-off}');
      assert.equal(out['tls.verify'], '${FLUENT_FORWARD_TLS_VERIFY:-on}');
      assert.equal(out.shared_key, '${FLUENT_FORWARD_SHARED_KEY}');
    });
  }

  it('every size is written in bytes, as meant (Fluent Bit reads 256M as 256,000,000 and 32k as 32,000)', () => {
    const SIZE_KEYS = ['storage.total_limit_size', 'storage.backlog.mem_limit', 'buffer_chunk_size', 'buffer_max_size', 'mem_buf_limit'];
    let seen = 0;
    const visit = (node: unknown, where: string): void => {
      if (Array.isArray(node)) { node.forEach((n, i) => visit(n, `${where}[${i}]`)); return; }
      if (!node || typeof node !== 'object') return;
      for (const [k, v] of Object.entries(node)) {
        if (SIZE_KEYS.includes(k)) {
          seen++;
          assert.ok(Number.isInteger(v) && (v as number) % 1024 === 0, `${where}.${k}: ${String(v)} should be a whole number of KiB, in bytes`);
        }
        visit(v, `${where}.${k}`);
      }
    };
    for (const name of [...SHIPPERS, 'local.yaml']) visit(load(name), name);
    assert.ok(seen >= 9);
    assert.equal(load('sidecar.yaml').pipeline.outputs[0]?.['storage.total_limit_size'], 192 * 1024 * 1024);
  });

  describe('the log globs, against a node with rotated, compressed and half-written files', () => {
    const pod = (ns: string, name: string, uid: string): string => `/var/log/pods/${ns}_${name}_${uid}`;
    const ours = pod('heartbeat', EXAMPLE_ENV.POD_NAME, EXAMPLE_UID);
    const mesh = pod('heartbeat', 'heartbeat-x7k2p', '0b5e8f3a-1c2d-4e5f-8a9b-1c2d3e4f5a6b');
    const FILES = [
      `${ours}/heartbeat/0.log`,
      `${ours}/heartbeat/0.log.20261201-093015`,
      `${ours}/heartbeat/0.log.20261130-081500.gz`,
      `${ours}/heartbeat/0.log.20261201-093015.tmp`,
      `${ours}/heartbeat/1.log`,
      `${mesh}/heartbeat/0.log`,
      `${mesh}/heartbeat/0.log.20261201-101112`,
      // not heartbeat's: another container of the pod, another pod, another namespace
      `${ours}/fluent-bit/0.log`,
      `${pod('heartbeat', 'nginx-5b7f9c-q2w3e', '7d6c5b4a-3f2e-1d0c-9b8a-7f6e5d4c3b2a')}/nginx/0.log`,
      `${pod('kube-system', 'heartbeat-abcde', '9f8e7d6c-5b4a-3928-1706-f5e4d3c2b1a0')}/heartbeat/0.log`,
      `${pod('other', 'coredns-7db6d8ff4d-abcde', '1a2b3c4d-5e6f-4a8b-9c0d-1e2f3a4b5c6d')}/coredns/0.log`,
    ];
    let node: string;
    before(() => {
      node = path.join(tmp, 'node');
      for (const f of FILES) { fs.mkdirSync(path.dirname(path.join(node, f)), { recursive: true }); fs.writeFileSync(path.join(node, f), ''); }
    });
    const excludes = (name: string): string[] => values(tail(load(name)).exclude_path).flatMap((v) => v.split(','));

    it('sidecar: only this pod\'s heartbeat files, current and rotated, never .gz or .tmp, never another pod\'s', () => {
      const c = manifestContainer('k8s/components/fluent-bit-sidecar/sidecar.yaml', 'fluent-bit');
      const env = manifestEnv(c, { POD_NAME: EXAMPLE_ENV.POD_NAME, POD_NAMESPACE: EXAMPLE_ENV.POD_NAMESPACE, POD_UID: EXAMPLE_UID });
      // the container sees only its pod's directory, mounted with subPathExpr from the downward API
      const m = (c.volumeMounts as { name: string; mountPath: string; subPathExpr?: string }[]).find((x) => env.HEARTBEAT_LOG_PATH?.startsWith(`${x.mountPath}/`));
      assert.ok(m?.subPathExpr, 'HEARTBEAT_LOG_PATH lies under a subPathExpr mount');
      const sub = m.subPathExpr.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (w, n: string) => env[n] ?? w);
      assert.equal(`/var/log/pods/${sub}`, ours);
      const inContainer = path.join(tmp, 'sidecar-view');
      fs.mkdirSync(path.dirname(path.join(inContainer, m.mountPath)), { recursive: true });
      fs.symlinkSync(path.join(node, ours), path.join(inContainer, m.mountPath));
      const seen = tailFiles(fs.realpathSync(path.join(inContainer, m.mountPath)), (env.HEARTBEAT_LOG_PATH as string).slice(m.mountPath.length), excludes('sidecar.yaml'));
      assert.deepEqual(seen, ['/heartbeat/0.log', '/heartbeat/0.log.20261201-093015', '/heartbeat/1.log']);
    });

    it('collector: every heartbeat pod\'s heartbeat files in heartbeat\'s namespace, current and rotated, nothing else', () => {
      const c = manifestContainer('k8s/components/node-collector/daemonset.yaml', 'fluent-bit');
      const env = manifestEnv(c, { HEARTBEAT_NAMESPACE: 'heartbeat' });
      const seen = tailFiles(node, env.HEARTBEAT_LOG_PATH as string, excludes('collector.yaml'));
      assert.deepEqual(seen, [
        `${mesh}/heartbeat/0.log`, `${mesh}/heartbeat/0.log.20261201-101112`,
        `${ours}/heartbeat/0.log`, `${ours}/heartbeat/0.log.20261201-093015`, `${ours}/heartbeat/1.log`,
      ].sort());
    });
  });

  it('collector.yaml reads pod and namespace from the kubelet\'s log paths, both regex engines agreeing, nothing else', () => {
    const p = (parsers.get('collector.yaml') as Map<string, Parser>).get('heartbeat_pod_log_file') as Parser;
    assert.ok(p.regex);
    const cases: [string, Record<string, string> | null][] = [
      [`/var/log/pods/heartbeat_${EXAMPLE_ENV.POD_NAME}_${EXAMPLE_UID}/heartbeat/0.log`, { namespace: 'heartbeat', pod: EXAMPLE_ENV.POD_NAME }],
      [`/var/log/pods/hb-mesh_heartbeat-x7k2p_${EXAMPLE_UID}/heartbeat/0.log.20261201-093015`, { namespace: 'hb-mesh', pod: 'heartbeat-x7k2p' }],
      [`/var/log/pods/team.a_heartbeat.v2-0_${EXAMPLE_UID}/heartbeat/3.log`, null], // a namespace is a DNS label: no dot
      [`/var/log/pods/heartbeat_heartbeat.v2-0_${EXAMPLE_UID}/heartbeat/3.log`, { namespace: 'heartbeat', pod: 'heartbeat.v2-0' }],
      ['/var/log/containers/heartbeat-x_heartbeat_heartbeat-0123abcd.log', null],
    ];
    for (const [file, want] of cases) {
      assert.deepEqual(p.regex.js(file), p.regex.onig(file), file);
      const got = p.parse(file);
      assert.deepEqual(got && plain(got.record), want, file);
      assert.equal(got?.time ?? null, null, 'the path gives no timestamp: the line keeps its own');
    }
  });

  it('local.yaml prints every record as a JSON line', () => {
    const p = load('local.yaml');
    assert.equal(tail(p).path, '${HEARTBEAT_LOG_FILE}');
    assert.deepEqual(p.pipeline.outputs.map((o) => [o.name, o.format]), [['stdout', 'json_lines']]);
  });

  /** What a shipper's tail input hands on for a line of a file of the example pod's heartbeat container. */
  function tailed(name: string, fileLine: string): Parsed {
    const read = criRecord(fileLine);
    assert.ok(read, `a CRI log file line: ${fileLine}`);
    const pathKey = values(tail(load(name)).path_key)[0];
    if (pathKey === undefined) return read;
    return { ...read, record: { ...read.record, [pathKey]: `/var/log/pods/${EXAMPLE_ENV.POD_NAMESPACE}_${EXAMPLE_ENV.POD_NAME}_${EXAMPLE_UID}/heartbeat/0.log` } };
  }

  for (const name of SHIPPERS) {
    it(`turns each line docs/fluent-bit.md shows into the record it shows, through ${name}`, () => {
      const p = load(name);
      const examples = [...docsSection().matchAll(/<!-- fluent-bit-example -->\s*```text\n([^\n]*)\n```\s*```json\n([\s\S]*?)\n```/g)];
      assert.equal(examples.length, 6, 'docs/fluent-bit.md shows six examples (request, lifecycle, JSON request, probe, udp, not ours)');
      for (const [, fileLine, json] of examples) {
        const read = tailed(name, fileLine as string);
        // the collector knows pod and namespace only from the file's path: it is given no POD_* variables
        const env = name === 'sidecar.yaml' ? EXAMPLE_ENV : { NODE_NAME: EXAMPLE_ENV.NODE_NAME };
        const out = runFilters(p.pipeline.filters, String(tail(p).tag), read, parsers.get(name) as Map<string, Parser>, env);
        assert.deepEqual(plain(out.record), JSON.parse(json as string), `record of ${fileLine as string}`);
        // the timestamp is the app's own time when heartbeat's line was parsed, else the runtime's
        const expected = typeof out.record.time === 'string' ? out.record.time : (read.record.time as string);
        assert.ok(out.time);
        assert.equal(out.time.sec * 1000 + Math.round(out.time.nsec / 1e6), Date.parse(expected));
      }
    });
  }

  it('gives the same heartbeat fields through the sidecar, the collector and local.yaml, for every line kind and format', () => {
    const time = '2026-11-25T00:52:08.955Z';
    const lines = (['tsv', 'json'] as const).flatMap((f) => [
      formatRequest({ time, status: 200, duration_ms: 0.25, bytes_out: 17, bytes_in: 0, method: 'GET', path: '/heartbeat/17', client: '::1', aborted: false,
        forwarded_for: '203.0.113.9, 10.42.0.1', user_agent: 'curl/8.5.0', request_id: '4bf92f3577b34da6a3ce929d0e0e4736', proto: 'HTTP/1.1' }, f),
      formatLifecycle({ time, level: 'warn', message: 'drain timeout reached', details: { drainTimeout: 10000 } }, f),
      formatProbe({ time, target: 'http://heartbeat-peers:8080', peer: '10.0.0.8:8080', method: 'GET', size: 1024, status: 200, outcome: 'ok',
        dns_ms: 0.2, connect_ms: 0.25, tls_ms: 0, ttfb_ms: 1, total_ms: 1.5, bytes: 1024, request_id: '3f1c5b8e-8a0e-4d55-9d2e-4b1f0c6a7e21', wire: true, path_limit: 1348 }, f),
    ]);
    const lc = load('local.yaml');
    for (const line of lines) {
      const fileLine = `${time.replace('Z', '123456Z')} stdout F ${line}`;
      const viaLocal = runFilters(lc.pipeline.filters, String(tail(lc).tag), { record: { log: line }, time: null }, parsers.get('local.yaml') as Map<string, Parser>, {});
      const shipped: FbMap[] = [];
      for (const name of SHIPPERS) {
        const p = load(name);
        const env = name === 'sidecar.yaml' ? EXAMPLE_ENV : { NODE_NAME: EXAMPLE_ENV.NODE_NAME };
        const via = runFilters(p.pipeline.filters, String(tail(p).tag), tailed(name, fileLine), parsers.get(name) as Map<string, Parser>, env);
        const { stream, pod, namespace, node, ...app } = via.record;
        assert.deepEqual({ stream, pod, namespace, node }, { stream: 'stdout', pod: EXAMPLE_ENV.POD_NAME, namespace: EXAMPLE_ENV.POD_NAMESPACE, node: EXAMPLE_ENV.NODE_NAME }, name);
        assert.deepEqual(app, viaLocal.record, `${name}: ${line}`);
        assert.deepEqual(via.time, viaLocal.time);
        shipped.push(via.record);
      }
      assert.deepEqual(shipped[1], shipped[0], 'the collector\'s record is the sidecar\'s, field for field');
      assert.equal(viaLocal.record.time, time);
      assert.equal(viaLocal.record.log, undefined, 'the raw line is not forwarded twice');
    }
  });
});
