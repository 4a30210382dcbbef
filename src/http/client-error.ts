/**
 * Requests Node's HTTP parser rejects (bad method token, bytes HTTP forbids, oversized headers,
 * a malformed chunked body, the headers or request timeout): answered with our common headers.
 * What was answered is returned, for the observer to record (src/http/observe.ts): each exchange once, its own:
 *
 * - an error in the body of a request already handed to a handler (a malformed chunk, the request
 *   timeout mid-upload) belongs to that request: its own response answers it (an answer already
 *   complete is delivered, then the connection closed; one under way is cut, logged as aborted);
 * - any other error is a request of its own, after the last one handed over: it is answered once every
 *   response before it has been written (pipelining), and described with the method and target of its
 *   start line only where that line is certain, `-` otherwise.
 *
 * Certain means: the bytes the parser failed in (the error's `rawPacket`, public API of 'clientError')
 * are everything the connection has read, so they begin with its first request's start line; the
 * requests handed over before this one (pipelined in that same read) are walked over head by head as
 * the parser framed them (a head ends at its empty line; a body is its `Content-Length`), and the walk
 * is given up (`-`) at anything it cannot frame as certainly (a chunked body, two lengths). Node
 * documents rawPacket as the current buffer chunk, which may begin anywhere in a request (mid-head after
 * a read that ended mid-line, mid-body): in any later read nothing proves where a start line is, so a
 * header is never taken for one.
 */
import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { connectionOf } from './connection-state';
import type { RawAnswer } from './observe';
import { rawAnswer, sendText } from './respond';

const STATUS_BY_CODE: Record<string, number> = {
  HPE_HEADER_OVERFLOW: 431,
  HPE_CHUNK_EXTENSIONS_OVERFLOW: 413,
  ERR_HTTP_REQUEST_TIMEOUT: 408,
};

/** How much of a rejected request's start line is read for its method and target. */
const START_LINE_LIMIT = 4096;

const bodyOf = (status: number): string => `${(STATUS_CODES[status] ?? 'bad request').toLowerCase()}\n`;

const UNKNOWN = { method: '-', url: '-', proto: '' };

/**
 * The method and target of the start line at the beginning of `raw` (after the empty lines a request
 * may begin with), the parser having failed at `at`. An error in the start line itself (a bad method
 * or target): as far as the parser read it. Past it (in a header): it must be a whole start line.
 */
export function startLine(raw: Buffer, at: number): { method: string; url: string; proto: string } {
  let from = 0;
  while (raw[from] === 13 || raw[from] === 10) from++;
  let eol = raw.indexOf(10, from);
  if (eol < 0 || eol - from > START_LINE_LIMIT) eol = Math.min(raw.length, from + START_LINE_LIMIT);
  const line = raw.toString('latin1', from, eol).replace(/\r$/, '');
  const m = at <= eol
    ? /^([^ \r\n:]{1,32})(?: ([^ \r\n]+))?(?=[ \r\n]|$)/.exec(line)
    : /^([^ \r\n:]{1,32}) ([^ \r\n]+) (HTTP\/1\.[01])$/.exec(line);
  // The version only from a whole start line (proto); the headers of a refused request are never read.
  return m ? { method: m[1] as string, url: m[2] ?? '-', proto: m[3] ?? '' } : UNKNOWN;
}

/**
 * Where the request after the first `count` requests of `raw` begins, `raw` being everything the
 * connection has read: each head up to its empty line, then its `Content-Length` body. -1 when that is
 * not certain: a chunked body, more than one length, or a request not wholly before `errorAt`.
 */
export function afterRequests(raw: Buffer, count: number, errorAt: number): number {
  let pos = 0;
  for (let n = 0; n < count; n++) {
    while (raw[pos] === 13 || raw[pos] === 10) pos++; // empty lines before a request are allowed
    let length = 0;
    let lengths = 0;
    let line = pos;
    for (let first = true; ; first = false) {
      const eol = raw.indexOf(10, line);
      if (eol < 0 || eol >= errorAt) return -1;
      const end = eol > line && raw[eol - 1] === 13 ? eol - 1 : eol;
      if (end === line) {
        pos = eol + 1; // the empty line: the head ends
        break;
      }
      const colon = first ? -1 : raw.indexOf(58, line);
      if (colon > line && colon < end) {
        const name = raw.toString('latin1', line, colon).toLowerCase();
        if (name === 'transfer-encoding') return -1;
        if (name === 'content-length') {
          const value = raw.toString('latin1', colon + 1, end).trim();
          if (!/^\d{1,15}$/.test(value)) return -1;
          length = Number(value);
          lengths++;
        }
      }
      line = eol + 1;
    }
    if (lengths > 1) return -1;
    pos += length;
    if (pos > errorAt) return -1;
  }
  return pos;
}

/** What a parser error was answered with: a request of its own (raw), or the body of one being answered. */
export type ClientErrorAnswer = { readonly raw: RawAnswer } | { readonly body: ServerResponse; readonly status: number };

export function handleClientError(
  err: NodeJS.ErrnoException & { rawPacket?: unknown; bytesParsed?: unknown },
  socket: Socket,
): ClientErrorAnswer | undefined {
  // A client that reset, vanished or closed mid-request (HPE_INVALID_EOF_STATE), or a socket
  // error that is not about the request's bytes: nobody to answer, no request to log.
  const code = err.code ?? '';
  const parseError = code.startsWith('HPE_') && code !== 'HPE_INVALID_EOF_STATE';
  if (!(parseError || code === 'ERR_HTTP_REQUEST_TIMEOUT') || !socket.writable) {
    socket.destroy();
    return undefined;
  }
  // Already answering an earlier error on this connection: the parser reports every later read too.
  const conn = connectionOf(socket);
  if (!conn.reject()) return undefined;
  const status = STATUS_BY_CODE[code] ?? 400;
  const last = conn.last;

  if (last && !last.req.complete) {
    // In the body of the request being received: its exchange reports it, with this status.
    if (last.headersSent) {
      // Its answer is complete: deliver it, then close. Under way: cut it (logged as aborted).
      if (last.writableEnded) socket.destroySoon();
      else socket.destroy();
      return undefined;
    }
    sendText(last, status, bodyOf(status), { Connection: 'close' });
    return { body: last, status };
  }

  const answer = (): void => {
    socket.end(rawAnswer(status, bodyOf(status)));
    socket.destroySoon();
  };
  // After every response before it (HTTP answers in order): the last one's 'finish' says all are written.
  if (!last || last.writableFinished) answer();
  else {
    last.once('finish', answer);
    socket.once('close', () => last.off('finish', answer));
  }
  const raw = Buffer.isBuffer(err.rawPacket) ? err.rawPacket : undefined;
  // The failing read is all the connection has read: it begins with the connection's first start line.
  const whole = raw !== undefined && socket.bytesRead === raw.length;
  const parsed = err.bytesParsed;
  const at = typeof parsed === 'number' && parsed >= 0 && parsed <= (raw?.length ?? 0) ? parsed : raw?.length ?? 0;
  const from = whole ? afterRequests(raw, conn.requests, at) : -1;
  const { method, url, proto } = raw && from >= 0 ? startLine(raw.subarray(from), at - from) : UNKNOWN;
  return {
    raw: {
      socket, status, method, path: url, proto, bytesOut: Buffer.byteLength(bodyOf(status)),
      // The connection's first request began after the accept: its duration counts from there (an upper
      // bound), as does one pipelined with it in the first read. A later one's beginning is not known.
      began: last === undefined || from >= 0 ? conn.acceptedTime : undefined,
    },
  };
}
