/**
 * The echo responder's rate limits: token buckets, one for all answers and one per source
 * address, the per-source ones in a table of fixed size (no allocation as traffic grows; a new
 * source takes over the slot its address hashes to, so a flood of spoofed sources gets at most
 * what the total bucket allows).
 */

/** Answers per second to one source address, and the burst it may spend at once. */
export const PER_SOURCE = { rate: 200, burst: 400 } as const;
/** Answers per second in all, and the burst. */
export const TOTAL = { rate: 10_000, burst: 10_000 } as const;
/** Source addresses tracked at once (a power of two). */
export const SOURCE_SLOTS = 4096;

/** One token bucket: `take(now)` spends a token when there is one. */
export class TokenBucket {
  private tokens: number;
  private at = 0;

  constructor(private readonly rate: number, private readonly burst: number) {
    this.tokens = burst;
  }

  take(nowMs: number): boolean {
    this.tokens = Math.min(this.burst, this.tokens + ((nowMs - this.at) * this.rate) / 1000);
    this.at = nowMs;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** FNV-1a over the characters of an address. */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Token buckets per source address, in SOURCE_SLOTS fixed slots. */
export class SourceBuckets {
  private readonly keys: (string | undefined)[] = new Array<string | undefined>(SOURCE_SLOTS).fill(undefined);
  private readonly tokens = new Float64Array(SOURCE_SLOTS);
  private readonly at = new Float64Array(SOURCE_SLOTS);

  constructor(private readonly rate = PER_SOURCE.rate, private readonly burst = PER_SOURCE.burst) {}

  take(address: string, nowMs: number): boolean {
    const i = hash(address) & (SOURCE_SLOTS - 1);
    let tokens: number;
    if (this.keys[i] !== address) {
      this.keys[i] = address;
      tokens = this.burst;
    } else {
      tokens = Math.min(this.burst, (this.tokens[i] as number) + ((nowMs - (this.at[i] as number)) * this.rate) / 1000);
    }
    this.at[i] = nowMs;
    if (tokens < 1) {
      this.tokens[i] = tokens;
      return false;
    }
    this.tokens[i] = tokens - 1;
    return true;
  }
}
