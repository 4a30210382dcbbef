/** Checks a streamed heartbeat body without holding it: each chunk against the pattern at its offset. */
import { PATTERN } from '../../src/http/payload';

const REFERENCE = Buffer.from(PATTERN.repeat(4 * 1024 * 1024 / PATTERN.length + 1), 'latin1');

export class PatternChecker {
  bytes = 0;
  bad = -1;

  add(chunk: Buffer): void {
    for (let off = 0; off < chunk.length && this.bad < 0;) {
      const phase = this.bytes % PATTERN.length;
      const n = Math.min(chunk.length - off, REFERENCE.length - phase);
      if (!chunk.subarray(off, off + n).equals(REFERENCE.subarray(phase, phase + n))) this.bad = this.bytes;
      this.bytes += n;
      off += n;
    }
  }
}
