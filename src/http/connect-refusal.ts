/**
 * CONNECT is not a method heartbeat serves: 405 with the common headers, closed. Without a listener
 * Node would just drop the socket. What was answered is returned, for the observer to record.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { RawAnswer } from './observe';
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
export function refuseConnect(req: IncomingMessage, socket: Socket): RawAnswer {
  const began = performance.now();
  const linger = setTimeout(() => socket.destroy(), CONNECT_LINGER_MS);
  socket.on('close', () => clearTimeout(linger));
  socket.on('error', () => socket.destroy());
  socket.resume(); // read and discard, so the client's close or reset is seen
  socket.end(ANSWER);
  return {
    socket, req, status: 405, method: req.method ?? 'CONNECT', path: req.url ?? '', proto: '',
    bytesOut: Buffer.byteLength(BODY), began,
  };
}
