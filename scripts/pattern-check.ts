/**
 * Checks a streamed heartbeat body without holding it: the prober's own PatternVerifier (src/probe/verify.ts),
 * plus, for a test's failure message, the offset of the first wrong byte.
 */
import { PATTERN } from '../src/http/payload';
import { PatternVerifier } from '../src/probe/verify';

export class PatternChecker extends PatternVerifier {
  /** Offset of the first wrong byte, or -1. */
  bad = -1;

  override add(chunk: Buffer): boolean {
    const at = this.bytes;
    if (super.add(chunk) || this.bad >= 0) return this.ok;
    for (let i = 0; i < chunk.length; i++) {
      if (chunk[i] !== PATTERN.charCodeAt((at + i) % PATTERN.length)) { this.bad = at + i; break; }
    }
    return false;
  }
}
