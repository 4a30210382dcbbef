/**
 * The heartbeat payload: `0123456789ABCDEF` repeated, built once at start-up.
 * Every response body is a slice of this buffer, or a run of whole copies of it
 * followed by a slice, so no request allocates memory in proportion to its size.
 */
export const PATTERN = '0123456789ABCDEF';

/** 1 MiB: a multiple of the pattern length, so each chunk of a long body restarts the pattern. */
const CHUNK_BYTES = 1024 * 1024;

export function buildPayload(bytes: number = CHUNK_BYTES): Buffer {
  if (bytes % PATTERN.length !== 0) throw new Error('payload buffer must be a multiple of the pattern length');
  return Buffer.alloc(bytes, PATTERN, 'latin1');
}

/** Longest run of digits we read before calling a size too large (2^53 has 16 digits). */
const MAX_DIGITS = 15;

/**
 * Reads a size from `text[start, end)`: decimal digits only (leading zeros allowed),
 * no sign, point, exponent, hex or space. Returns -1 when it is not such a number.
 */
export function parseSize(text: string, start: number, end: number): number {
  const len = end - start;
  if (len <= 0 || len > MAX_DIGITS) return -1;
  let n = 0;
  for (let i = start; i < end; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}
