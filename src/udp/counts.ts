/**
 * What the echo responder tells each prober about its own datagrams: per probe id, how many echo
 * datagrams arrived (and were answered) and the highest sequence number among them. A table of
 * fixed size (PROBE_SLOTS, 4-way): a new id takes an empty way, else the one least recently seen,
 * so memory stays the same whatever the traffic. A probe id lives one round (src/probe/udp-round.ts);
 * with fewer than PROBE_SLOTS / 4 probers at a time no live id is ever pushed out.
 */
import { OFFSET } from './datagram';

export const PROBE_SLOTS = 4096;
const WAYS = 4;

export class ProbeCounts {
  private readonly hi = new Uint32Array(PROBE_SLOTS);
  private readonly lo = new Uint32Array(PROBE_SLOTS);
  private readonly received = new Uint32Array(PROBE_SLOTS);
  private readonly highest = new Uint32Array(PROBE_SLOTS);
  private readonly seen = new Float64Array(PROBE_SLOTS);
  private readonly used = new Uint8Array(PROBE_SLOTS);

  /** The slot of the id in `b`, or -1. */
  private find(hi: number, lo: number): number {
    const base = ((hi ^ lo) >>> 0) & (PROBE_SLOTS - WAYS);
    for (let i = base; i < base + WAYS; i++) if (this.used[i] === 1 && this.hi[i] === hi && this.lo[i] === lo) return i;
    return -1;
  }

  /** An echo question arrived in `b`: counts it and writes the counts into `b` (the answer). */
  echo(b: Buffer, nowMs: number): void {
    const hi = b.readUInt32BE(OFFSET.id);
    const lo = b.readUInt32BE(OFFSET.id + 4);
    const seq = b.readUInt32BE(OFFSET.seq);
    let i = this.find(hi, lo);
    if (i < 0) {
      const base = ((hi ^ lo) >>> 0) & (PROBE_SLOTS - WAYS);
      i = base;
      for (let j = base; j < base + WAYS; j++) {
        if (this.used[j] === 0) { i = j; break; }
        if ((this.seen[j] as number) < (this.seen[i] as number)) i = j;
      }
      this.used[i] = 1;
      this.hi[i] = hi;
      this.lo[i] = lo;
      this.received[i] = 0;
      this.highest[i] = seq;
    }
    this.received[i] = ((this.received[i] as number) + 1) >>> 0;
    if (seq > (this.highest[i] as number)) this.highest[i] = seq;
    this.seen[i] = nowMs;
    b.writeUInt32BE(this.received[i] as number, OFFSET.received);
    b.writeUInt32BE(this.highest[i] as number, OFFSET.highest);
  }

  /** A count question arrived in `b`: writes the id's counts into it (0 and 0 for an id never seen). */
  count(b: Buffer): void {
    const i = this.find(b.readUInt32BE(OFFSET.id), b.readUInt32BE(OFFSET.id + 4));
    b.writeUInt32BE(i < 0 ? 0 : this.received[i] as number, OFFSET.received);
    b.writeUInt32BE(i < 0 ? 0 : this.highest[i] as number, OFFSET.highest);
  }
}
