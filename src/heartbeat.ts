/**
 * The heartbeat route: GET/HEAD/POST {uri}/{size}. This is the hot path, so it
 * is a plain node:http handler that the server calls before Express: one
 * prefix check, one digit loop, one write of a slice of the prebuilt payload.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Exchange } from './observe';
import { buildPayload, parseSize } from './payload';
import { COMMON_HEADERS, sendText, TEXT_PLAIN } from './respond';

export interface HeartbeatOptions {
  uri: string;
  min: number;
  max: number;
  uploadLimit: number;
}

export const HEARTBEAT_METHODS = 'GET, HEAD, POST';
/** Response header that reports how many request body bytes an upload delivered. */
export const RECEIVED_HEADER = 'X-Received-Bytes';

export interface Heartbeat {
  /** Whether a request path (starting with "/") is the heartbeat's: {uri}, {uri}/..., {uri}?... */
  matches(url: string): boolean;
  handle(req: IncomingMessage, res: ServerResponse, x?: Exchange): void;
  /** For `Expect: 100-continue`: false when the upload is refused before its body is sent. */
  acceptsUpload(req: IncomingMessage, res: ServerResponse): boolean;
}

const SIZE_INVALID = -1;
const SIZE_MALFORMED = -2;
const PATH_UNKNOWN = -3;

export function createHeartbeat(opts: HeartbeatOptions, payload: Buffer = buildPayload()): Heartbeat {
  const { uri, min, max, uploadLimit } = opts;
  const uriLen = uri.length;
  const rangeMessage = `size must be a whole number of bytes from ${min} to ${max}\n`;

  /** The size the request asks for, or one of the negative codes above. */
  function sizeOf(url: string): number {
    let end = url.indexOf('?', uriLen);
    if (end < 0) end = url.length;
    if (end === uriLen) return SIZE_INVALID; // "{uri}" with no size
    const start = uriLen + 1;
    let size = parseSize(url, start, end);
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
    if (decoded.includes('/')) return SIZE_INVALID;
    size = parseSize(decoded, 0, decoded.length);
    return size;
  }

  function refuse(req: IncomingMessage, res: ServerResponse, status: number, body: string, extra?: Record<string, string>): void {
    // A body we are not going to read: close the connection rather than read it to keep it alive.
    const close = req.method === 'POST' && !req.complete;
    sendText(res, status, body, close ? { ...extra, Connection: 'close' } : extra);
  }

  function respond(req: IncomingMessage, res: ServerResponse, size: number, x?: Exchange, received?: number): void {
    const headers: Record<string, string | number> = {
      'Content-Type': TEXT_PLAIN,
      'Content-Length': size,
      ...COMMON_HEADERS,
    };
    if (received !== undefined) headers[RECEIVED_HEADER] = received;
    if (x) x.declared = size;
    res.writeHead(200, headers);
    if (req.method === 'HEAD') {
      res.end();
    } else if (size <= payload.length) {
      res.end(size === payload.length ? payload : payload.subarray(0, size));
    } else {
      stream(res, size, x);
    }
  }

  /**
   * Writes `size` bytes as whole payload buffers then a slice, waiting for
   * 'drain' whenever the socket says it is full. A client that goes away
   * closes the response; the pending 'drain' never comes and the work stops.
   */
  function stream(res: ServerResponse, size: number, x?: Exchange): void {
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
        const more = x
          ? res.write(chunk, (err) => { if (!err) x.bytesOut += n; })
          : res.write(chunk);
        if (!more) {
          res.once('drain', pump);
          return;
        }
      }
    };
    pump();
  }

  function upload(req: IncomingMessage, res: ServerResponse, size: number, x?: Exchange): void {
    let received = 0;
    let refused = false;
    const onData = (chunk: Buffer): void => {
      received += chunk.length;
      if (x) x.bytesIn = received;
      if (received > uploadLimit && !refused) {
        refused = true;
        req.off('data', onData);
        req.pause();
        refuse(req, res, 413, `upload is larger than the limit of ${uploadLimit} bytes\n`);
      }
    };
    req.on('data', onData);
    req.on('end', () => {
      if (!refused) respond(req, res, size, x, received);
    });
    // A client that goes away mid-upload: nothing to answer, nothing to log here.
    req.on('error', () => undefined);
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

    handle(req: IncomingMessage, res: ServerResponse, x?: Exchange): void {
      const method = req.method;
      const url = req.url as string;
      if (method !== 'GET' && method !== 'HEAD' && method !== 'POST') {
        const size = sizeOf(url);
        if (size === PATH_UNKNOWN) refuse(req, res, 404, 'not found\n');
        else refuse(req, res, 405, `method ${method} is not allowed here; use ${HEARTBEAT_METHODS}\n`, { Allow: HEARTBEAT_METHODS });
        return;
      }
      const size = sizeOf(url);
      if (size === PATH_UNKNOWN) return refuse(req, res, 404, 'not found\n');
      if (size === SIZE_MALFORMED) return refuse(req, res, 400, 'malformed percent-encoding in the request path\n');
      if (size < min || size > max) return refuse(req, res, 400, rangeMessage);
      if (method !== 'POST') return respond(req, res, size, x);
      if (declaredTooLarge(req)) return refuse(req, res, 413, `upload is larger than the limit of ${uploadLimit} bytes\n`);
      upload(req, res, size, x);
    },

    acceptsUpload(req: IncomingMessage, res: ServerResponse): boolean {
      if (declaredTooLarge(req)) {
        sendText(res, 413, `upload is larger than the limit of ${uploadLimit} bytes\n`, { Connection: 'close' });
        return false;
      }
      return true;
    },
  };
}
