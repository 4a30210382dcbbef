/**
 * The heartbeat route: GET/HEAD/POST {uri}/{size}. This is the hot path, so it
 * is a plain node:http handler that the server calls before Express: one
 * prefix check, one digit loop, one write of a slice of the prebuilt payload.
 * `?wire` sizes the whole response instead of the body (src/http/wire.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { buildPayload, parseSize } from './payload';
import { uploaded } from './reclaim';
import { isName } from './header-name';
import { HEARTBEAT_METHODS } from './paths';
import { COMMON_HEADERS, methodNotAllowed, sendText, TEXT_PLAIN } from './respond';
import { CONTINUE_BYTES, fitWire, receivedBytes, wantsWire, wireHeaders, wireMinimum, wireRangeMessage, type WireFit } from './wire';

export interface HeartbeatOptions {
  uri: string;
  min: number;
  max: number;
  uploadLimit: number;
}

/** Response header that reports how many request body bytes an upload delivered. */
const RECEIVED_HEADER = 'X-Received-Bytes';

export interface Heartbeat {
  /** Whether a request path (starting with "/") is the heartbeat's: {uri}, {uri}/..., {uri}?... */
  matches(url: string): boolean;
  /**
   * Answers the request. `expectsContinue`: the client sent `Expect: 100-continue` and waits
   * for `100 Continue` before sending its body; it gets one only for an upload that will be read.
   */
  handle(req: IncomingMessage, res: ServerResponse, expectsContinue?: boolean): void;
}

const SIZE_INVALID = -1;
const SIZE_MALFORMED = -2;
const PATH_UNKNOWN = -3;

export function createHeartbeat(opts: HeartbeatOptions, payload: Buffer = buildPayload()): Heartbeat {
  const { uri, min, max, uploadLimit } = opts;
  const uriLen = uri.length;
  const rangeMessage = `size must be a whole number of bytes from ${min} to ${max}\n`;
  // ?wire (src/http/wire.ts): min and max bound the whole response, never below the smallest one
  const wireMin = Math.max(min, wireMinimum());
  const wireMinUpload = Math.max(min, wireMinimum(receivedBytes(0)));
  const wireMessage = wireRangeMessage(wireMin, max);
  const wireUploadMessage = wireRangeMessage(wireMinUpload, max);
  // an upload that waits for `100 Continue`: the interim answer is part of the wire size (docs/mtu.md)
  const wireMinContinued = Math.max(min, wireMinimum(receivedBytes(0) + CONTINUE_BYTES));
  const wireContinuedMessage = wireRangeMessage(wireMinContinued, max);

  /** The size the request asks for, or one of the negative codes above. */
  function sizeOf(url: string): number {
    let end = url.indexOf('?', uriLen);
    if (end < 0) end = url.length;
    if (end === uriLen) return SIZE_INVALID; // "{uri}" with no size
    const start = uriLen + 1;
    const size = parseSize(url, start, end);
    if (size >= 0) return size;
    // Slow path: anything that is not plain digits.
    const segment = url.slice(start, end);
    if (segment.includes('/')) return PATH_UNKNOWN;
    if (!segment.includes('%')) return SIZE_INVALID;
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      return SIZE_MALFORMED;
    }
    // parseSize takes digits only: a decoded "/" (or anything else) is SIZE_INVALID (-1).
    return parseSize(decoded, 0, decoded.length);
  }

  const tooLarge = `upload is larger than the limit of ${uploadLimit} bytes\n`;

  // The last plain answer's size, headers and body (respond(), below); read-only once made.
  let lastSize = -1;
  let lastHeaders: Readonly<Record<string, string | number>> = {};
  let lastBody: Buffer = payload;

  /** `interim`: bytes already sent before this answer (`100 Continue`), counted in a wire-exact size. */
  function respond(req: IncomingMessage, res: ServerResponse, wanted: number, received?: number, wire?: boolean, close?: boolean, interim = 0): void {
    let size = wanted;
    let headers: Record<string, string | number>;
    if (wire) {
      // a wire-exact answer always carries Connection: close (src/http/wire.ts)
      const extra = (received === undefined ? 0 : receivedBytes(received)) + interim;
      const fit: WireFit | undefined = fitWire(wanted, extra);
      // only an upload whose count has more digits than the minimum assumed can fall short here
      if (!fit) return sendText(res, 400, wireRangeMessage(Math.max(min, wireMinimum(receivedBytes(received ?? 0) + interim)), max));
      size = fit.body;
      headers = wireHeaders(fit, received);
    } else if (received === undefined && !close) {
      // The common answer: the headers and body of the last size asked for are kept (one of each), so a
      // client asking the same size again and again costs no new headers object and no new slice.
      if (size !== lastSize) {
        lastSize = size;
        lastHeaders = { 'Content-Type': TEXT_PLAIN, 'Content-Length': size, ...COMMON_HEADERS };
        lastBody = size < payload.length ? payload.subarray(0, size) : payload;
      }
      res.writeHead(200, lastHeaders);
      if (req.method === 'HEAD') res.end();
      else if (size <= payload.length) res.end(lastBody);
      else stream(res, size);
      return;
    } else {
      headers = { 'Content-Type': TEXT_PLAIN, 'Content-Length': size, ...COMMON_HEADERS };
      if (received !== undefined) headers[RECEIVED_HEADER] = received;
      if (close) headers.Connection = 'close';
    }
    res.writeHead(200, headers);
    if (req.method === 'HEAD') {
      res.end();
    } else if (size <= payload.length) {
      res.end(size === payload.length ? payload : payload.subarray(0, size));
    } else {
      stream(res, size);
    }
  }

  /**
   * Writes `size` bytes as whole payload buffers then a slice, waiting for
   * 'drain' whenever the socket says it is full. A client that goes away
   * closes the response; the pending 'drain' never comes and the work stops.
   */
  function stream(res: ServerResponse, size: number): void {
    let remaining = size;
    const pump = (): void => {
      while (remaining > 0 && !res.destroyed) {
        const n = remaining < payload.length ? remaining : payload.length;
        const chunk = n === payload.length ? payload : payload.subarray(0, n);
        remaining -= n;
        if (remaining === 0) {
          res.end(chunk);
          return;
        }
        if (!res.write(chunk)) {
          res.once('drain', pump);
          return;
        }
      }
    };
    pump();
  }

  function upload(req: IncomingMessage, res: ServerResponse, size: number, expectsContinue?: boolean, wire?: boolean): void {
    if (expectsContinue) res.writeContinue();
    const interim = expectsContinue ? CONTINUE_BYTES : 0;
    let received = 0;
    let refused = false;
    const onData = (chunk: Buffer): void => {
      received += chunk.length;
      uploaded(chunk.length);
      if (received > uploadLimit && !refused && !res.headersSent) {
        refused = true;
        req.off('data', onData);
        req.pause();
        sendText(res, 413, tooLarge, { Connection: 'close' });
      }
    };
    req.on('data', onData);
    // Not when already answered: the parser rejected the body (a bad chunk, the request timeout).
    req.on('end', () => {
      if (!refused && !res.headersSent) respond(req, res, size, received, wire, false, interim);
    });
    // A client that goes away mid-upload: nothing to answer, nothing to log here.
    req.on('error', () => undefined);
  }

  /**
   * Whether a request says a body follows (`Content-Length` other than 0, or `Transfer-Encoding`), read from
   * rawHeaders so that a GET pays no headers object.
   */
  function hasBody(req: IncomingMessage): boolean {
    const raw = req.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i] as string;
      if (isName(name, 'transfer-encoding')) return true;
      if (isName(name, 'content-length') && Number(raw[i + 1]) !== 0) return true;
    }
    return false;
  }

  function declaredTooLarge(req: IncomingMessage): boolean {
    const cl = req.headers['content-length'];
    return cl !== undefined && Number(cl) > uploadLimit;
  }

  return {
    matches(url: string): boolean {
      if (!url.startsWith(uri)) return false;
      if (url.length === uriLen) return true;
      const c = url.charCodeAt(uriLen);
      return c === 47 /* / */ || c === 63 /* ? */;
    },

    handle(req: IncomingMessage, res: ServerResponse, expectsContinue?: boolean): void {
      const method = req.method;
      const url = req.url as string;
      if (method !== 'GET' && method !== 'HEAD' && method !== 'POST') {
        if (sizeOf(url) === PATH_UNKNOWN) sendText(res, 404, 'not found\n');
        else methodNotAllowed(res, HEARTBEAT_METHODS);
        return;
      }
      const size = sizeOf(url);
      if (size === PATH_UNKNOWN) return sendText(res, 404, 'not found\n');
      if (size === SIZE_MALFORMED) return sendText(res, 400, 'malformed percent-encoding in the request path\n');
      const wire = wantsWire(url, url.indexOf('?', uriLen));
      if (wire) {
        const floor = method !== 'POST' ? wireMin : expectsContinue ? wireMinContinued : wireMinUpload;
        if (size < floor || size > max) {
          return sendText(res, 400, method !== 'POST' ? wireMessage : expectsContinue ? wireContinuedMessage : wireUploadMessage);
        }
      } else if (size < min || size > max) return sendText(res, 400, rangeMessage);
      if (method !== 'POST') {
        if (!hasBody(req)) return respond(req, res, size, undefined, wire);
        // A GET/HEAD with a body: never read (it is not an upload), so the answer closes the connection;
        // over the upload limit it is refused like an upload.
        if (declaredTooLarge(req)) return sendText(res, 413, tooLarge, { Connection: 'close' });
        return respond(req, res, size, undefined, wire, true);
      }
      if (declaredTooLarge(req)) return sendText(res, 413, tooLarge, { Connection: 'close' });
      upload(req, res, size, expectsContinue, wire);
    },
  };
}
