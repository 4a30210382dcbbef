/**
 * Checks a response body against the heartbeat pattern as it streams: each
 * chunk is compared (memcmp) with the prebuilt payload at the chunk's offset,
 * so nothing is buffered and a 1 GiB body costs no memory.
 */
import { buildPayload, PATTERN } from '../http/payload';

/** The pattern, 1 MiB of it (a multiple of its length), built once for every probe. */
let reference: Buffer | undefined;
export function patternBuffer(): Buffer {
  return (reference ??= buildPayload());
}

export class PatternVerifier {
  /** Body bytes checked so far. */
  bytes = 0;
  /** False from the first chunk holding a wrong byte on: the verdict needs no offset. */
  ok = true;
  private readonly ref = patternBuffer();

  /** Checks `chunk` as the next bytes of the body; false once any byte was wrong. */
  add(chunk: Buffer): boolean {
    const ref = this.ref;
    for (let off = 0; off < chunk.length && this.ok;) {
      const phase = this.bytes % PATTERN.length;
      const n = Math.min(chunk.length - off, ref.length - phase);
      if (!chunk.subarray(off, off + n).equals(ref.subarray(phase, phase + n))) this.ok = false;
      this.bytes += n;
      off += n;
    }
    return this.ok;
  }
}
