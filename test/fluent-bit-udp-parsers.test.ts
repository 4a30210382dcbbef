/**
 * fluent-bit/parsers.yaml against the udp lines (probeUdp) a real running prober writes, in both
 * formats: every line is matched by exactly its parser (heartbeat_tsv_udp or heartbeat_json), the
 * pipelines' parser filters pick it, every column arrives with its type, the record's time is the
 * line's own, and both formats give the same fields and types.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { UDP_COLUMNS } from '../src/log/format';
import {
  FLUENT_BIT_DIR, FbFloat, FbInt, type FbMap, type FbValue, type Parser,
  loadOniguruma, loadParsers, parserFilter, readYaml,
} from './helpers/fluentbit';
import { kill, startServer, waitFor, type Running } from './helpers/server';

type FieldType = 'string' | 'integer' | 'float';

/** What each udp column must become. Typed by UDP_COLUMNS: a new column fails to compile here. */
const UDP_TYPES: Record<(typeof UDP_COLUMNS)[number], FieldType> = {
  time: 'string', kind: 'string', target: 'string', peer: 'string', family: 'string',
  sent: 'integer', lost_out: 'integer', lost_back: 'integer', lost_unknown: 'integer', duplicates: 'integer', reordered: 'integer',
  rtt_p50_ms: 'float', rtt_p99_ms: 'float', jitter_ms: 'float', self_ms: 'float',
};

function filterOrder(file: string): string[] {
  const doc = readYaml(path.join(FLUENT_BIT_DIR, file)) as { pipeline: { filters: Record<string, unknown>[] } };
  const f = doc.pipeline.filters.find((x) => x.name === 'parser' && x.key_name === 'log');
  assert.ok(f, `${file} has a parser filter`);
  return ([] as unknown[]).concat(f.parser).map(String);
}

function typed(v: FbValue | undefined, type: FieldType): boolean {
  return type === 'string' ? typeof v === 'string'
    : type === 'integer' ? v instanceof FbInt && Number.isSafeInteger(v.value)
      : v instanceof FbFloat && Number.isFinite(v.value);
}

describe('Fluent Bit parsers on real udp lines', function () {
  this.timeout(60_000);
  let parsers: Map<string, Parser>;
  let peer: Running | undefined;
  let prober: Running | undefined;
  const records: Partial<Record<'tsv' | 'json', FbMap[]>> = {};

  before(async () => {
    await loadOniguruma();
    parsers = loadParsers();
    peer = await startServer(['--host', '127.0.0.1']);
  });
  after(() => kill(peer));
  afterEach(() => kill(prober));

  it('has a udp parser whose named groups are UDP_COLUMNS in order, typed, in the parser filters of every pipeline', () => {
    const p = parsers.get('heartbeat_tsv_udp');
    assert.deepEqual(p?.regex?.names, [...UDP_COLUMNS]);
    assert.deepEqual(Object.fromEntries(p?.types ?? []), Object.fromEntries(Object.entries(UDP_TYPES).filter(([, t]) => t !== 'string')));
    for (const file of ['sidecar.yaml', 'collector.yaml', 'sidecar-otlp.yaml', 'collector-otlp.yaml', 'local.yaml']) {
      assert.ok(filterOrder(file).includes('heartbeat_tsv_udp'), file);
    }
  });

  for (const format of ['tsv', 'json'] as const) {
    it(`matches every ${format.toUpperCase()} udp line with exactly its parser, every field typed`, async () => {
      const start = Date.now();
      // a peer that answers and one whose port nothing answers on (every datagram lost, direction unknown)
      const silent = await startServer(['--host', '127.0.0.1', '--udp-echo=false']);
      try {
        prober = await startServer(['--host', '127.0.0.1', '--log-format', format, '--probe-targets', `http://127.0.0.1:${peer!.port},http://127.0.0.1:${silent.port}`,
          '--probe-interval', '1000', '--probe-timeout', '1000', '--probe-sizes', '1024', '--probe-udp', '5']);
        const p = prober;
        const isUdp = (l: string): boolean => (format === 'tsv' ? l.split('\t')[1] === 'udp' : l.includes('"kind":"udp"'));
        await waitFor(() => p.lines.filter(isUdp).length >= 2, 20_000, 'two udp lines');
        assert.equal(await p.stop(), 0);
        const end = Date.now();
        const intended = format === 'tsv' ? 'heartbeat_tsv_udp' : 'heartbeat_json';
        const got: FbMap[] = [];
        for (const line of p.lines.filter(isUdp)) {
          const matching = [...parsers.values()].filter((x) => x.parse(line) !== null).map((x) => x.name);
          assert.deepEqual(matching, [intended], `parsers matching ${JSON.stringify(line)}`);
          const r = parserFilter(parsers, filterOrder('sidecar.yaml'), line);
          assert.equal(r?.parser, intended);
          for (const x of parsers.values()) if (x.regex) assert.deepEqual(x.regex.js(line), x.regex.onig(line), `${x.name}: engines disagree on ${line}`);
          assert.deepEqual(Object.keys(r.record).sort(), [...UDP_COLUMNS].sort());
          for (const [name, type] of Object.entries(UDP_TYPES)) assert.ok(typed(r.record[name], type), `${name} should be ${type} in ${line}`);
          const ms = (r.time?.sec ?? 0) * 1000 + Math.round((r.time?.nsec ?? 0) / 1e6);
          assert.equal(ms, Date.parse(r.record.time as string));
          assert.ok(ms >= start && ms <= end);
          got.push(r.record);
        }
        const answered = got.find((g) => g.peer === `127.0.0.1:${peer!.port}`);
        const lost = got.find((g) => g.peer === `127.0.0.1:${silent.port}`);
        assert.deepEqual([answered?.sent, answered?.lost_out, answered?.lost_back, answered?.lost_unknown], [new FbInt(5), new FbInt(0), new FbInt(0), new FbInt(0)]);
        assert.deepEqual([lost?.sent, lost?.lost_unknown], [new FbInt(5), new FbInt(5)]);
        records[format] = got;
      } finally {
        kill(silent);
      }
    });
  }

  it('gives a udp line the same fields and types in both formats', () => {
    assert.ok(records.tsv && records.json, 'both runs above passed');
    const shape = (r: FbMap): string => JSON.stringify(Object.entries(r).map(([k, v]) => [k, v?.constructor?.name ?? typeof v]).sort());
    assert.equal(shape(records.tsv[0] as FbMap), shape(records.json[0] as FbMap));
  });
});
