/**
 * The baseline: a bare node:http server that serves the same bytes with the
 * same headers as heartbeat's GET {uri}/{size}, from a buffer built once — the
 * ceiling for a Node server on this machine. Also streams sizes above the
 * buffer (with backpressure) and swallows uploads, so the big transfers have a
 * reference too. Not part of heartbeat: the bench runs it next to heartbeat.
 *
 *   node build/bench/baseline.js PORT
 *
 * Prints "listening PORT" once it accepts connections.
 */
import http from 'node:http';
import { buildPayload } from '../src/http/payload';

const PREFIX = '/heartbeat/';
const MAX = 1024 * 1024 * 1024;
const payload = buildPayload();

function send(req: http.IncomingMessage, res: http.ServerResponse, size: number, received?: number): void {
  const headers: http.OutgoingHttpHeaders = {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': size,
    'Cache-Control': 'no-cache',
    'X-Content-Type-Options': 'nosniff',
  };
  if (received !== undefined) headers['X-Received-Bytes'] = received;
  res.writeHead(200, headers);
  if (size <= payload.length) {
    res.end(size === payload.length ? payload : payload.subarray(0, size));
    return;
  }
  let remaining = size;
  const pump = (): void => {
    while (remaining > payload.length && !res.destroyed) {
      remaining -= payload.length;
      if (!res.write(payload)) return void res.once('drain', pump);
    }
    if (!res.destroyed) res.end(payload.subarray(0, remaining));
  };
  pump();
}

const server = http.createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  const url = req.url ?? '';
  const size = url.startsWith(PREFIX) ? Number(url.slice(PREFIX.length)) : NaN;
  if (!Number.isInteger(size) || size < 1 || size > MAX) {
    res.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': 9 });
    res.end('bad size\n');
    return;
  }
  if (req.method !== 'POST') return send(req, res, size);
  let received = 0;
  req.on('data', (c: Buffer) => { received += c.length; });
  req.on('end', () => send(req, res, size, received));
});
server.keepAliveTimeout = 65_000;

server.listen(Number(process.argv[2]), '127.0.0.1', () => {
  process.stdout.write(`listening ${(server.address() as { port: number }).port}\n`);
});
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
