/**
 * The Grafana dashboard's ConfigMap, as the alerts component (k8s/components/alerts) renders it with the
 * real `kubectl kustomize` in an overlay beside the base: in the Deployment's namespace, labelled
 * grafana_dashboard: "1" for kube-prometheus-stack's Grafana sidecar, holding the dashboard JSON.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { DASHBOARD_FILE, DASHBOARD_KEY } from '../../scripts/sync-dashboard';
import { renderOverlay, type K8sObject } from '../helpers/deploy';
import { ROOT } from '../helpers/server';
import { KUBECTL_HINT, kubectl, requireTool } from '../helpers/tools';

/** The base plus the alerts component, in a throwaway overlay (`extra`: more kustomization lines). */
function render(extra = ''): K8sObject[] {
  return renderOverlay(['k8s/base'], ['k8s/components/alerts'], extra);
}

describe('k8s/components/alerts: the Grafana dashboard ConfigMap', function () {
  this.timeout(60_000);
  before(() => requireTool(kubectl(), KUBECTL_HINT, ['version', '--client']));

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
