/** Probe lines as src/log/format.ts writes them: the columns in order, escaped, one ASCII line, both formats alike. */
import assert from 'node:assert/strict';
import { formatProbe, PROBE_COLUMNS, type ProbeRecord } from '../src/log/format';

const RECORD: ProbeRecord = {
  time: '2026-11-25T00:52:09.120Z', target: 'http://peers:8080', peer: '10.0.0.8:8080', method: 'GET', size: 1024, status: 200,
  outcome: 'ok', dns_ms: 0, connect_ms: 2, tls_ms: 1.25, ttfb_ms: 0.611, total_ms: 3.5, bytes: 1024, request_id: '3f1c5b8e-8a0e-4d55-9d2e-4b1f0c6a7e21',
  wire: false, path_limit: 0, family: 'ipv4', self_ms: 0.125,
};

describe('probe line format', () => {
  it('writes the TSV columns of PROBE_COLUMNS in order', () => {
    const cols = formatProbe(RECORD, 'tsv').split('\t');
    assert.equal(cols.length, PROBE_COLUMNS.length);
    assert.deepEqual(cols, ['2026-11-25T00:52:09.120Z', 'probe', 'http://peers:8080', '10.0.0.8:8080', 'GET', '1024', '200', 'ok',
      '0', '2', '1.25', '0.611', '3.5', '1024', RECORD.request_id, 'false', '0', 'ipv4', '0.125']);
  });

  it('writes JSON with the same names, in the same order, timings always floats', () => {
    const line = formatProbe(RECORD, 'json');
    const o = JSON.parse(line) as Record<string, unknown>;
    assert.deepEqual(Object.keys(o), [...PROBE_COLUMNS]);
    assert.equal(o.kind, 'probe');
    assert.match(line, /"dns_ms":0\.0,"connect_ms":2\.0,"tls_ms":1\.25,"ttfb_ms":0\.611,"total_ms":3\.5,"bytes":1024,/);
  });

  it('escapes operator text (the target) so it never adds a line or a column, in both formats', () => {
    const hostile = { ...RECORD, target: 'http://a\tb\nc\\d\u00e9"e', peer: 'x\ry' };
    const tsv = formatProbe(hostile, 'tsv');
    const json = formatProbe(hostile, 'json');
    for (const line of [tsv, json]) assert.doesNotMatch(line, /[\n\r]|[^\x20-\x7e\t]/, 'one printable ASCII line');
    assert.equal(tsv.split('\t').length, PROBE_COLUMNS.length);
    assert.equal(tsv.split('\t')[2], 'http://a\\tb\\nc\\\\d\\xe9"e');
    assert.equal(tsv.split('\t')[3], 'x\\ry');
    const o = JSON.parse(json) as Record<string, unknown>;
    assert.equal(o.target, tsv.split('\t')[2], 'the same escaped text in both formats');
    assert.equal(o.peer, 'x\\ry');
  });
});
