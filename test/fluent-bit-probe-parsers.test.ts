/**
 * fluent-bit/parsers.yaml against the probe lines a real running prober writes, in both
 * formats, with a mix of outcomes (ok, status, corrupt, refused, dns): every line is matched
 * by exactly its parser (heartbeat_tsv_probe or heartbeat_json), the sidecar's filter picks
 * it, every column arrives with its type, and the record's time is the line's own.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { PROBE_COLUMNS } from '../src/log/format';
import {
  FLUENT_BIT_DIR, FbFloat, FbInt, type FbMap, type FbValue, type Parser,
  loadOniguruma, loadParsers, parserFilter, readYaml,
} from './helpers/fluentbit';
import { privateResolver, probeLines } from './helpers/probe';
import { startProxy, type Proxy } from './helpers/probe-proxy';
import { freePort, kill, startServer, waitFor, type Running } from './helpers/server';

type FieldType = 'string' | 'integer' | 'float' | 'bool';

/** What each probe column must become. Typed by PROBE_COLUMNS: a new column fails to compile here. */
const PROBE_TYPES: Record<(typeof PROBE_COLUMNS)[number], FieldType> = {
  time: 'string',
  kind: 'string',
  target: 'string',
  peer: 'string',
  method: 'string',
  size: 'integer',
  status: 'integer',
  outcome: 'string',
  dns_ms: 'float',
  connect_ms: 'float',
  tls_ms: 'float',
  ttfb_ms: 'float',
  total_ms: 'float',
  bytes: 'integer',
  request_id: 'string',
  wire: 'bool',
  path_limit: 'integer',
  family: 'string',
  self_ms: 'float',
};

function filterOrder(file: string): string[] {
  const doc = readYaml(path.join(FLUENT_BIT_DIR, file)) as { pipeline: { filters: Record<string, unknown>[] } };
  // the parser filter of heartbeat's own line (a pipeline may parse other keys first)
  const f = doc.pipeline.filters.find((x) => x.name === 'parser' && x.key_name === 'log');
  assert.ok(f, `${file} has a parser filter`);
  return ([] as unknown[]).concat(f.parser).map(String);
}

function assertType(name: string, v: FbValue | undefined, type: FieldType, line: string): void {
  const ok = type === 'string' ? typeof v === 'string'
    : type === 'bool' ? typeof v === 'boolean'
    : type === 'integer' ? v instanceof FbInt && Number.isSafeInteger(v.value)
      : v instanceof FbFloat && Number.isFinite(v.value);
  assert.ok(ok, `${name} should be ${type}, is ${JSON.stringify(v)} (${v?.constructor?.name}) in ${JSON.stringify(line)}`);
}

describe('Fluent Bit parsers on real probe lines', function () {
  this.timeout(60_000);
  let parsers: Map<string, Parser>;
  let peer: Running | undefined;
  let prober: Running | undefined;
  let proxy: Proxy | undefined;
  const records: Partial<Record<'tsv' | 'json', FbMap[]>> = {};

  before(async () => {
    await loadOniguruma();
    parsers = loadParsers();
    peer = await startServer(['--host', '127.0.0.1']);
    proxy = await startProxy(peer.port, 'flip');
  });
  after(async () => {
    kill(peer);
    await proxy?.close();
  });
  afterEach(() => kill(prober));

  it('has a probe parser whose named groups are PROBE_COLUMNS in order, typed, in the parser filters of the sidecar, the collector and local.yaml', () => {
    const p = parsers.get('heartbeat_tsv_probe');
    assert.deepEqual(p?.regex?.names, [...PROBE_COLUMNS]);
    assert.deepEqual(Object.keys(PROBE_TYPES), [...PROBE_COLUMNS]);
    const declared = Object.fromEntries(p?.types ?? []);
    assert.deepEqual(declared, Object.fromEntries(Object.entries(PROBE_TYPES).filter(([, t]) => t !== 'string')));
    for (const file of ['sidecar.yaml', 'collector.yaml', 'local.yaml']) assert.ok(filterOrder(file).includes('heartbeat_tsv_probe'), file);
  });

  for (const format of ['tsv', 'json'] as const) {
    it(`matches every ${format.toUpperCase()} probe line with exactly its parser, every field typed`, async () => {
      const refusing = await freePort();
      const targets = [`http://127.0.0.1:${peer!.port}`, `http://127.0.0.1:${proxy!.port}/heartbeat`, `http://127.0.0.1:${refusing}`,
        'http://nowhere.invalid:8080'];
      const start = Date.now();
      prober = await startServer(['--host', '127.0.0.1', '--log-format', format, '--probe-targets', targets.join(','),
        '--probe-interval', '1000', '--probe-timeout', '1000', '--probe-sizes', `1024,${2 * 1024 * 1024}`, '--probe-upload', '3000'],
      { wrap: privateResolver('127.0.0.1 localhost\n') });
      const p = prober;
      const outcomes = ['ok', 'status', 'corrupt', 'refused', 'dns'];
      // (neighbours start one after another over the interval: the direct peer's ok GET may come after the proxy's ok upload)
      await waitFor(() => outcomes.every((o) => probeLines(p).some((l) => l.outcome === o)) &&
        probeLines(p).some((l) => l.outcome === 'ok' && l.method === 'GET'), 20_000, `probe lines with ${outcomes.join(', ')}, an ok GET among them`);
      assert.equal(await p.stop(), 0);
      const end = Date.now();
      const order = filterOrder('sidecar.yaml');
      const intended = format === 'tsv' ? 'heartbeat_tsv_probe' : 'heartbeat_json';
      const lines = p.lines.filter((l) => (format === 'tsv' ? l.split('\t')[1] === 'probe' : l.includes('"kind":"probe"')));
      assert.ok(lines.length >= outcomes.length);
      const got: FbMap[] = [];
      for (const line of lines) {
        const matching = [...parsers.values()].filter((x) => x.parse(line) !== null).map((x) => x.name);
        assert.deepEqual(matching, [intended], `parsers matching ${JSON.stringify(line)}`);
        const r = parserFilter(parsers, order, line);
        assert.equal(r?.parser, intended);
        for (const x of parsers.values()) {
          if (x.regex) assert.deepEqual(x.regex.js(line), x.regex.onig(line), `${x.name}: engines disagree on ${line}`);
        }
        assert.deepEqual(Object.keys(r.record).sort(), [...PROBE_COLUMNS].sort());
        for (const [name, type] of Object.entries(PROBE_TYPES)) assertType(name, r.record[name], type, line);
        assert.equal(r.record.kind, 'probe');
        assert.ok(targets.includes(r.record.target as string));
        assert.ok(r.time);
        const ms = r.time.sec * 1000 + Math.round(r.time.nsec / 1e6);
        assert.equal(ms, Date.parse(r.record.time as string));
        assert.ok(ms >= start && ms <= end);
        got.push(r.record);
      }
      // the same probes, as the prober's own view of them
      const ok = got.find((g) => g.outcome === 'ok' && g.method === 'GET');
      assert.deepEqual([ok?.status, ok?.size, ok?.bytes], [new FbInt(200), new FbInt(1024), new FbInt(1024)]);
      assert.deepEqual(got.find((g) => g.outcome === 'status')?.status, new FbInt(400), 'a size over the peer\'s max');
      assert.deepEqual(got.find((g) => g.outcome === 'refused')?.status, new FbInt(0));
      assert.equal(got.find((g) => g.outcome === 'dns')?.request_id, '-');
      records[format] = got;
    });
  }

  it('gives a probe the same fields and types in both formats', () => {
    assert.ok(records.tsv && records.json, 'both runs above passed');
    const shape = (r: FbMap): string => JSON.stringify(Object.entries(r).map(([k, v]) => [k, v?.constructor?.name ?? typeof v]).sort());
    const { tsv, json } = records;
    for (const o of ['ok', 'status', 'corrupt', 'refused', 'dns']) {
      const t: FbMap | undefined = tsv.find((r) => r.outcome === o);
      const j: FbMap | undefined = json.find((r) => r.outcome === o);
      assert.ok(t && j, o);
      assert.equal(shape(j), shape(t), o);
    }
  });
});
