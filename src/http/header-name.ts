/**
 * Whether a header name as sent (any case) is `lower`, an all-lower-case ASCII name: compared in place,
 * so the hot path makes no lower-cased copy of every name it looks at.
 */
export function isName(name: string, lower: string): boolean {
  const n = lower.length;
  if (name.length !== n) return false;
  for (let i = 0; i < n; i++) {
    const c = name.charCodeAt(i);
    // ASCII letters fold by their 0x20 bit; anything else must match exactly.
    if (c !== lower.charCodeAt(i) && (c < 65 || c > 90 || (c | 0x20) !== lower.charCodeAt(i))) return false;
  }
  return true;
}
