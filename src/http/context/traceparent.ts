/**
 * The trace id of a W3C Trace Context `traceparent` value, checked only as far as the id
 * needs (https://www.w3.org/TR/trace-context/#traceparent-header, and the W3C test suite's
 * test/tracecontext/traceparent.py): `version-traceid-parentid-flags`, each lower-case hex of
 * 2, 32, 16 and 2 digits; version ff and all-zero ids are invalid; version 00 has nothing after
 * the flags, a later version may have more after a '-'. Anything else: '' (the log says `-`).
 */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}(-|$)/;
const ZEROS = /^0+$/;

export function traceId(value: string): string {
  const m = TRACEPARENT.exec(value);
  if (!m) return '';
  const [, version, trace, parent, more] = m as unknown as [string, string, string, string, string];
  if (version === 'ff' || (version === '00' && more !== '')) return '';
  if (ZEROS.test(trace) || ZEROS.test(parent)) return '';
  return trace;
}
