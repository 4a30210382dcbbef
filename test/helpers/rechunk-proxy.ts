/**
 * An HTTP/1.1 proxy on loopback that re-frames a heartbeat's answers the way proxies do:
 * the upstream's `Content-Length` body is sent on chunked (chunks of changing sizes, some
 * with extensions, a trailer at the end) or close-delimited (no length, `Connection: close`,
 * the end of the body is the close). One upstream connection per client connection, every
 * answer on it re-framed in turn, so a keep-alive prober reuses it. A `break` mode spoils
 * the framing one way to see each verdict.
 */
import net from 'node:net';
import { listenLoopback } from './loopback-listen';

export type Reframe =
  | 'chunked' // every answer chunked, correctly
  | 'chunked-flip' // chunked, one body byte flipped
  | 'chunked-cut' // chunked, the connection closed before the last chunk
  | 'chunked-bad' // chunked, a size line that is not hex
  | 'close' // close-delimited, correctly
  | 'close-cut' // close-delimited, closed 10 bytes before the end
  | 'close-extra'; // close-delimited, 5 bytes more than the body

export interface RechunkProxy {
  port: number;
  mode: Reframe;
  /** Client connections accepted so far. */
  connections: number;
  close(): Promise<void>;
}

/** Chunk sizes in turn: small and odd ones, ones that cross the pattern's 16 bytes, big ones. */
const SIZES = [1, 7, 16, 100, 4096, 3, 65536, 999];

export async function startRechunkProxy(upstreamPort: number, mode: Reframe): Promise<RechunkProxy> {
  const sockets = new Set<net.Socket>();
  const proxy: RechunkProxy = { port: 0, mode, connections: 0, close: () => Promise.resolve() };
  const server = net.createServer((client) => {
    proxy.connections++;
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => undefined);
    const upstream = net.connect(upstreamPort, '127.0.0.1');
    sockets.add(upstream);
    upstream.on('close', () => { sockets.delete(upstream); client.destroy(); });
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    client.pipe(upstream);
    const m = proxy.mode;
    const chunked = m.startsWith('chunked');
    let pending = Buffer.alloc(0);
    let remaining = -1; // body bytes of the current answer still to come; -1: reading a head
    let sent = 0; // body bytes of the current answer sent on
    let turn = 0;

    const chunk = (data: Buffer): void => {
      for (let off = 0; off < data.length;) {
        const n = Math.min(SIZES[turn++ % SIZES.length] as number, data.length - off);
        let piece = data.subarray(off, off + n);
        if (m === 'chunked-flip' && sent <= 50 && sent + n > 50) {
          piece = Buffer.from(piece);
          piece[50 - sent] = (piece[50 - sent] as number) ^ 0x01;
        }
        const ext = turn % 3 === 0 ? ';name="v";x' : '';
        const size = m === 'chunked-bad' && turn === 3 ? 'zz' : n.toString(16);
        client.write(`${size}${ext}\r\n`);
        client.write(piece);
        client.write('\r\n');
        off += n;
        sent += n;
      }
    };

    const endBody = (): void => {
      if (m === 'chunked-cut') return void client.end();
      if (chunked) client.write('0\r\nX-Trailer: done\r\n\r\n');
      else if (m === 'close-extra') client.end('EXTRA');
      else client.end();
    };

    upstream.on('data', (data: Buffer) => {
      pending = Buffer.concat([pending, data]);
      while (pending.length > 0) {
        if (remaining < 0) {
          const end = pending.indexOf('\r\n\r\n');
          if (end < 0) return;
          const head = pending.subarray(0, end).toString('latin1');
          pending = pending.subarray(end + 4);
          remaining = Number(/\r\ncontent-length: *([0-9]+)/i.exec(head)?.[1] ?? 0);
          sent = 0;
          const kept = head.split('\r\n').filter((l) => !/^(content-length|connection|transfer-encoding):/i.test(l));
          kept.push(chunked ? 'Transfer-Encoding: chunked' : 'Connection: close');
          client.write(`${kept.join('\r\n')}\r\n\r\n`);
          if (remaining === 0) { remaining = -1; endBody(); }
          continue;
        }
        const n = Math.min(remaining, pending.length);
        let body = pending.subarray(0, n);
        pending = pending.subarray(n);
        remaining -= n;
        if (m === 'close-cut' && remaining < 10) body = body.subarray(0, Math.max(0, body.length - (10 - remaining)));
        if (chunked) chunk(body);
        else client.write(body);
        if (remaining === 0) {
          remaining = -1;
          endBody();
        }
      }
    });
  });
  Object.assign(proxy, await listenLoopback(server, sockets));
  return proxy;
}
