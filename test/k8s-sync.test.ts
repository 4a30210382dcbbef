/** kustomize cannot read ../config or ../fluent-bit, so the components' generated/ folders hold copies: they never drift. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { existing, plan, TARGETS } from '../scripts/sync-k8s-config';
import { ROOT } from './helpers/server';

describe('k8s components\' generated copies (npm run k8s:sync)', () => {
  it('each generated/ folder and the Helm chart\'s files/ hold exact copies of their sources (config/example.json, fluent-bit/*.yaml), nothing stale', () => {
    const want = plan();
    for (const p of want) {
      const have = readFileSync(path.join(ROOT, p.target), 'utf8');
      assert.equal(have, p.content, `${p.target} drifted from ${p.source ?? 'the sync script'}: run npm run k8s:sync`);
    }
    assert.deepEqual(existing().sort(), want.map((p) => p.target).sort(), 'stale files in a generated/ folder: run npm run k8s:sync');
  });

  it('the sidecar gets sidecar.yaml, sidecar-otlp.yaml and parsers.yaml, the collector collector.yaml, collector-otlp.yaml and parsers.yaml, heartbeat its config', () => {
    const by = new Map(TARGETS.map((t) => [t.configMap, t.sources]));
    assert.deepEqual(by.get('heartbeat-config'), ['config/example.json']);
    assert.deepEqual(by.get('fluent-bit-config'), ['fluent-bit/parsers.yaml', 'fluent-bit/sidecar.yaml', 'fluent-bit/sidecar-otlp.yaml']);
    assert.deepEqual(by.get('fluent-bit-collector-config'), ['fluent-bit/collector.yaml', 'fluent-bit/collector-otlp.yaml', 'fluent-bit/parsers.yaml']);
  });
});
