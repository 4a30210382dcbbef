/**
 * fluent-bit/sidecar-otlp.yaml and collector-otlp.yaml: the forward pipelines with OTLP/HTTP as the
 * destination. They read and parse exactly as their forward twins do; the OTLP names follow
 * src/log/format.ts's columns; the output is out_opentelemetry as read from Fluent Bit v5.1.1's
 * source (plugins/out_opentelemetry/opentelemetry.c config_map, opentelemetry_logs.c): with
 * logs_body_key and logs_body_key_attributes the matched field is the log record's body and every
 * other field an attribute, typed as in the record (msgpack_object_to_otlp_any_value: integers
 * intValue, floats doubleValue, booleans boolValue, strings stringValue); the record's time is the
 * event time, which the parsers take from the line (time_key). The resource: out_opentelemetry takes
 * resource attributes only from an OTLP group (opentelemetry_logs.c, $resource['attributes'] of a group
 * start whose metadata says schema otlp); the output's processors make one: opentelemetry_envelope
 * wraps the chunk's records in a group (otel_envelope.c), each content_modifier with context
 * otel_resource_attributes sets one attribute of it (cm_logs.c, cm_config.c).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { formatUdp, LIFECYCLE_COLUMNS, PROBE_COLUMNS, REQUEST_COLUMNS, UDP_COLUMNS } from '../src/log/format';
import {
  FLUENT_BIT_DIR, FbFloat, FbInt, type FbMap, type FbValue, criRecord, loadOniguruma, pipelineParsers, plain, readYaml, runFilters, substituteEnv, values,
} from './helpers/fluentbit';
import { ROOT } from './helpers/server';

type Section = Record<string, unknown>;
interface Pipeline { service: Section; parsers?: Section[]; pipeline: { inputs: Section[]; filters: Section[]; outputs: Section[] } }
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
const load = (name: string): Pipeline => readYaml(path.join(FLUENT_BIT_DIR, name)) as unknown as Pipeline;
const TWINS = [['sidecar-otlp.yaml', 'sidecar.yaml'], ['collector-otlp.yaml', 'collector.yaml']] as const;

/** heartbeat's request field -> its OpenTelemetry semantic-conventions record attribute (docs/fluent-bit.md#otlp). */
const SEMCONV: Record<string, string> = {
  method: 'http.request.method', status: 'http.response.status_code', client: 'client.address', user_agent: 'user_agent.original',
};
/** `path` is split (the heartbeat_url parser) into these two, then renamed. */
const URL_PARTS: Record<string, string> = { url_path: 'url.path', url_query: 'url.query' };
/** The OTLP resource each file gives its records (processors on the output), attribute -> the variable it comes from. */
const RESOURCE: Record<string, Record<string, string>> = {
  'sidecar-otlp.yaml': {
    'service.name': 'heartbeat', 'service.version': '${OTLP_SERVICE_VERSION}', 'k8s.pod.name': '${POD_NAME}',
    'k8s.namespace.name': '${POD_NAMESPACE}', 'k8s.node.name': '${NODE_NAME}',
  },
  'collector-otlp.yaml': {
    'service.name': 'heartbeat', 'service.version': '${OTLP_SERVICE_VERSION}', 'k8s.namespace.name': '${HEARTBEAT_NAMESPACE}', 'k8s.node.name': '${NODE_NAME}',
  },
};
/** The record fields each file moves to the resource (removed from every record). */
const TO_RESOURCE: Record<string, string[]> = { 'sidecar-otlp.yaml': ['pod', 'namespace', 'node'], 'collector-otlp.yaml': ['namespace', 'node'] };
/** content_modifier's logs contexts and actions (plugins/processor_content_modifier/cm_config.c set_context, set_action). */
const CM_LOG_CONTEXTS = ['metadata', 'attributes', 'body', 'message', 'record', 'otel_resource_attributes', 'otel_scope_name', 'otel_scope_version',
  'otel_scope_attributes', 'otel_log_attributes'];
const CM_ACTIONS = ['insert', 'upsert', 'delete', 'rename', 'hash', 'extract', 'convert'];

const anyValue = (v: FbValue): Record<string, unknown> => {
    if (v instanceof FbInt) return { intValue: String(v.value) };
    if (v instanceof FbFloat) return { doubleValue: v.value };
    if (typeof v === 'boolean') return { boolValue: v };
    if (typeof v === 'string') return { stringValue: v };
    if (v === null) return {};
    if (Array.isArray(v)) return { arrayValue: { values: v.map(anyValue) } };
    return { kvlistValue: { values: Object.entries(v).map(([key, x]) => ({ key, value: anyValue(x) })) } };
};

/**
 * The OTLP log record out_opentelemetry makes of a record (body key $kind, the rest attributes,
 * opentelemetry_logs.c), in OTLP/JSON's spelling (64-bit integers as strings).
 */
function otlpRecord(record: FbMap, time: { sec: number; nsec: number }): Record<string, unknown> {
  const { kind, ...rest } = record;
  return {
    timeUnixNano: String(BigInt(time.sec) * 1_000_000_000n + BigInt(time.nsec)),
    body: anyValue(kind as FbValue),
    attributes: Object.entries(rest).map(([key, v]) => ({ key, value: anyValue(v) })),
  };
}

/**
 * What the output's log processors make of a chunk, as out_opentelemetry then packs it: the
 * resource attributes the content_modifiers set on the group opentelemetry_envelope opened (string
 * values, after ${VAR} substitution: flb_processor_instance_set_property). Throws on any other
 * processor or context: the model covers what our files use, nothing else.
 */
function otlpExport(processors: Section[], env: Record<string, string>, records: Record<string, unknown>[]): Record<string, unknown> {
  const [envelope, ...modifiers] = processors;
  assert.equal(envelope?.name, 'opentelemetry_envelope', 'the group comes first: content_modifier acts on group starts only');
  const attributes: { key: string; value: Record<string, unknown> }[] = [];
  for (const m of modifiers) {
    if (m.name !== 'content_modifier' || m.context !== 'otel_resource_attributes' || !['insert', 'upsert'].includes(String(m.action))) {
      throw new Error(`processor ${JSON.stringify(m)} is not modelled`);
    }
    const key = String(m.key);
    const at = attributes.findIndex((a) => a.key === key);
    if (at >= 0 && m.action === 'insert') continue; // run_action_insert: an existing key stays
    if (at >= 0) attributes.splice(at, 1); // run_action_upsert: removed, then appended
    attributes.push({ key, value: { stringValue: substituteEnv(String(m.value), env) } });
  }
  return { resourceLogs: [{ resource: { attributes }, scopeLogs: [{ scope: {}, logRecords: records }] }] };
}

describe('Fluent Bit OTLP destination (fluent-bit/*-otlp.yaml, out_opentelemetry of v5.1.1)', () => {
  before(loadOniguruma);

  for (const [otlp, twin] of TWINS) {
    it(`${otlp}: reads and parses as ${twin} does, then only splits the request target and renames to OTLP names`, () => {
      const a = load(otlp);
      const b = load(twin);
      assert.deepEqual(a.service, b.service);
      assert.deepEqual(a.parsers?.slice(0, -1) ?? [], b.parsers ?? []);
      assert.equal(a.parsers?.at(-1)?.name, 'heartbeat_url');
      assert.deepEqual(a.pipeline.inputs, b.pipeline.inputs);
      assert.deepEqual(a.pipeline.filters.slice(0, -2), b.pipeline.filters);
      const [split, rename] = a.pipeline.filters.slice(-2) as [Section, Section];
      assert.deepEqual(split, { name: 'parser', match: 'heartbeat', key_name: 'path', parser: 'heartbeat_url', reserve_data: 'on', preserve_key: 'off' });
      assert.equal(rename.name, 'modify');
      assert.deepEqual(Object.keys(rename).sort(), ['match', 'name', 'remove', 'rename']);
      const renamed = { ...SEMCONV, ...URL_PARTS, ...(otlp.startsWith('collector') ? { pod: 'k8s.pod.name' } : {}) };
      assert.deepEqual(Object.fromEntries(values(rename.rename).map((r) => r.split(/\s+/) as [string, string])), renamed);
      assert.deepEqual(values(rename.remove), TO_RESOURCE[otlp]);
    });

    it(`${otlp}: the OTLP resource (service.*, k8s.*) from processors on the output: opentelemetry_envelope, then content_modifier per attribute`, () => {
      const o = load(otlp).pipeline.outputs[0] as Section & { processors?: { logs?: Section[] } };
      assert.deepEqual(Object.keys(o.processors ?? {}), ['logs']);
      const logs = o.processors?.logs ?? [];
      assert.deepEqual(logs[0], { name: 'opentelemetry_envelope' });
      const set: Record<string, string> = {};
      for (const m of logs.slice(1)) {
        assert.equal(m.name, 'content_modifier');
        assert.ok(CM_LOG_CONTEXTS.includes(String(m.context)) && CM_ACTIONS.includes(String(m.action)), `${String(m.context)} / ${String(m.action)}`);
        assert.equal(m.context, 'otel_resource_attributes');
        set[String(m.key)] = String(m.value);
      }
      assert.deepEqual(set, RESOURCE[otlp]);
    });

    it(`${otlp}: OTLP/HTTP to /v1/logs, gzip, TLS on and checked by default, auth header from the environment, never giving up`, () => {
      const out = load(otlp).pipeline.outputs;
      assert.equal(out.length, 1);
      const o = out[0] as Section;
      assert.equal(o.name, 'opentelemetry');
      assert.equal(substituteEnv(String(o.host), { OTLP_HOST: 'otel' }), 'otel');
      assert.equal(substituteEnv(String(o.port), {}), '4318', 'OTLP/HTTP port');
      assert.equal(substituteEnv(String(o.logs_uri), {}), '/v1/logs');
      assert.equal(o.compress, 'gzip');
      assert.equal(substituteEnv(String(o.tls), {}), 'on');
      assert.equal(substituteEnv(String(o['tls.verify']), {}), 'on');
      assert.equal(o.header, '${OTLP_HEADER}', 'one header from the environment (a Secret); unset: none');
      assert.equal(o.grpc, undefined, 'HTTP, not gRPC');
      assert.equal(String(o.retry_limit), 'false');
      assert.equal(o.logs_body_key, '$kind');
      assert.equal(o.logs_body_key_attributes, true);
      assert.equal(o['storage.total_limit_size'], (load(TWINS.find((t) => t[0] === otlp)?.[1] as string).pipeline.outputs[0] as Section)['storage.total_limit_size']);
    });
  }

  it("the OTLP names replace src/log/format.ts's columns, the body is the kind every line has", () => {
    const columns = new Set<string>([...REQUEST_COLUMNS, ...LIFECYCLE_COLUMNS, ...PROBE_COLUMNS, ...UDP_COLUMNS]);
    for (const field of [...Object.keys(SEMCONV), 'path']) {
      assert.ok((REQUEST_COLUMNS as readonly string[]).includes(field), `${field} is a request column`);
    }
    for (const part of Object.keys(URL_PARTS)) assert.ok(!columns.has(part), `${part} clashes with no column`);
    for (const cols of [REQUEST_COLUMNS, LIFECYCLE_COLUMNS, PROBE_COLUMNS, UDP_COLUMNS]) assert.ok((cols as readonly string[]).includes('kind'), 'every line has kind');
    for (const name of [...Object.values(SEMCONV), ...Object.values(URL_PARTS)]) assert.ok(!columns.has(name), `${name} clashes with no column`);
  });

  it('the request target is split as OpenTelemetry\'s url.path and url.query: at the first ?, no url.query without one', () => {
    const p = pipelineParsers(path.join(FLUENT_BIT_DIR, 'sidecar-otlp.yaml'));
    const filters = load('sidecar-otlp.yaml').pipeline.filters.slice(-2);
    const run = (target: string): unknown => plain(runFilters(filters, 'heartbeat', { record: { kind: 'request', path: target }, time: null }, p, {}).record);
    assert.deepEqual(run('/heartbeat/17?size=1&x=%3F?'), { 'url.path': '/heartbeat/17', 'url.query': 'size=1&x=%3F?', kind: 'request' });
    assert.deepEqual(run('/heartbeat/17'), { 'url.path': '/heartbeat/17', kind: 'request' });
    assert.deepEqual(run('/heartbeat/17?'), { 'url.path': '/heartbeat/17', kind: 'request' }, 'an empty query is none');
    assert.deepEqual(run('-'), { 'url.path': '-', kind: 'request' }, 'a request with no target logs "-"');
    assert.deepEqual(run('*'), { 'url.path': '*', kind: 'request' });
  });

  it('docs/fluent-bit.md: its OTLP table has a row per field, and its example record is what the sidecar makes of its example line', () => {
    const doc = fs.readFileSync(path.join(ROOT, 'docs', 'fluent-bit.md'), 'utf8');
    const m = /<!-- otlp-example -->\s*```text\n([^\n]*)\n```\s*```json\n([\s\S]*?)\n```/.exec(doc);
    assert.ok(m, 'docs/fluent-bit.md shows an OTLP example');
    for (const [field, name] of Object.entries(SEMCONV)) assert.match(doc, new RegExp(`\\| \`${field}\` \\| \`${name.replace(/\./g, '\\.')}\` \\|`), `row for ${field}`);
    assert.match(doc, /\| `path` \| `url\.path`, `url\.query` \|/, 'row for path');
    for (const c of REQUEST_COLUMNS) if (c !== 'time' && c !== 'kind' && c !== 'path' && !(c in SEMCONV)) assert.match(doc, new RegExp(`\\| \`${c}\` \\| \`${c}\` \\|`), `row for ${c}`);
    for (const [field, name] of [['pod', 'k8s.pod.name'], ['namespace', 'k8s.namespace.name'], ['node', 'k8s.node.name']] as const) {
      assert.match(doc, new RegExp(`\\| \`${field}\` \\| resource \`${name.replace(/\./g, '\\.')}\``), `row for ${field}`);
    }
    for (const name of ['service.name', 'service.version']) assert.match(doc, new RegExp(`\\| resource \`${name.replace(/\./g, '\\.')}\``), `row for ${name}`);
    const p = load('sidecar-otlp.yaml');
    const cri = criRecord(m[1] as string);
    assert.ok(cri);
    const env = { POD_NAME: 'heartbeat-7c9d5b8f4-x2x7q', POD_NAMESPACE: 'heartbeat', NODE_NAME: 'edge-ber-01', OTLP_SERVICE_VERSION: pkg.version };
    const out = runFilters(p.pipeline.filters, 'heartbeat', cri, pipelineParsers(path.join(FLUENT_BIT_DIR, 'sidecar-otlp.yaml')), env);
    assert.ok(out.time, 'time from the line');
    const processors = ((p.pipeline.outputs[0] as Section).processors as { logs: Section[] }).logs;
    assert.deepEqual(otlpExport(processors, env, [otlpRecord(out.record, out.time)]), JSON.parse(m[2] as string));
  });

  it('the collector gives the same records, but for k8s.pod.name: a record attribute (one collector batches many pods)', () => {
    const doc = fs.readFileSync(path.join(ROOT, 'docs', 'fluent-bit.md'), 'utf8');
    const m = /<!-- otlp-example -->\s*```text\n([^\n]*)\n```/.exec(doc);
    const cri = criRecord(m?.[1] as string) as NonNullable<ReturnType<typeof criRecord>>;
    const viaSidecar = runFilters(load('sidecar-otlp.yaml').pipeline.filters, 'heartbeat', structuredClone(cri),
      pipelineParsers(path.join(FLUENT_BIT_DIR, 'sidecar-otlp.yaml')), { POD_NAME: 'heartbeat-7c9d5b8f4-x2x7q', POD_NAMESPACE: 'heartbeat', NODE_NAME: 'n1' });
    const logFile = '/var/log/pods/heartbeat_heartbeat-7c9d5b8f4-x2x7q_0f6e1a52-3c2b-4f7e-9d1a-2b3c4d5e6f70/heartbeat/0.log';
    const viaCollector = runFilters(load('collector-otlp.yaml').pipeline.filters, 'heartbeat', { record: { ...structuredClone(cri.record), log_file: logFile }, time: cri.time },
      pipelineParsers(path.join(FLUENT_BIT_DIR, 'collector-otlp.yaml')), { NODE_NAME: 'n1' });
    const { 'k8s.pod.name': pod, ...rest } = viaCollector.record;
    assert.equal(pod, 'heartbeat-7c9d5b8f4-x2x7q');
    assert.deepEqual(plain(rest), plain(viaSidecar.record));
  });

  it('a udp line (probeUdp) becomes one OTLP record: body "udp", every other column an attribute of its type (the sidecar)', () => {
    const line = formatUdp({
      time: '2026-12-05T03:29:40.142Z', target: 'http://heartbeat-peers:8080', peer: '10.42.3.17:8080', family: 'ipv4', sent: 20, lost_out: 1,
      lost_back: 2, lost_unknown: 0, duplicates: 0, reordered: 1, rtt_p50_ms: 0.725, rtt_p99_ms: 2, jitter_ms: 0.313, self_ms: 0.018,
    }, 'tsv');
    const cri = criRecord(`2026-12-05T03:29:40.142718000Z stdout F ${line}`) as NonNullable<ReturnType<typeof criRecord>>;
    const env = { POD_NAME: 'heartbeat-7c9d5b8f4-x2x7q', POD_NAMESPACE: 'heartbeat', NODE_NAME: 'n1' };
    const out = runFilters(load('sidecar-otlp.yaml').pipeline.filters, 'heartbeat', structuredClone(cri), pipelineParsers(path.join(FLUENT_BIT_DIR, 'sidecar-otlp.yaml')), env);
    assert.ok(out.time);
    const rec = otlpRecord(out.record, out.time);
    assert.deepEqual(rec.body, { stringValue: 'udp' });
    assert.equal(rec.timeUnixNano, String(Date.parse('2026-12-05T03:29:40.142Z')) + '000000', 'the line\'s own time');
    const attrs = Object.fromEntries((rec.attributes as { key: string; value: unknown }[]).map((a) => [a.key, a.value]));
    assert.deepEqual(Object.keys(attrs).sort(), [...UDP_COLUMNS.filter((c) => c !== 'kind'), 'stream'].sort());
    assert.deepEqual(attrs, {
      time: { stringValue: '2026-12-05T03:29:40.142Z' }, target: { stringValue: 'http://heartbeat-peers:8080' }, peer: { stringValue: '10.42.3.17:8080' },
      family: { stringValue: 'ipv4' }, sent: { intValue: '20' }, lost_out: { intValue: '1' }, lost_back: { intValue: '2' }, lost_unknown: { intValue: '0' },
      duplicates: { intValue: '0' }, reordered: { intValue: '1' }, rtt_p50_ms: { doubleValue: 0.725 }, rtt_p99_ms: { doubleValue: 2 }, jitter_ms: { doubleValue: 0.313 }, self_ms: { doubleValue: 0.018 },
      stream: { stringValue: 'stdout' },
    });
  });
});
