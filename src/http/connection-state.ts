/**
 * What a connection remembers of the last request handed to a handler: its response.
 * The drain asks whether that response is still being written; the parser-error handler
 * asks whether an error belongs to that request (its body) or to a request after it.
 * One property store per request, on the socket Node already holds.
 */
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

const LAST = Symbol('heartbeat.lastResponse');
const READ = Symbol('heartbeat.readAtLastRequest');
type Tracked = Socket & { [LAST]?: ServerResponse; [READ]?: number };

/** Called for every request handed to a handler. */
export function noteResponse(res: ServerResponse): void {
  const socket = res.req.socket as Tracked;
  socket[LAST] = res;
  socket[READ] = socket.bytesRead;
}

/** Bytes the connection had read when the last request was handed to a handler (0 before the first). */
export function readAtLastRequest(socket: Socket): number {
  return (socket as Tracked)[READ] ?? 0;
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
