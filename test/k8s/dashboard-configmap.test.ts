/**
 * The Grafana dashboard's ConfigMap, as the alerts component (k8s/components/alerts) renders it with the
 * real `kubectl kustomize` in an overlay beside the base: in the Deployment's namespace, labelled
 * grafana_dashboard: "1" for kube-prometheus-stack's Grafana sidecar, holding the dashboard JSON.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { DASHBOARD_FILE, DASHBOARD_KEY } from '../../scripts/sync-dashboard';
import type { K8sObject } from '../helpers/deploy';
import { ROOT } from '../helpers/server';
import { KUBECTL_HINT, requireTool } from '../helpers/tools';

function render(extra = ''): K8sObject[] {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'heartbeat-dashboard-overlay-'));
  try {
    const k8s = path.relative(dir, path.join(ROOT, 'k8s'));
    writeFileSync(path.join(dir, 'kustomization.yaml'), [
      'apiVersion: kustomize.config.k8s.io/v1beta1',
      'kind: Kustomization',
      `resources: [${k8s}/base]`,
      `components: [${k8s}/components/alerts]`,
      extra,
    ].join('\n'));
    const out = execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return parseAllDocuments(out).map((d) => d.toJS() as K8sObject);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('k8s/components/alerts: the Grafana dashboard ConfigMap', function () {
  this.timeout(60_000);
  before(() => requireTool('kubectl', KUBECTL_HINT, ['version', '--client']));

  it('is in the Deployment\'s namespace (and moves with an overlay\'s), labelled for the sidecar, holding the dashboard', () => {
    for (const [extra, namespace] of [['', undefined], ['namespace: monitoring-test', 'monitoring-test']] as const) {
      const objs = render(extra);
      const cm = objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'heartbeat-dashboard') as K8sObject & { data: Record<string, string> };
      const deployment = objs.find((o) => o.kind === 'Deployment') as K8sObject;
      assert.ok(cm, 'the ConfigMap heartbeat-dashboard');
      assert.equal(cm.metadata.namespace, namespace ?? deployment.metadata.namespace);
      assert.equal(cm.metadata.labels?.grafana_dashboard, '1');
      assert.equal(cm.data[DASHBOARD_KEY], readFileSync(path.join(ROOT, DASHBOARD_FILE), 'utf8'));
      assert.equal((JSON.parse(cm.data[DASHBOARD_KEY]) as { uid: string }).uid, 'heartbeat');
    }
  });
});
