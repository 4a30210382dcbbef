/**
 * CONNECT is not a method heartbeat serves: 405 with the common headers, logged like any request. Without a listener
 * Node would just drop the socket.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { requestContext } from './context/headers';
import { isoNow, roundMs } from '../log/format';
import type { ExchangeListener } from './observe';
import { HEARTBEAT_METHODS } from './paths';
import { rawAnswer } from './respond';

const BODY = `method not allowed; use ${HEARTBEAT_METHODS}\n`;
const ANSWER = rawAnswer(405, BODY, { Allow: HEARTBEAT_METHODS });

/** A CONNECT socket, answered 405, is closed after this long if the client has not closed it. */
const CONNECT_LINGER_MS = 2000;

/**
 * Node hands the socket over bare, outside every HTTP timeout and with its own error listener
 * removed: a client that resets it must not become an uncaught ECONNRESET that ends the
 * process, and one that never closes (or whose reset we never read) must not hold the socket.
 */
export function refuseConnect(req: IncomingMessage, socket: Socket, report?: ExchangeListener): void {
  const start = performance.now();
  const linger = setTimeout(() => socket.destroy(), CONNECT_LINGER_MS);
  socket.on('close', () => clearTimeout(linger));
  socket.on('error', () => socket.destroy());
  socket.resume(); // read and discard, so the client's close or reset is seen
  socket.end(ANSWER);
  if (!report) return;
  const c = requestContext(req); // a rare request: read whether it is logged or only counted
  report({
    time: isoNow(), route: 'other', method: req.method ?? 'CONNECT', path: req.url ?? '', client: socket.remoteAddress ?? '',
    status: 405, duration_ms: roundMs(performance.now() - start), bytes_in: 0, bytes_out: Buffer.byteLength(BODY), declared: 0,
    aborted: false, forwarded_for: c.forwardedFor, user_agent: c.userAgent, request_id: c.requestId, proto: c.proto,
  });
}
