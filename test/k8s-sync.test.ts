/** kustomize cannot read ../config or ../fluent-bit, so k8s/base/generated holds copies: they never drift. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { existing, GENERATED, plan } from '../scripts/sync-k8s-config';

describe('k8s/base/generated (npm run k8s:sync)', () => {
  it('k8s/base/generated holds exact copies of config/example.json and fluent-bit/ (npm run k8s:sync)', () => {
    const want = plan();
    for (const p of want) {
      const have = readFileSync(path.join(GENERATED, p.target), 'utf8');
      assert.equal(have, p.content, `k8s/base/generated/${p.target} drifted from ${p.source ?? 'the sync script'}: run npm run k8s:sync`);
    }
    assert.deepEqual(existing().sort(), want.map((p) => p.target).sort(), 'stale files in k8s/base/generated: run npm run k8s:sync');
  });
});
