/**
 * The chart's Grafana dashboard (templates/dashboard-configmap.yaml), with the real helm (test:helm):
 * rendered only with alerts.enabled, the same ConfigMap as kustomize's alerts component (name, sidecar
 * label, the JSON) in the release namespace.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { DASHBOARD_CONFIGMAP_FILE, DASHBOARD_FILE, DASHBOARD_KEY } from '../../scripts/sync-dashboard';
import type { K8sObject } from '../helpers/deploy';
import { ROOT } from '../helpers/server';
import { requireTool } from '../helpers/tools';

const CHART = path.join(ROOT, 'k8s', 'chart', 'heartbeat');

function template(set: string[]): K8sObject[] {
  const bin = process.env.HEARTBEAT_TEST_HELM;
  if (!bin) throw new Error('helm is missing: run the helm tier as `npm run test:helm` (scripts/helm.mjs installs helm v4.1.4 into .cache/helm and sets HEARTBEAT_TEST_HELM)');
  requireTool(bin, 'scripts/helm.mjs installs it (npm run test:helm)', ['version']);
  const r = spawnSync(bin, ['template', 'heartbeat', CHART, '--namespace', 'monitoring-test', '--set', 'image.repository=registry.invalid/heartbeat',
    ...set.flatMap((s) => ['--set', s])], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return parseAllDocuments(r.stdout).map((d) => d.toJS() as K8sObject).filter(Boolean);
}

describe('the chart\'s Grafana dashboard ConfigMap', function () {
  this.timeout(60_000);

  it('is rendered only with alerts.enabled, as kustomize\'s alerts component has it, in the release namespace', () => {
    const find = (objs: K8sObject[]) => objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'heartbeat-dashboard');
    assert.equal(find(template([])), undefined, 'off by default');
    assert.equal(find(template(['alerts.enabled=false'])), undefined);
    const cm = find(template(['alerts.enabled=true'])) as K8sObject & { data: Record<string, string> };
    assert.ok(cm);
    const kustomize = parse(readFileSync(path.join(ROOT, DASHBOARD_CONFIGMAP_FILE), 'utf8')) as K8sObject & { data: Record<string, string> };
    assert.equal(cm.metadata.namespace, 'monitoring-test');
    assert.equal(cm.metadata.labels?.grafana_dashboard, '1');
    assert.equal(cm.metadata.labels?.['app.kubernetes.io/name'], kustomize.metadata.labels?.['app.kubernetes.io/name']);
    assert.deepEqual(Object.keys(cm.data), [DASHBOARD_KEY]);
    assert.equal(cm.data[DASHBOARD_KEY], readFileSync(path.join(ROOT, DASHBOARD_FILE), 'utf8'));
    assert.equal(cm.data[DASHBOARD_KEY], kustomize.data[DASHBOARD_KEY]);
  });
});
