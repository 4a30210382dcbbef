/**
 * The image carries heartbeat's memory settings (Node flags in the Dockerfile's ENTRYPOINT, see
 * docs/memory.md), so `docker run` behaves as the pod. The manifests must not set other values: every
 * heartbeat container under k8s/ (wherever it is: any YAML file, patches included) either leaves
 * NODE_OPTIONS unset or sets exactly the image's values, and never replaces the ENTRYPOINT (`command:`),
 * which would drop its flags. Reads the files we ship; needs only Node.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { imageNodeFlags } from './helpers/deploy';
import { ROOT } from './helpers/server';

interface Container { name?: unknown; command?: unknown; env?: unknown }
interface Found { file: string; container: Container }

function yamlFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return yamlFiles(p);
    return /\.ya?ml$/.test(e.name) ? [p] : [];
  });
}

/** Every container named heartbeat in a parsed document; inline kustomize patches (`patch: |`) are read too. */
function heartbeatContainers(node: unknown, file: string, out: Found[]): void {
  if (Array.isArray(node)) {
    for (const n of node) heartbeatContainers(n, file, out);
    return;
  }
  if (!node || typeof node !== 'object') return;
  for (const [key, value] of Object.entries(node as Record<string, unknown>)) {
    if ((key === 'containers' || key === 'initContainers') && Array.isArray(value)) {
      for (const c of value as Container[]) if (c && c.name === 'heartbeat') out.push({ file, container: c });
    }
    if (key === 'patch' && typeof value === 'string') {
      for (const d of parseAllDocuments(value)) heartbeatContainers(d.toJS(), `${file} (inline patch)`, out);
    }
    heartbeatContainers(value, file, out);
  }
}

const flagMap = (flags: string[]): Map<string, string> =>
  new Map(flags.map((f) => [f.split('=')[0] as string, f]));

describe('memory settings: the image carries them, the manifests do not contradict them', () => {
  const image = imageNodeFlags();
  const all = [...image.nodeOptions, ...image.entrypoint];

  it('the image sets the heap sizes (old space and semi-space) in its ENTRYPOINT or ENV NODE_OPTIONS', () => {
    const flags = flagMap(all);
    assert.match(flags.get('--max-old-space-size') ?? '', /^--max-old-space-size=\d+$/);
    assert.match(flags.get('--max-semi-space-size') ?? '', /^--max-semi-space-size=\d+$/);
  });

  it('this Node accepts the image\'s flags and sizes its heap by them', () => {
    const out = execFileSync(process.execPath, [...image.entrypoint, '-p', 'require("v8").getHeapStatistics().heap_size_limit'],
      { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: image.nodeOptions.join(' ') } });
    const limit = Number(out.trim());
    const old = Number((flagMap(all).get('--max-old-space-size') as string).split('=')[1]);
    // V8's limit is the old space plus the young generation: more than the old space, far below what it picks alone
    assert.ok(limit >= old * 1024 * 1024 && limit <= (old + 16) * 1024 * 1024, `heap limit ${limit} for --max-old-space-size=${old}`);
  });

  it('every heartbeat container under k8s/ leaves NODE_OPTIONS unset or sets the image\'s values, and keeps the ENTRYPOINT', () => {
    const found: Found[] = [];
    for (const file of yamlFiles(path.join(ROOT, 'k8s'))) {
      for (const d of parseAllDocuments(fs.readFileSync(file, 'utf8'))) heartbeatContainers(d.toJS(), path.relative(ROOT, file), found);
    }
    assert.ok(found.some((f) => !f.file.includes('inline patch')), 'no container named heartbeat in any YAML under k8s/');
    const imageFlags = flagMap(all);
    for (const { file, container } of found) {
      assert.equal(container.command, undefined, `${file}: heartbeat's command: replaces the image's ENTRYPOINT and drops its memory flags`);
      const env = Array.isArray(container.env) ? (container.env as { name?: unknown; value?: unknown }[]) : [];
      const options = env.find((e) => e.name === 'NODE_OPTIONS');
      if (!options) continue;
      const tokens = (typeof options.value === 'string' ? options.value : '').split(/\s+/).filter(Boolean);
      for (const t of tokens) {
        const name = t.split('=')[0] as string;
        assert.equal(t, imageFlags.get(name) ?? `(${name} is not among the image's flags: ${all.join(' ')})`,
          `${file}: heartbeat's NODE_OPTIONS ${t} differs from the image's`);
      }
    }
  });
});
