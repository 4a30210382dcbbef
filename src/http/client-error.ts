/**
 * Requests Node's HTTP parser rejects (bad method token, bytes HTTP forbids, oversized headers,
 * a malformed chunked body, the headers or request timeout): answered with our common headers,
 * and logged as request lines so they are not invisible. Each exchange is reported once, its own:
 *
 * - an error in the body of a request already handed to a handler (a malformed chunk, the request
 *   timeout mid-upload) belongs to that request: its own response answers it (an answer already
 *   complete is delivered, then the connection closed; one under way is cut, logged as aborted);
 * - any other error is a request of its own, after the last one handed over: it is answered once every
 *   response before it has been written (pipelining), and logged with the method and target of its
 *   start line (src/http/request-head.ts keeps it when the head spans reads), `-` for what was not sent.
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { connectionOf } from './connection-state';
import { isoNow, roundMs } from '../log/format';
import { rejectExchange, type ExchangeResult } from './observe';
import { headBegan, keptHead } from './request-head';
import { performance } from 'node:perf_hooks';
import { rawAnswer, sendText } from './respond';

const STATUS_BY_CODE: Record<string, number> = {
  HPE_HEADER_OVERFLOW: 431,
  HPE_CHUNK_EXTENSIONS_OVERFLOW: 413,
  ERR_HTTP_REQUEST_TIMEOUT: 408,
};

/** How much of a rejected request's start line is read for its method and target. */
const START_LINE_LIMIT = 4096;

const HEAD_END = Buffer.from('\r\n\r\n');

const bodyOf = (status: number): string => `${(STATUS_CODES[status] ?? 'bad request').toLowerCase()}\n`;

/**
 * The method and target of the rejected request, from the bytes of the read in which the parser
 * failed (`raw`, failing at `at`). The request began after the last head that ended in this read
 * (and the body that head declared, `previousLength`); or, when `beganHere` (nothing was read between
 * the last request and this read, or `raw` begins with the earlier reads src/http/request-head.ts kept),
 * at the start of `raw`. Otherwise: `-`, never a header taken for a target.
 */
function startLine(raw: unknown, at: unknown, previousLength: number, beganHere: boolean): { method: string; url: string; proto: string } {
  const none = { method: '-', url: '-', proto: '' };
  if (!Buffer.isBuffer(raw)) return none;
  const errorAt = typeof at === 'number' && at >= 0 && at <= raw.length ? at : raw.length;
  const headEnd = errorAt >= HEAD_END.length ? raw.lastIndexOf(HEAD_END, errorAt - HEAD_END.length) : -1;
  let from = 0;
  if (headEnd >= 0) {
    from = headEnd + HEAD_END.length;
    if (previousLength > 0 && from + previousLength <= errorAt) from += previousLength;
  } else if (!beganHere) {
    return none;
  }
  while (raw[from] === 13 || raw[from] === 10) from++; // empty lines before a request are allowed
  let eol = raw.indexOf(10, from);
  if (eol < 0 || eol - from > START_LINE_LIMIT) eol = Math.min(raw.length, from + START_LINE_LIMIT);
  const line = raw.toString('latin1', from, eol).replace(/\r$/, '');
  // The error in the start line itself (a bad method or target): as far as the parser read it.
  // Past it (in a header): the line must be a whole start line.
  const m = errorAt <= eol
    ? /^([^ \r\n:]{1,32})(?: ([^ \r\n]+))?(?=[ \r\n]|$)/.exec(line)
    : /^([^ \r\n:]{1,32}) ([^ \r\n]+) (HTTP\/1\.[01])$/.exec(line);
  // The version only from a whole start line (proto); the headers of a refused request are never read.
  return m ? { method: m[1] as string, url: m[2] ?? '-', proto: m[3] ?? '' } : none;
}

export function handleClientError(
  err: NodeJS.ErrnoException & { rawPacket?: unknown; bytesParsed?: unknown },
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
  // Already answering an earlier error on this connection: the parser reports every later read too.
  const conn = connectionOf(socket);
  if (conn.rejected) return;
  const status = STATUS_BY_CODE[code] ?? 400;
  const last = conn.last;

  if (last && !last.req.complete) {
    // In the body of the request being received: its exchange reports it, with this status.
    conn.rejected = true;
    if (last.headersSent) {
      // Its answer is complete: deliver it, then close. Under way: cut it (logged as aborted).
      if (last.writableEnded) socket.destroySoon();
      else socket.destroy();
      return;
    }
    rejectExchange(last, status);
    sendText(last, status, bodyOf(status), { Connection: 'close' });
    return;
  }

  conn.rejected = true;
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
  if (!log) return;
  const declared = Number(last?.req.headers['content-length'] ?? 0);
  const raw = err.rawPacket;
  const previousLength = Number.isSafeInteger(declared) ? declared : 0;
  // Its head began in an earlier read (src/http/request-head.ts kept it), or in this one.
  const kept = keptHead(socket);
  const { method, url, proto } = kept
    ? startLine(Buffer.isBuffer(raw) ? Buffer.concat([kept, raw]) : kept,
      kept.length + (typeof err.bytesParsed === 'number' ? err.bytesParsed : Buffer.isBuffer(raw) ? raw.length : 0), previousLength, true)
    // The start of this read is a request's start only when it is the connection's first read: a read
    // that handed over a request may also have carried the start of the next head (pipelined, then split).
    : startLine(raw, err.bytesParsed, previousLength, Buffer.isBuffer(raw) && socket.bytesRead === raw.length);
  // From when the request began (src/http/request-head.ts saw its first read) to its answer.
  const began = headBegan(socket);
  log({
    time: isoNow(), method, path: url, forwarded_for: '', user_agent: '', request_id: '', proto,
    route: 'other', client: socket.remoteAddress ?? '', status,
    duration_ms: began === undefined ? 0 : roundMs(performance.now() - began),
    bytes_in: 0, bytes_out: Buffer.byteLength(bodyOf(status)), declared: 0, aborted: false,
  });
}
