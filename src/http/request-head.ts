/**
 * The first bytes of a request whose head is still arriving, kept so that a request the parser then
 * rejects (a bad header in a later read, a 431, the headers timeout) is logged with its own method and
 * target: Node's parser keeps the earlier reads in C++ and reports only the read it failed in.
 *
 * Node reads a plain TCP connection in C++ and hands each read straight to its parser; JavaScript hears
 * of a read only afterwards, through the parser's execute callback (and can copy it then, with
 * `getCurrentBuffer()`). One hook wraps that callback, per connection, after Node has set it: when a
 * read neither handed a request over (the connection's last response, src/http/connection-state.ts, is unchanged) nor belonged
 * to that request's body, it began the head of the next request: it is copied, and the next reads
 * until a line ends, at most MAX_KEPT bytes. Once a request is handed over, the copy is dropped.
 *
 * Only a head kept from a read that began at a request boundary is returned: the connection's first
 * read, or one after the request before it was complete and answered (the client waited). Any other
 * read may begin mid-head (the read before it handed over a request and the start of the next:
 * pipelined, then split) or mid-body, so its first bytes are no start line (they may be a `Cookie:`
 * header); that request logs `-`.
 * Every read's time is noted (one performance.now()), for a rejected request's duration_ms.
 * A request sent in one read costs one call and no copy. A connection Node does not read natively (none of ours today) has no execute
 * callback and keeps nothing. Node clears the hook when the parser goes back to its pool
 * (`cleanParser`, Node 20 and 24).
 */
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { connectionOf, existingConnection } from './connection-state';

/** How much of a head is kept: the start line and what came with it in its read. */
const MAX_KEPT = 8192;

interface NodeParser {
  [hook: number]: unknown;
  getCurrentBuffer(): Buffer;
  constructor: { kOnExecute?: number };
}

type Keeping = Socket & { parser?: NodeParser | null };

/** Installs the hook on a new connection's parser ('connection' listener, after Node's own). */
export function keepRequestHeads(socket: Socket): void {
  const s = socket as Keeping;
  const parser = s.parser;
  const exec = parser?.constructor.kOnExecute;
  if (!parser || exec === undefined) return;
  const nodeExecute = parser[exec];
  if (typeof nodeExecute !== 'function' || typeof parser.getCurrentBuffer !== 'function') return;

  const conn = connectionOf(socket);
  let seen = conn.last;
  conn.accepted = performance.now();
  parser[exec] = (ret: unknown): void => {
    const read = (conn.read = performance.now()); // before Node's callback, which may report the error
    const before = conn.last;
    // This read begins at a request's start only if the request before it was complete and answered
    // (the client waited for the answer), or it is the connection's first read.
    const atBoundary = before === undefined || (before.req.complete && before.writableFinished);
    (nodeExecute as (ret: unknown) => void)(ret); // Node's: may report a parse error, which reads keptHead()
    if (typeof ret !== 'number' || s.parser !== parser) return;
    const last = conn.last;
    const k = conn.head;
    if (last !== seen) {
      // A request was handed over in this read: its head is complete, nothing to keep.
      seen = last;
      if (k) conn.head = undefined;
    } else if (last && !last.req.complete) {
      // A read of the body of the request handed over before.
    } else if (!k) {
      // Neither a request nor a body: the head of the next request began in this read.
      const bytes = parser.getCurrentBuffer();
      const tail = bytes.length > MAX_KEPT ? Buffer.from(bytes.subarray(bytes.length - MAX_KEPT)) : bytes;
      // Its start line is known only at a boundary (above): otherwise this read may begin mid-body or
      // mid-head (the read before it handed over a request and the start of the next).
      conn.head = { parts: [tail], length: tail.length, before: last, began: read, fromStart: atBoundary && last === before };
    } else if (k.length < MAX_KEPT && !k.parts.some((b) => b.includes(10))) {
      // Its start line is not complete yet: keep reading it (bounded; a line is all that is needed).
      const whole = parser.getCurrentBuffer();
      const more = whole.length > MAX_KEPT - k.length ? Buffer.from(whole.subarray(0, MAX_KEPT - k.length)) : whole;
      k.parts.push(more);
      k.length += more.length;
    }
  };
}

/**
 * The kept bytes of the request whose head was still arriving when the parser failed: from the read
 * in which it began up to the failing read (exclusive). Undefined when it began in the failing read.
 */
export function keptHead(socket: Socket): Buffer | undefined {
  const conn = existingConnection(socket);
  const k = conn?.head;
  // Only while that request is still the one arriving (no request handed over since it began).
  return k && k.fromStart && conn?.last === k.before ? Buffer.concat(k.parts, k.length) : undefined;
}

/**
 * When the rejected request began (performance.now()): the read in which its head began (kept), else
 * the latest read (the failing one); with nothing read (a headers timeout), the connection's accept.
 * Never later than the start Node's headers timeout counts from. Undefined when no
 * hook is installed (request logging off: nothing logs the duration).
 */
export function headBegan(socket: Socket): number | undefined {
  const conn = existingConnection(socket);
  if (conn?.accepted === undefined) return undefined;
  const k = conn.head;
  if (k && conn.last === k.before) return k.began;
  return conn.read ?? conn.accepted;
}
