/**
 * The Grafana dashboard: the committed JSON is the definition's (scripts/dashboard.ts), it type-checks
 * against Grafana's own dashboard model (@grafana/schema, with tsc: an unknown field or a wrong type fails),
 * its panels and variables hang together, and the ConfigMap the Grafana sidecar loads carries it.
 * Every query is evaluated on a real Prometheus in test:prometheus (test/prometheus/dashboard.test.ts).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import type { Dashboard, Panel, RowPanel } from '@grafana/schema';
import { dashboard } from '../scripts/dashboard';
import { DASHBOARD_CONFIGMAP_FILE, DASHBOARD_FILE, DASHBOARD_KEY, plan } from '../scripts/sync-dashboard';
import { makeScratch, removeScratch } from '../scripts/scratch';
import { ROOT } from './helpers/server';

/**
 * Type-checks `json` as a @grafana/schema Dashboard with the repo's own tsc (strict: an object literal
 * with a field the model does not have fails, as does a value of the wrong type); tsc's output, '' when it passes.
 */
function typeCheck(json: string): string {
  // inside the repository, so that tsc finds @grafana/schema in node_modules
  mkdirSync(path.join(ROOT, 'build'), { recursive: true });
  const dir = makeScratch('heartbeat-dashboard-check-', path.join(ROOT, 'build'));
  try {
    return typeCheckIn(dir, json);
  } finally {
    removeScratch(dir);
  }
}

function typeCheckIn(dir: string, json: string): string {
  writeFileSync(path.join(dir, 'check.ts'), [
    "import type { Dashboard } from '@grafana/schema';",
    // JSON holds an enum's value, not the enum: each string enum as the union of its values
    'type Json<T> = T extends string ? `${T}` : T extends readonly (infer U)[] ? Json<U>[] : T extends object ? { [K in keyof T]: Json<T[K]> } : T;',
    `export const d: Json<Dashboard> = ${json};`,
    '',
  ].join('\n'));
  const tsc = require.resolve('typescript/bin/tsc');
  const r = spawnSync(process.execPath, [tsc, '--ignoreConfig', '--noEmit', '--strict', '--skipLibCheck', '--moduleResolution', 'node10', '--module', 'commonjs',
    '--target', 'ES2022', '--ignoreDeprecations', '6.0', '--types', 'node', path.join(dir, 'check.ts')], { encoding: 'utf8', cwd: ROOT, timeout: 120_000 });
  return r.status === 0 ? '' : `${r.stdout}${r.stderr}` || `tsc exited ${r.status}`;
}

const read = (rel: string): string => readFileSync(path.join(ROOT, rel), 'utf8');
const flat = (d: Dashboard): Panel[] =>
  (d.panels ?? []).flatMap((p) => (p.type === 'row' ? (p as RowPanel).panels : [p as Panel])).filter((p) => p.type !== 'row');

describe('the Grafana dashboard', function () {
  this.timeout(120_000);
  const committed = JSON.parse(read(DASHBOARD_FILE)) as Dashboard;

  it('the committed JSON and ConfigMap are the definition\'s (npm run dashboard:sync)', () => {
    for (const p of plan()) assert.equal(read(p.target), p.content, `${p.target} drifted: run npm run dashboard:sync`);
    assert.equal(read('k8s/chart/heartbeat/files/heartbeat-dashboard.json'), read(DASHBOARD_FILE), 'the chart\'s copy: run npm run k8s:sync');
  });

  it('type-checks against Grafana\'s dashboard model (@grafana/schema), and that check fails on a field the model does not have', () => {
    assert.equal(typeCheck(read(DASHBOARD_FILE)), '');
    const unknownField = JSON.parse(read(DASHBOARD_FILE)) as Record<string, unknown>;
    unknownField.refreshEvery = '30s';
    assert.match(typeCheck(JSON.stringify(unknownField)), /refreshEvery"?' does not exist in type/);
    const wrongType = JSON.parse(read(DASHBOARD_FILE)) as { panels: { gridPos: { w: unknown } }[] };
    (wrongType.panels[1] as { gridPos: { w: unknown } }).gridPos.w = 'wide';
    assert.match(typeCheck(JSON.stringify(wrongType)), /Type 'string' is not assignable to type 'number'/);
  });

  it('panels: unique ids, a description each, on the 24-column grid without overlap, every query on the chosen data source', () => {
    const all = committed.panels ?? [];
    assert.equal(new Set(all.map((p) => p.id)).size, all.length);
    const cells = new Set<string>();
    for (const p of all) {
      const g = p.gridPos as { x: number; y: number; w: number; h: number };
      assert.ok(g.x >= 0 && g.x + g.w <= 24, `${p.title}: x ${g.x} w ${g.w}`);
      for (let x = g.x; x < g.x + g.w; x++) for (let y = g.y; y < g.y + g.h; y++) {
        assert.ok(!cells.has(`${x},${y}`), `${p.title} overlaps another panel at ${x},${y}`);
        cells.add(`${x},${y}`);
      }
    }
    const panels = flat(committed);
    assert.deepEqual(panels.map((p) => p.title), dashboard().specs.map((s) => s.title));
    for (const p of panels) {
      assert.ok(p.description, `${p.title} has a description`);
      assert.ok((p.targets ?? []).length > 0, `${p.title} has a query`);
      for (const t of p.targets ?? []) {
        assert.deepEqual(t.datasource, { type: 'prometheus', uid: '${datasource}' });
        assert.equal(typeof t.expr, 'string');
      }
    }
  });

  it('variables: data source, namespace, cluster, target; every $variable a query uses is one of them or Grafana\'s own', () => {
    const vars = (committed.templating?.list ?? []).map((v) => v.name);
    assert.deepEqual(vars, ['datasource', 'namespace', 'cluster', 'target']);
    const used = new Set<string>();
    for (const p of flat(committed)) for (const t of p.targets ?? []) for (const m of String(t.expr).matchAll(/\$(\w+)/g)) used.add(m[1] as string);
    for (const v of committed.templating?.list ?? []) {
      const query = typeof v.query === 'object' ? String((v.query as { query: string }).query) : String(v.query);
      for (const m of query.matchAll(/\$(\w+)/g)) used.add(m[1] as string);
    }
    for (const u of used) assert.ok(vars.includes(u) || u.startsWith('__'), `$${u} is not a variable`);
    assert.ok(used.has('namespace') && used.has('cluster') && used.has('target'));
  });

  it('the ConfigMap of k8s/components/alerts is labelled for the Grafana sidecar and holds the JSON', () => {
    const cm = YAML.parse(read(DASHBOARD_CONFIGMAP_FILE)) as { kind: string; metadata: { labels: Record<string, string> }; data: Record<string, string> };
    assert.equal(cm.kind, 'ConfigMap');
    assert.equal(cm.metadata.labels.grafana_dashboard, '1');
    assert.equal(cm.data[DASHBOARD_KEY], read(DASHBOARD_FILE));
    assert.match(read('k8s/components/alerts/kustomization.yaml'), /- dashboard-configmap\.yaml/);
    const template = read('k8s/chart/heartbeat/templates/dashboard-configmap.yaml');
    assert.match(template, /^\{\{- if \.Values\.alerts\.enabled \}\}/);
    assert.match(template, /grafana_dashboard: "1"/);
    assert.match(template, /\.Files\.Get "files\/heartbeat-dashboard\.json"/);
  });
});
