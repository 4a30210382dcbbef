/**
 * Requests Node's HTTP parser rejects before they reach a handler (bad method
 * token, bytes HTTP forbids, oversized headers, headers timeout): answered as
 * Node would by default, and logged as request lines so they are not invisible.
 */
import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { unknownContext } from './context/headers';
import { rejectExchange, type ExchangeResult } from './observe';

const STATUS_BY_CODE: Record<string, number> = {
  HPE_HEADER_OVERFLOW: 431,
  HPE_CHUNK_EXTENSIONS_OVERFLOW: 413,
  ERR_HTTP_REQUEST_TIMEOUT: 408,
};

/** The request line's method, target and HTTP version, as far as the parser had them. */
function requestLine(raw: unknown): { method: string; url: string; proto: string } {
  if (!Buffer.isBuffer(raw)) return { method: '-', url: '-', proto: '' };
  const head = raw.subarray(0, 4096).toString('latin1');
  const m = /^([^ \r\n]{1,32}) ([^ \r\n]+)(?: (HTTP\/1\.[01])\r?\n)?/.exec(head);
  return m ? { method: m[1] as string, url: m[2] as string, proto: m[3] ?? '' } : { method: '-', url: '-', proto: '' };
}

export function handleClientError(
  err: NodeJS.ErrnoException & { rawPacket?: unknown },
  socket: Socket,
  log?: (r: ExchangeResult) => void,
): void {
  // A client that reset, vanished or closed mid-request (HPE_INVALID_EOF_STATE), or a socket
  // error that is not about the request's bytes: nobody to answer, no request to log.
  const code = err.code ?? '';
  const parseError = code.startsWith('HPE_') && code !== 'HPE_INVALID_EOF_STATE';
  if (!(parseError || code === 'ERR_HTTP_REQUEST_TIMEOUT') || !socket.writable) {
    socket.destroy();
    return;
  }
  const status = STATUS_BY_CODE[code] ?? 400;
  const client = socket.remoteAddress ?? '';
  // As Node does: answer only when no response is under way or none of it has been written
  // (it would be corrupted). A request already being answered (a bad chunk in its body, say)
  // is reported by its own exchange, with this status.
  const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  if (inFlight) rejectExchange(inFlight, status);
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  socket.destroySoon();
  if (!inFlight) {
    // The headers are not read from a request the parser refused: only the version, if the line had it.
    const { method, url, proto } = requestLine(err.rawPacket);
    log?.({
      method, url, route: 'other', client, status, durationMs: 0, bytesIn: 0, bytesOut: 0, declared: 0, aborted: false,
      context: unknownContext(proto),
    });
  }
}
