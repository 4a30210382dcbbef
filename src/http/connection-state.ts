/**
 * What a connection remembers of the last request handed to a handler: its response.
 * The drain asks whether that response is still being written; the parser-error handler
 * asks whether an error belongs to that request (its body) or to a request after it.
 * One property store per request, on the socket Node already holds.
 */
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

const LAST = Symbol('heartbeat.lastResponse');
type Tracked = Socket & { [LAST]?: ServerResponse };

/** Called for every request handed to a handler. */
export function noteResponse(res: ServerResponse): void {
  const socket = res.req.socket as Tracked;
  socket[LAST] = res;
}

/** The response of the last request handed to a handler on this connection (pipelined ones are answered in order). */
export function lastResponse(socket: Socket): ServerResponse | undefined {
  return (socket as Tracked)[LAST];
}

/** True while the last response on this connection has ended but its bytes are not all written yet. */
export function flushing(socket: Socket): boolean {
  const res = lastResponse(socket);
  return res !== undefined && !socket.destroyed && res.writableEnded && !res.writableFinished;
}
