/**
 * A small TCP proxy for the probe tests, on 127.0.0.1, between a prober and a
 * real heartbeat: it passes bytes through, or breaks the exchange in one
 * chosen way so the prober sees each failure outcome happen on a real socket.
 */
import net from 'node:net';
import { listenLoopback } from './loopback-listen';

export type Fault =
  | 'pass' // forward both ways untouched
  | 'delay' // hold the peer's answer back for `delayMs`
  | 'close-early' // forward the answer's head and part of its body, then close (FIN)
  | 'flip' // flip one bit of one body byte
  | 'status-503' // answer 503 itself, without the peer
  | 'reset' // read the request, then reset the connection (RST)
  | 'received-wrong'; // rewrite the upload's X-Received-Bytes to one less

export interface Proxy {
  port: number;
  fault: Fault;
  delayMs: number;
  /** Connections accepted so far. */
  connections: number;
  close(): Promise<void>;
}

export async function startProxy(upstreamPort: number, fault: Fault = 'pass'): Promise<Proxy> {
  const sockets = new Set<net.Socket>();
  const proxy: Proxy = { port: 0, fault, delayMs: 0, connections: 0, close: () => Promise.resolve() };

  const server = net.createServer((client) => {
    proxy.connections++;
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => undefined);
    const mode = proxy.fault;
    if (mode === 'status-503') {
      client.once('data', () => client.end('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 12\r\nConnection: close\r\n\r\nunavailable\n'));
      return;
    }
    if (mode === 'reset') {
      client.once('data', () => client.resetAndDestroy());
      return;
    }
    const upstream = net.connect(upstreamPort, '127.0.0.1');
    sockets.add(upstream);
    upstream.on('close', () => { sockets.delete(upstream); if (mode !== 'delay') client.destroy(); });
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    client.pipe(upstream);

    let seen = 0; // bytes of the answer seen so far
    let headEnd = -1;
    let head = '';
    upstream.on('data', (chunk: Buffer) => {
      const start = seen;
      seen += chunk.length;
      if (headEnd < 0) {
        head += chunk.toString('latin1');
        const i = head.indexOf('\r\n\r\n');
        if (i >= 0) headEnd = i + 4;
      }
      let out = chunk;
      if (mode === 'flip' && headEnd >= 0 && seen > headEnd + 100 && start <= headEnd + 100) {
        out = Buffer.from(chunk);
        const at = headEnd + 100 - start;
        out[at] = (out[at] as number) ^ 0x01;
      } else if (mode === 'close-early' && headEnd >= 0 && seen > headEnd + 10) {
        client.end(chunk.subarray(0, Math.max(0, headEnd + 10 - start)));
        upstream.destroy();
        return;
      } else if (mode === 'received-wrong' && start === 0) {
        out = Buffer.from(chunk.toString('latin1').replace(/\r\nX-Received-Bytes: (\d+)\r\n/i, (_m, n: string) => `\r\nX-Received-Bytes: ${Number(n) - 1}\r\n`), 'latin1');
      }
      if (mode === 'delay') {
        upstream.pause();
        setTimeout(() => { if (!client.destroyed) client.write(out); upstream.resume(); }, proxy.delayMs).unref();
        return;
      }
      client.write(out);
    });
    upstream.on('end', () => { if (mode !== 'delay') client.end(); });
  });
  Object.assign(proxy, await listenLoopback(server, sockets));
  return proxy;
}

/**
 * Two targets of one heartbeat (on 127.0.0.1 at `upstreamPort`): `fast`, the heartbeat itself, and `slow`, through
 * a delay proxy that holds every answer back 60 s (past any probe's timeout).
 */
export async function slowBesideFast(upstreamPort: number): Promise<{ proxy: Proxy; slow: string; fast: string }> {
  const proxy = await startProxy(upstreamPort, 'delay');
  proxy.delayMs = 60_000;
  return { proxy, slow: `http://127.0.0.1:${proxy.port}`, fast: `http://127.0.0.1:${upstreamPort}` };
}

/**
 * A listening port that never completes a connection: a child process listens with a backlog
 * of 1 and then blocks, and two connections fill its accept queue, so the kernel drops every
 * further SYN and a prober's connect waits until its timeout.
 */
export async function startBlackHole(): Promise<{ port: number; close(): void }> {
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, ['-e', `
    const s = require('net').createServer();
    s.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
      process.stdout.write(s.address().port + '\\n');
      setTimeout(() => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 120000), 50);
    });`], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(Number(String(d).trim()))));
  await new Promise((r) => setTimeout(r, 200)); // its loop is blocked now
  const fillers: net.Socket[] = [];
  for (let i = 0; i < 2; i++) {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => undefined);
    fillers.push(s);
    await new Promise<void>((resolve) => { s.once('connect', () => resolve()); s.once('error', () => resolve()); });
  }
  return {
    port,
    close() {
      for (const s of fillers) s.destroy();
      child.kill('SIGKILL');
    },
  };
}
