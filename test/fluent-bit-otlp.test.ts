/**
 * fluent-bit/sidecar-otlp.yaml and collector-otlp.yaml: the forward pipelines with OTLP/HTTP as the
 * destination. They read and parse exactly as their forward twins do; the OTLP names follow
 * src/log/format.ts's columns; the output is out_opentelemetry as read from Fluent Bit v5.1.1's
 * source (plugins/out_opentelemetry/opentelemetry.c config_map, opentelemetry_logs.c): with
 * logs_body_key and logs_body_key_attributes the matched field is the log record's body and every
 * other field an attribute, typed as in the record (msgpack_object_to_otlp_any_value: integers
 * intValue, floats doubleValue, booleans boolValue, strings stringValue); the record's time is the
 * event time, which the parsers take from the line (time_key).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { LIFECYCLE_COLUMNS, PROBE_COLUMNS, REQUEST_COLUMNS } from '../src/log/format';
import {
  FLUENT_BIT_DIR, FbFloat, FbInt, type FbMap, type FbValue, criRecord, loadOniguruma, pipelineParsers, readYaml, runFilters, substituteEnv, values,
} from './helpers/fluentbit';
import { ROOT } from './helpers/server';

type Section = Record<string, unknown>;
interface Pipeline { service: Section; parsers?: Section[]; pipeline: { inputs: Section[]; filters: Section[]; outputs: Section[] } }
const load = (name: string): Pipeline => readYaml(path.join(FLUENT_BIT_DIR, name)) as unknown as Pipeline;
const TWINS = [['sidecar-otlp.yaml', 'sidecar.yaml'], ['collector-otlp.yaml', 'collector.yaml']] as const;

/** heartbeat's field -> its OpenTelemetry semantic-conventions name (docs/fluent-bit.md#otlp). */
const SEMCONV: Record<string, string> = {
  method: 'http.request.method', path: 'url.path', status: 'http.response.status_code', client: 'client.address',
  user_agent: 'user_agent.original', pod: 'k8s.pod.name', namespace: 'k8s.namespace.name', node: 'k8s.node.name',
};

/**
 * The OTLP log record out_opentelemetry makes of a record (body key $kind, the rest attributes,
 * opentelemetry_logs.c), in OTLP/JSON's spelling (64-bit integers as strings).
 */
function otlpRecord(record: FbMap, time: { sec: number; nsec: number }): Record<string, unknown> {
  const anyValue = (v: FbValue): Record<string, unknown> => {
    if (v instanceof FbInt) return { intValue: String(v.value) };
    if (v instanceof FbFloat) return { doubleValue: v.value };
    if (typeof v === 'boolean') return { boolValue: v };
    if (typeof v === 'string') return { stringValue: v };
    if (v === null) return {};
    if (Array.isArray(v)) return { arrayValue: { values: v.map(anyValue) } };
    return { kvlistValue: { values: Object.entries(v).map(([key, x]) => ({ key, value: anyValue(x) })) } };
  };
  const { kind, ...rest } = record;
  return {
    timeUnixNano: String(BigInt(time.sec) * 1_000_000_000n + BigInt(time.nsec)),
    body: anyValue(kind as FbValue),
    attributes: Object.entries(rest).map(([key, v]) => ({ key, value: anyValue(v) })),
  };
}

describe('Fluent Bit OTLP destination (fluent-bit/*-otlp.yaml, out_opentelemetry of v5.1.1)', () => {
  before(loadOniguruma);

  for (const [otlp, twin] of TWINS) {
    it(`${otlp}: reads and parses as ${twin} does, then only renames to OTLP names`, () => {
      const a = load(otlp);
      const b = load(twin);
      assert.deepEqual(a.service, b.service);
      assert.deepEqual(a.parsers, b.parsers);
      assert.deepEqual(a.pipeline.inputs, b.pipeline.inputs);
      assert.deepEqual(a.pipeline.filters.slice(0, -1), b.pipeline.filters);
      const last = a.pipeline.filters.at(-1) as Section;
      assert.equal(last.name, 'modify');
      assert.deepEqual(Object.keys(last).sort(), ['match', 'name', 'rename']);
      assert.deepEqual(Object.fromEntries(values(last.rename).map((r) => r.split(/\s+/) as [string, string])), SEMCONV);
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
    const columns = new Set<string>([...REQUEST_COLUMNS, ...LIFECYCLE_COLUMNS, ...PROBE_COLUMNS]);
    for (const field of Object.keys(SEMCONV).filter((f) => !['pod', 'namespace', 'node'].includes(f))) {
      assert.ok((REQUEST_COLUMNS as readonly string[]).includes(field), `${field} is a request column`);
    }
    for (const cols of [REQUEST_COLUMNS, LIFECYCLE_COLUMNS, PROBE_COLUMNS]) assert.ok((cols as readonly string[]).includes('kind'), 'every line has kind');
    for (const name of Object.values(SEMCONV)) assert.ok(!columns.has(name), `${name} clashes with no column`);
  });

  it('docs/fluent-bit.md: its OTLP table has a row per field, and its example record is what the sidecar makes of its example line', () => {
    const doc = fs.readFileSync(path.join(ROOT, 'docs', 'fluent-bit.md'), 'utf8');
    const m = /<!-- otlp-example -->\s*```text\n([^\n]*)\n```\s*```json\n([\s\S]*?)\n```/.exec(doc);
    assert.ok(m, 'docs/fluent-bit.md shows an OTLP example');
    for (const [field, name] of Object.entries(SEMCONV)) assert.match(doc, new RegExp(`\\| \`${field}\` \\| \`${name.replace(/\./g, '\\.')}\` \\|`), `row for ${field}`);
    for (const c of REQUEST_COLUMNS) if (c !== 'time' && c !== 'kind' && !(c in SEMCONV)) assert.match(doc, new RegExp(`\\| \`${c}\` \\| \`${c}\` \\|`), `row for ${c}`);
    const p = load('sidecar-otlp.yaml');
    const cri = criRecord(m[1] as string);
    assert.ok(cri);
    const env = { POD_NAME: 'heartbeat-7c9d5b8f4-x2x7q', POD_NAMESPACE: 'heartbeat', NODE_NAME: 'edge-ber-01' };
    const out = runFilters(p.pipeline.filters, 'heartbeat', cri, pipelineParsers(path.join(FLUENT_BIT_DIR, 'sidecar-otlp.yaml')), env);
    assert.ok(out.time, 'time from the line');
    assert.deepEqual(otlpRecord(out.record, out.time), JSON.parse(m[2] as string));
  });
});
