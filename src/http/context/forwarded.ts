/**
 * The `for=` values of a `Forwarded` header (RFC 7239), in order, joined with ", " as
 * `X-Forwarded-For` lists them: `for=192.0.2.60;proto=http, for="[2001:db8::17]:4711"` gives
 * `192.0.2.60, [2001:db8::17]:4711`. Parsed only as far as that needs: pairs split on ';' and
 * ',' outside quoted strings, a quoted value unquoted (quoted-pairs resolved). An element
 * without a for= pair adds nothing; a malformed pair is skipped, never an error.
 */
export function forwardedFor(header: string): string {
  const out: string[] = [];
  const n = header.length;
  let i = 0;
  while (i < n) {
    // a pair: [OWS] name "=" value, up to the next ';' or ',' outside quotes
    while (i < n && (header[i] === ' ' || header[i] === '\t' || header[i] === ';' || header[i] === ',')) i++;
    const nameStart = i;
    while (i < n && header[i] !== '=' && header[i] !== ';' && header[i] !== ',') i++;
    const isFor = i - nameStart === 3 && header.slice(nameStart, i).toLowerCase() === 'for';
    if (i >= n || header[i] !== '=') continue; // no value: the separator (or the end) comes next
    i++;
    let value = '';
    if (header[i] === '"') {
      i++;
      while (i < n && header[i] !== '"') {
        if (header[i] === '\\' && i + 1 < n) i++;
        value += header[i];
        i++;
      }
      i++; // the closing quote
    } else {
      const start = i;
      while (i < n && header[i] !== ';' && header[i] !== ',' && header[i] !== ' ' && header[i] !== '\t') i++;
      value = header.slice(start, i);
    }
    // whatever follows the value before the separator is not ours to read
    while (i < n && header[i] !== ';' && header[i] !== ',') i++;
    if (isFor && value !== '') out.push(value);
  }
  return out.join(', ');
}
