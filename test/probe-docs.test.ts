/** docs/probe.md and docs/logs.md follow the code: the line columns, the outcomes and the metrics it registers. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type * as client from 'prom-client';
import { PROBE_COLUMNS } from '../src/log/format';
import { OUTCOMES } from '../src/probe/check';
import { createProbeMetrics } from '../src/probe/metrics';
import { createPhaseMetrics } from '../src/probe/phase-metrics';
import { ROOT } from './helpers/server';

const doc = (name: string): string => readFileSync(path.join(ROOT, 'docs', name), 'utf8');

/** The first column of the Markdown table under `heading`, backticks stripped, cells split on ", ". */
function firstColumn(text: string, heading: string): string[] {
  const at = text.indexOf(heading);
  assert.ok(at > 0, heading);
  const section = text.slice(at - 1);
  const table = /\n\| [^\n]*\|\n\| ---[^\n]*\n((?:\|[^\n]*\n)+)/.exec(section);
  assert.ok(table, `a table under ${heading}`);
  return (table[1] as string).split('\n').filter(Boolean)
    .flatMap((row) => (row.split('|')[1] as string).trim().split(', ').map((c) => c.replace(/`/g, '')));
}

describe('probe docs', () => {
  it('docs/probe.md lists the probe line columns in the order src/log/format.ts defines them', () => {
    assert.deepEqual(firstColumn(doc('probe.md'), '## The probe line'), [...PROBE_COLUMNS]);
  });

  it('docs/logs.md names the probe columns in order', () => {
    const m = /Columns, in order: ((?:`[a-z_]+`,?\s*)+);/.exec(doc('logs.md'));
    assert.ok(m, 'docs/logs.md lists the probe columns');
    assert.deepEqual((m[1] as string).match(/[a-z_]+/g), [...PROBE_COLUMNS]);
  });

  it('docs/probe.md explains every outcome, and only those', () => {
    const rows = firstColumn(doc('probe.md'), '| outcome | what happened |');
    assert.deepEqual(['ok', ...rows], [...OUTCOMES]);
  });

  it('docs/probe.md lists every probe metric with its labels, as registered', async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const prom = require('prom-client') as typeof client;
    const registry = new prom.Registry();
    createProbeMetrics(registry);
    createPhaseMetrics(registry);
    const registered = (await registry.getMetricsAsJSON()).map((m) => m.name);
    const text = doc('probe.md');
    const section = text.slice(text.indexOf('## Metrics'));
    const rows = [...section.matchAll(/^\| `(heartbeat_probe[a-z_]*)` \| [^|]+ \| ([^|]*) \|$/gm)];
    assert.deepEqual(rows.map((r) => r[1]), registered);
    for (const [, name, labels] of rows) {
      const metric = registry.getSingleMetric(name as string) as unknown as { labelNames: string[] };
      assert.deepEqual((labels as string).match(/[a-z_]+/g), metric.labelNames, `labels of ${name}`);
    }
  });
});
