/**
 * Which peers this heartbeat probes: a stable neighbour set on a hash ring.
 * Every member (address:port) is placed on a ring by a hash of its own name
 * (SHA-256, first 48 bits; ties broken by the name), and each member probes the
 * next min(K, N-1) members clockwise. Every instance computes the same ring from
 * the same DNS answer, alone, so:
 * - out-degree = in-degree = min(K, N-1) for every member, exactly;
 * - the set is the same every round while membership is unchanged;
 * - one member joining or leaving changes at most 3K pairs in the whole mesh
 *   (its own K, and one pair dropped and one added for each of its K predecessors);
 * - neighbours are spread by the hash, not by address order.
 * A prober that is not a member (a hub probing the edge) is placed on the ring
 * by its own key and probes the next min(K, N) members; nobody probes it.
 *
 * Dual-stack: each address family is a ring of its own (pickNeighbours), with this
 * heartbeat's own address of that family as its place: an instance never picks its own
 * other address, never both addresses of one peer in one ring, and probes min(K, N-1)
 * members in each family it has (min(K, N) in a family it has no own address in).
 */
import { createHash } from 'node:crypto';

/** A member's position on the ring: the first 48 bits of SHA-256 of its name. */
export function ringPosition(member: string): number {
  return parseInt(createHash('sha256').update(member).digest('hex').slice(0, 12), 16);
}

const byRing = (a: { pos: number; m: string }, b: { pos: number; m: string }): number =>
  a.pos - b.pos || (a.m < b.m ? -1 : a.m > b.m ? 1 : 0);

/** The ring: members (deduplicated) in ring order. */
export function ring(members: Iterable<string>): string[] {
  return [...new Set(members)].map((m) => ({ pos: ringPosition(m), m })).sort(byRing).map((e) => e.m);
}

/**
 * The members `self` probes: the next min(k, others) members after `self` on the ring
 * built from `members` (`self` may or may not be one of them; it is never returned).
 */
export function neighbours(members: Iterable<string>, self: string, k: number): string[] {
  const others = ring([...members].filter((m) => m !== self));
  if (others.length === 0 || k <= 0) return [];
  const me = { pos: ringPosition(self), m: self };
  // first member after self on the ring (binary search)
  let lo = 0;
  let hi = others.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (byRing({ pos: ringPosition(others[mid] as string), m: others[mid] as string }, me) < 0) lo = mid + 1;
    else hi = mid;
  }
  const n = Math.min(k, others.length);
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(others[(lo + i) % others.length] as string);
  return out;
}

/** Every member's neighbours for a whole mesh (the simulation's view: one ring, N lookups). */
export function meshNeighbours(members: Iterable<string>, k: number): Map<string, string[]> {
  const r = ring(members);
  const n = Math.min(k, r.length - 1);
  const out = new Map<string, string[]>();
  for (let i = 0; i < r.length; i++) {
    const mine: string[] = [];
    for (let j = 1; j <= n; j++) mine.push(r[(i + j) % r.length] as string);
    out.set(r[i] as string, mine);
  }
  return out;
}

export type Family = 'ipv4' | 'ipv6';

/** The family of a member, `address:port` or `[v6]:port`. */
export const familyOf = (member: string): Family => (member.startsWith('[') ? 'ipv6' : 'ipv4');

/**
 * The members to probe, every family on its own ring: `members` are the others (own addresses left
 * out), `own` this heartbeat's members (its place on each family's ring: the first of them in text
 * order; its other own members of that family are on no ring), `fallback` its place in a family it
 * has no own member of. Families in a stable order (ipv4, then ipv6).
 */
export function pickNeighbours(members: Iterable<string>, own: Iterable<string>, fallback: string, k: number): string[] {
  const out: string[] = [];
  const all = [...members];
  const mine = [...own];
  for (const family of ['ipv4', 'ipv6'] as const) {
    const ofFamily = all.filter((m) => familyOf(m) === family);
    if (ofFamily.length === 0) continue;
    const self = mine.filter((m) => familyOf(m) === family).sort()[0] ?? fallback;
    out.push(...neighbours([...ofFamily, self], self, k));
  }
  return out;
}
