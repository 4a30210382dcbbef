/**
 * fluent-bit/sidecar.yaml and fluent-bit/local.yaml: valid pipelines whose references resolve
 * (parsers file, parser names, tags), which use only the environment the manifests set and
 * docs/fluent-bit.md documents, keep what the pod relies on, and turn the lines the docs show into the
 * records the docs show.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { formatLifecycle, formatProbe, formatRequest } from '../src/log/format';
import {
  FLUENT_BIT_DIR, type Parsed, type Parser, criRecord, fbBool, loadOniguruma, loadParsers, plain, readYaml,
  runFilters, tagMatches, values,
} from './helpers/fluentbit';
import { ROOT } from './helpers/server';

type Section = Record<string, unknown>;
interface Pipeline { service: Section; pipeline: { inputs: Section[]; filters: Section[]; outputs: Section[] } }

/** The variables the k8s manifests set for the sidecar (fixed with the deploy work), and local.yaml's. */
const SIDECAR_ENV = ['HEARTBEAT_LOG_PATH', 'FLUENT_FORWARD_HOST', 'FLUENT_FORWARD_PORT', 'POD_NAME', 'POD_NAMESPACE', 'NODE_NAME'];
const LOCAL_ENV = ['HEARTBEAT_LOG_FILE'];
/** The pod docs/fluent-bit.md's examples are set in. */
const EXAMPLE_ENV = { POD_NAME: 'heartbeat-7c9d5b8f4-x2x7q', POD_NAMESPACE: 'heartbeat', NODE_NAME: 'edge-ber-01' };
/** Fluent Bit's built-in multiline parsers. */
const BUILTIN_MULTILINE = ['docker', 'cri', 'go', 'python', 'java', 'ruby'];
const PLUGINS = { inputs: ['tail'], filters: ['modify', 'parser'], outputs: ['forward', 'stdout'] };

const file = (name: string): string => path.join(FLUENT_BIT_DIR, name);
const load = (name: string): Pipeline => readYaml(file(name)) as unknown as Pipeline;

function readmeSection(): string {
  const readme = fs.readFileSync(path.join(ROOT, 'docs', 'fluent-bit.md'), 'utf8');
  const m = /<!-- fluent-bit:begin -->([\s\S]*?)<!-- fluent-bit:end -->/.exec(readme);
  assert.ok(m, 'docs/fluent-bit.md has the Fluent Bit section');
  return m[1] as string;
}

function tail(p: Pipeline): Section {
  const inputs = p.pipeline.inputs;
  assert.equal(inputs.length, 1);
  return inputs[0] as Section;
}

function parserFilterOf(p: Pipeline): Section {
  const f = p.pipeline.filters.filter((x) => x.name === 'parser');
  assert.equal(f.length, 1);
  return f[0] as Section;
}

describe('Fluent Bit pipelines (fluent-bit/sidecar.yaml, fluent-bit/local.yaml)', () => {
  let parsers: Map<string, Parser>;
  const sidecar = (): Pipeline => load('sidecar.yaml');
  const local = (): Pipeline => load('local.yaml');

  before(async () => {
    await loadOniguruma();
    parsers = loadParsers();
  });

  for (const name of ['sidecar.yaml', 'local.yaml']) {
    it(`${name}: a YAML pipeline whose parsers file, parser names and tags all resolve`, () => {
      const p = load(name);
      assert.deepEqual(Object.keys(p).sort(), ['pipeline', 'service']);
      assert.deepEqual(Object.keys(p.pipeline).sort(), ['filters', 'inputs', 'outputs']);
      // parsers_file is found beside the config file, as Fluent Bit resolves a relative path
      const pf = String(p.service.parsers_file);
      assert.ok(!path.isAbsolute(pf));
      assert.equal(path.resolve(FLUENT_BIT_DIR, pf), file('parsers.yaml'));
      assert.ok(fs.existsSync(path.resolve(FLUENT_BIT_DIR, pf)));
      for (const [kind, allowed] of Object.entries(PLUGINS)) {
        for (const s of p.pipeline[kind as keyof typeof PLUGINS]) assert.ok(allowed.includes(String(s.name)), `${kind}: ${String(s.name)}`);
      }
      // every parser named anywhere exists; the filter tries all four, TSV request first (the hot line)
      const filter = parserFilterOf(p);
      assert.deepEqual(values(filter.parser), ['heartbeat_tsv_request', 'heartbeat_tsv_lifecycle', 'heartbeat_tsv_probe', 'heartbeat_json']);
      for (const n of values(filter.parser)) assert.ok(parsers.has(n), `parser ${n} is in parsers.yaml`);
      assert.equal(filter.key_name, 'log');
      assert.ok(fbBool(filter.reserve_data), 'reserve_data keeps the other fields');
      assert.equal(tail(p).parser, undefined, 'the tail input parses nothing itself');
      for (const m of values(tail(p)['multiline.parser']).flatMap((v) => v.split(',')).map((v) => v.trim())) {
        assert.ok(BUILTIN_MULTILINE.includes(m), `multiline parser ${m} is built in`);
      }
      // records reach every filter and the output
      const tag = String(tail(p).tag);
      for (const s of [...p.pipeline.filters, ...p.pipeline.outputs]) assert.ok(tagMatches(String(s.match), tag), `${String(s.name)} matches ${tag}`);
    });
  }

  it('uses only the environment variables the manifests set (local.yaml: HEARTBEAT_LOG_FILE), each documented in docs/fluent-bit.md', () => {
    const used = (name: string): string[] =>
      [...new Set([...fs.readFileSync(file(name), 'utf8').replace(/^\s*#.*$/gm, '').matchAll(/\$\{([^}]*)\}/g)].map((m) => m[1] as string))].sort();
    assert.deepEqual(used('sidecar.yaml'), [...SIDECAR_ENV].sort());
    assert.deepEqual(used('local.yaml'), [...LOCAL_ENV].sort());
    assert.deepEqual(used('parsers.yaml'), []);
    const section = readmeSection();
    for (const v of [...SIDECAR_ENV, ...LOCAL_ENV]) assert.ok(section.includes(`| \`${v}\` |`), `docs/fluent-bit.md has a row for ${v}`);
  });

  it('sidecar.yaml keeps what the pod relies on: paths, probe, buffering, delivery', () => {
    const p = sidecar();
    const s = p.service;
    assert.ok(fbBool(s.http_server) && fbBool(s.health_check));
    assert.equal(String(s.http_port), '2020');
    assert.equal(s['storage.path'], '/var/fluent-bit/buffer');
    const t = tail(p);
    assert.equal(t.path, '${HEARTBEAT_LOG_PATH}');
    assert.deepEqual(String(t['multiline.parser']).split(',').map((x) => x.trim()).sort(), ['cri', 'docker']);
    assert.equal(t['storage.type'], 'filesystem');
    const db = String(t.db);
    assert.equal(path.posix.dirname(db), '/var/fluent-bit', 'the offsets sit beside the buffer, on the same volume');
    assert.equal(p.pipeline.outputs.length, 1);
    const out = p.pipeline.outputs[0] as Section;
    assert.equal(out.name, 'forward');
    assert.equal(out.host, '${FLUENT_FORWARD_HOST}');
    assert.equal(out.port, '${FLUENT_FORWARD_PORT}');
    assert.ok(['false', 'no_limits'].includes(String(out.retry_limit)), 'retries never give up');
    assert.match(String(out['storage.total_limit_size']), /^[0-9]+[KMG]$/);
  });

  it('local.yaml prints every record as a JSON line', () => {
    const p = local();
    assert.equal(tail(p).path, '${HEARTBEAT_LOG_FILE}');
    assert.deepEqual(p.pipeline.outputs.map((o) => [o.name, o.format]), [['stdout', 'json_lines']]);
  });

  it('turns each line docs/fluent-bit.md shows into the record it shows, through the sidecar', () => {
    const p = sidecar();
    const examples = [...readmeSection().matchAll(/<!-- fluent-bit-example -->\s*```text\n([^\n]*)\n```\s*```json\n([\s\S]*?)\n```/g)];
    assert.equal(examples.length, 5, 'docs/fluent-bit.md shows five examples (request, lifecycle, JSON request, probe, not ours)');
    for (const [, fileLine, json] of examples) {
      const read = criRecord(fileLine as string);
      assert.ok(read, `a CRI log file line: ${fileLine as string}`);
      const out = runFilters(p.pipeline.filters, String(tail(p).tag), read, parsers, EXAMPLE_ENV);
      assert.deepEqual(plain(out.record), JSON.parse(json as string), `record of ${fileLine as string}`);
      // the timestamp is the app's own time when heartbeat's line was parsed, else the runtime's
      const expected = typeof out.record.time === 'string' ? out.record.time : (read.record.time as string);
      assert.ok(out.time);
      assert.equal(out.time.sec * 1000 + Math.round(out.time.nsec / 1e6), Date.parse(expected));
    }
  });

  it('gives the same heartbeat fields through the sidecar and through local.yaml, for every line kind and format', () => {
    const time = '2026-11-25T00:52:08.955Z';
    const lines = (['tsv', 'json'] as const).flatMap((f) => [
      formatRequest({ time, status: 200, duration_ms: 0.25, bytes_out: 17, bytes_in: 0, method: 'GET', path: '/heartbeat/17', client: '::1', aborted: false,
        forwarded_for: '203.0.113.9, 10.42.0.1', user_agent: 'curl/8.5.0', request_id: '4bf92f3577b34da6a3ce929d0e0e4736', proto: 'HTTP/1.1' }, f),
      formatLifecycle({ time, level: 'warn', message: 'drain timeout reached', details: { drainTimeout: 10000 } }, f),
      formatProbe({ time, target: 'http://heartbeat-peers:8080', peer: '10.0.0.8:8080', method: 'GET', size: 1024, status: 200, outcome: 'ok',
        dns_ms: 0.2, connect_ms: 0.25, ttfb_ms: 1, total_ms: 1.5, bytes: 1024, request_id: '3f1c5b8e-8a0e-4d55-9d2e-4b1f0c6a7e21' }, f),
    ]);
    const sc = sidecar();
    const lc = local();
    for (const line of lines) {
      const viaSidecar = runFilters(sc.pipeline.filters, String(tail(sc).tag), criRecord(`${time.replace('Z', '123456Z')} stdout F ${line}`) as Parsed, parsers, EXAMPLE_ENV);
      const viaLocal = runFilters(lc.pipeline.filters, String(tail(lc).tag), { record: { log: line }, time: null }, parsers, {});
      const { stream, pod, namespace, node, ...app } = viaSidecar.record;
      assert.deepEqual({ stream, pod, namespace, node }, { stream: 'stdout', pod: EXAMPLE_ENV.POD_NAME, namespace: EXAMPLE_ENV.POD_NAMESPACE, node: EXAMPLE_ENV.NODE_NAME });
      assert.deepEqual(app, viaLocal.record, line);
      assert.equal(app.time, time);
      assert.deepEqual(viaSidecar.time, viaLocal.time);
      assert.equal(viaLocal.record.log, undefined, 'the raw line is not forwarded twice');
    }
  });
});
