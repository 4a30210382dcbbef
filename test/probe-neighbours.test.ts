/**
 * The neighbour ring (src/probe/neighbours.ts), simulated: meshes of 2..5000 members,
 * several K. Every member probes min(K, N-1) others and is probed by exactly as many,
 * never itself; what one instance computes alone is what the mesh view says; one
 * member joining or leaving moves at most 3K pairs. Prints the table the closing note quotes.
 */
import assert from 'node:assert/strict';
import { familyOf, meshNeighbours, neighbours, pickNeighbours, ring } from '../src/probe/neighbours';

const SIZES = [2, 3, 4, 5, 8, 9, 10, 17, 33, 63, 64, 65, 100, 257, 1000, 5000];
const KS = [1, 2, 8, 64];
/** Pod-like addresses: 10.42.x.y:8080. */
const member = (i: number): string => `10.${42 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}:8080`;
const members = (n: number, from = 0): string[] => Array.from({ length: n }, (_, i) => member(from + i));

function pairs(mesh: Map<string, string[]>): Set<string> {
  const out = new Set<string>();
  for (const [from, to] of mesh) for (const t of to) out.add(`${from}>${t}`);
  return out;
}
const moved = (a: Set<string>, b: Set<string>): number => [...a].filter((p) => !b.has(p)).length + [...b].filter((p) => !a.has(p)).length;

function degrees(mesh: Map<string, string[]>): { outMin: number; outMax: number; inMin: number; inMax: number } {
  const inDeg = new Map<string, number>([...mesh.keys()].map((m) => [m, 0]));
  for (const [from, to] of mesh) {
    assert.ok(!to.includes(from), `${from} never probes itself`);
    assert.equal(new Set(to).size, to.length, `${from} probes each neighbour once`);
    for (const t of to) inDeg.set(t, (inDeg.get(t) as number) + 1);
  }
  const outs = [...mesh.values()].map((t) => t.length);
  const ins = [...inDeg.values()];
  return { outMin: Math.min(...outs), outMax: Math.max(...outs), inMin: Math.min(...ins), inMax: Math.max(...ins) };
}

describe('probe neighbours: the hash ring, simulated', function () {
  this.timeout(120_000);
  const table: string[] = ['| N | K | out-degree min/max | in-degree min/max | series per instance | pairs moved on join (max) | on leave (max) |', '| --- | --- | --- | --- | --- | --- | --- |'];
  after(() => {
    process.stdout.write(`\n${table.join('\n')}\n\n`);
  });

  for (const n of SIZES) {
    for (const k of KS) {
      it(`N=${n} K=${k}: every member probes and is probed by min(K, N-1); a join or leave moves <= 3K pairs`, () => {
        const all = members(n);
        const mesh = meshNeighbours(all, k);
        const want = Math.min(k, n - 1);
        const d = degrees(mesh);
        assert.deepEqual(d, { outMin: want, outMax: want, inMin: want, inMax: want });
        // each instance alone, from the same answer and its own address, picks what the mesh view says
        const sample = n <= 100 ? all : [all[0], all[n >> 1], all[n - 1]] as string[];
        for (const self of sample) assert.deepEqual(neighbours(all, self, k), mesh.get(self), self);
        // the answer's order does not matter
        assert.deepEqual(neighbours([...all].reverse(), all[0] as string, k), mesh.get(all[0] as string));

        const before = pairs(mesh);
        let joinMax = 0;
        let leaveMax = 0;
        const trials = n <= 100 ? 5 : 2;
        for (let t = 0; t < trials; t++) {
          const joined = pairs(meshNeighbours([...all, member(100_000 + t)], k));
          joinMax = Math.max(joinMax, moved(before, joined));
          const gone = all[Math.floor((t * n) / trials)] as string;
          const left = pairs(meshNeighbours(all.filter((m) => m !== gone), k));
          leaveMax = Math.max(leaveMax, moved(before, left));
        }
        assert.ok(joinMax <= 3 * k, `join moved ${joinMax} pairs > 3K`);
        assert.ok(leaveMax <= 3 * k, `leave moved ${leaveMax} pairs > 3K`);
        if (n > k + 1) {
          // exactly: the newcomer's K, and one pair swapped for each of its K predecessors
          assert.equal(joinMax, 3 * k);
          assert.equal(leaveMax, 3 * k);
        }
        table.push(`| ${n} | ${k} | ${d.outMin}/${d.outMax} | ${d.inMin}/${d.inMax} | ${want} | ${joinMax} | ${leaveMax} |`);
      });
    }
  }

  it('a prober outside the mesh (a hub) probes min(K, N) members, stable while they are', () => {
    const all = members(50);
    const hub = neighbours(all, 'hub.example:8080', 8);
    assert.equal(hub.length, 8);
    assert.ok(hub.every((m) => all.includes(m)));
    assert.deepEqual(neighbours([...all].reverse(), 'hub.example:8080', 8), hub);
    assert.deepEqual(neighbours(all.slice(0, 3), 'hub.example:8080', 8).sort(), all.slice(0, 3).sort());
  });

  it('the ring spreads neighbours by hash, not by address order', () => {
    const all = members(1000);
    const r = ring(all);
    const adjacent = r.filter((m, i) => i > 0 && all.indexOf(m) === all.indexOf(r[i - 1] as string) + 1).length;
    assert.ok(adjacent < 20, `${adjacent} of 1000 ring neighbours are address neighbours`);
    assert.deepEqual(neighbours([], 'a:1', 8), []);
    assert.deepEqual(neighbours(['a:1'], 'a:1', 8), []);
  });

  // D4: dual-stack members (an A and an AAAA record each): each family is its own ring
  for (const [n, k] of [[8, 3], [8, 8], [17, 2], [64, 8]] as const) {
    it(`dual-stack N=${n} K=${k}: each instance probes min(K, N-1) others in each family, never its own other address, in-degree exact`, () => {
      const pods = Array.from({ length: n }, (_, i) => [`10.42.0.${i + 1}:8080`, `[fd00::${(i + 1).toString(16)}]:8080`]);
      const inDeg = new Map<string, number>();
      const want = Math.min(k, n - 1);
      for (const own of pods) {
        const others = pods.flat().filter((m) => !own.includes(m));
        const chosen = pickNeighbours(others, own, 'host:8080', k);
        for (const family of ['ipv4', 'ipv6'] as const) {
          const picked = chosen.filter((m) => familyOf(m) === family);
          assert.equal(picked.length, want, `${own[0]} probes ${want} ${family} peers: ${picked.join(' ')}`);
          assert.equal(new Set(picked).size, picked.length);
        }
        for (const m of chosen) {
          assert.ok(!own.includes(m), `${own[0]} never probes its own ${m}`);
          inDeg.set(m, (inDeg.get(m) ?? 0) + 1);
        }
      }
      assert.deepEqual(new Set(inDeg.values()), new Set([want]), 'every address probed by min(K, N-1) instances');
      assert.equal(inDeg.size, 2 * n);
      // a hub outside the mesh (no own address among them) probes min(K, N) in each family
      const hub = pickNeighbours(pods.flat(), [], 'hub:8080', k);
      assert.deepEqual([hub.filter((m) => familyOf(m) === 'ipv4').length, hub.filter((m) => familyOf(m) === 'ipv6').length], [Math.min(k, n), Math.min(k, n)]);
    });
  }
});
