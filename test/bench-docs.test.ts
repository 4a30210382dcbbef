/**
 * The docs' figures are the bench's (#37 item 10): every table a full `npm run bench` makes has its place in
 * docs/ between `<!-- bench:ID -->` markers, every such block was written by the bench (its stamp line), on the
 * Node and with the flags the image ships now (a figure measured on another runtime is older than what it
 * describes), and one run wrote them all alike. And the pod is sized from those figures: its memory request
 * is above every heartbeat peak in them, the prober's at K = 64 included, and its limit twice the largest.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { readBlocks, SECTION_IDS, type Block } from '../bench/docs';
import { imageNodeFlags, readDockerfile } from '../scripts/dockerfile';
import { ROOT } from './helpers/server';

const DOCS = path.join(ROOT, 'docs');
const blocks: (Block & { doc: string })[] = readdirSync(DOCS).filter((f) => f.endsWith('.md')).sort()
  .flatMap((doc) => readBlocks(readFileSync(path.join(DOCS, doc), 'utf8')).map((b) => ({ ...b, doc })));

/** A Markdown table of a block as rows keyed by its header cells. */
function rows(body: string): Record<string, string>[] {
  const lines = body.split('\n').filter((l) => l.startsWith('|'));
  const cells = (l: string): string[] => l.slice(1, -1).split('|').map((c) => c.trim());
  const head = cells(lines[0] ?? '');
  return lines.slice(2).map((l) => Object.fromEntries(cells(l).map((c, i) => [head[i] as string, c])));
}

const block = (id: string): Block => {
  const b = blocks.find((x) => x.id === id);
  assert.ok(b, `no <!-- bench:${id} --> block in docs/`);
  return b;
};

/** Kubernetes quantities in MiB (Mi, Gi). */
const mebibytes = (q: string): number => {
  const m = /^(\d+)(Mi|Gi)$/.exec(q);
  assert.ok(m, `a memory quantity in Mi or Gi: ${q}`);
  return Number(m[1]) * (m[2] === 'Gi' ? 1024 : 1);
};

describe('the docs\' figures are the latest full bench\'s, on the image\'s runtime', () => {
  it('every table the bench makes has its place in docs/, each block between matching markers', () => {
    for (const id of SECTION_IDS) block(id);
    for (const doc of readdirSync(DOCS).filter((f) => f.endsWith('.md'))) {
      const text = readFileSync(path.join(DOCS, doc), 'utf8');
      const opened = [...text.matchAll(/<!-- bench:([a-z0-9-]+) -->/g)].length;
      assert.equal(readBlocks(text).length, opened, `${doc}: a <!-- bench:ID --> without its <!-- /bench:ID -->`);
    }
  });

  it('every block was written by npm run bench, on the Dockerfile\'s Node with its flags: no figure older than the runtime', () => {
    const node = `v${readDockerfile().globalArgs.get('NODE_VERSION')}`;
    const flags = ((f) => [...f.nodeOptions, ...f.entrypoint])(imageNodeFlags());
    for (const b of blocks) {
      assert.ok(b.stamp, `${b.doc} bench:${b.id}: no stamp: run a full npm run bench`);
      assert.equal(b.stamp.node, node, `${b.doc} bench:${b.id}: measured on Node ${b.stamp.node}, the image ships ${node}: run npm run bench`);
      assert.deepEqual(b.stamp.flags, flags, `${b.doc} bench:${b.id}: measured with other flags than the image's: run npm run bench`);
      assert.ok(rows(b.body).length > 0, `${b.doc} bench:${b.id}: a table`);
    }
  });

  it('one run: a table that appears in several docs is the same in each', () => {
    for (const id of SECTION_IDS) {
      const bodies = new Set(blocks.filter((b) => b.id === id).map((b) => b.body));
      assert.equal(bodies.size, 1, `bench:${id} differs between docs`);
    }
  });

  it('the pod\'s memory request is above every heartbeat peak of the run (the prober at K = 64 too), its limit twice the largest', () => {
    const shipped = rows(block('memory').body).find((r) => /\(image\)$/.test(r.Node ?? '') && r.server === 'heartbeat');
    assert.ok(shipped, 'the memory table has heartbeat on the image\'s Node');
    const peaks: Record<string, number> = { 'memory phase, heartbeat on the image\'s Node': Number(shipped['peak RSS (VmHWM)']) };
    for (const r of rows(block('configs').body)) {
      if (r['heartbeat at 1 KiB'] !== 'baseline') peaks[`throughput rounds, ${r['heartbeat at 1 KiB']}`] = Number(r['peak RSS MiB']);
    }
    peaks['the prober at K = 64'] = Number(rows(block('probe-cost').body)[0]?.['prober VmHWM']);
    for (const [what, v] of Object.entries(peaks)) assert.ok(v > 0, `${what}: ${v}`);
    const [worst, peak] = Object.entries(peaks).sort((a, b) => b[1] - a[1])[0] as [string, number];

    const pod = parseYaml(readFileSync(path.join(ROOT, 'k8s', 'components', 'heartbeat', 'pod.yaml'), 'utf8')) as {
      spec: { template: { spec: { containers: { name: string; resources: { requests: { memory: string }; limits: { memory: string } } }[] } } };
    };
    const res = pod.spec.template.spec.containers.find((c) => c.name === 'heartbeat')?.resources;
    assert.ok(res);
    const request = mebibytes(res.requests.memory);
    const limit = mebibytes(res.limits.memory);
    assert.ok(request >= peak * 1.05, `memory request ${request}Mi is not 5% above the largest peak, ${peak} MiB (${worst})`);
    assert.ok(limit >= 2 * peak, `memory limit ${limit}Mi is not twice the largest peak, ${peak} MiB (${worst})`);
  });
});
