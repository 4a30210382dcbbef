/**
 * A TLS-terminating proxy on loopback, as an ingress is: it picks its certificate by the
 * SNI the client sent (a default certificate for any other name), reads the request head,
 * routes by its Host header to a plain heartbeat behind it (404 for a Host it does not
 * route), and from then on passes bytes both ways untouched.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { Issued } from './test-ca';
import { listenLoopback } from './loopback-listen';

export interface TlsProxy {
  port: number;
  /** SNI names of the handshakes so far ('' when none was sent). */
  sni: string[];
  /** Host headers of the requests so far. */
  hosts: string[];
  close(): Promise<void>;
}

export interface TlsProxyOptions {
  /** Certificate by SNI name. */
  certs: Record<string, Issued>;
  /** Certificate for a handshake whose SNI is none of `certs`, or absent. */
  fallback: Issued;
  /** Upstream heartbeat port (on 127.0.0.1) by Host header. */
  routes: Record<string, number>;
}

export async function startTlsProxy(o: TlsProxyOptions): Promise<TlsProxy> {
  const contexts = new Map(Object.entries(o.certs).map(([n, c]) => [n, tls.createSecureContext({ key: c.key, cert: c.cert })]));
  const sockets = new Set<net.Socket>();
  const proxy: TlsProxy = { port: 0, sni: [], hosts: [], close: () => Promise.resolve() };
  const server = tls.createServer({
    key: o.fallback.key, cert: o.fallback.cert,
    SNICallback: (servername, cb) => cb(null, contexts.get(servername)),
  }, (client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => undefined);
    proxy.sni.push(client.servername || '');
    let head = Buffer.alloc(0);
    const onHead = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      client.off('data', onHead);
      const host = /\r\nhost: *([^\r]*)/i.exec(head.subarray(0, end).toString('latin1'))?.[1] ?? '';
      proxy.hosts.push(host);
      const port = o.routes[host];
      if (port === undefined) {
        client.end('HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\nConnection: close\r\n\r\nno route\r\n');
        return;
      }
      const upstream = net.connect(port, '127.0.0.1');
      sockets.add(upstream);
      upstream.on('close', () => { sockets.delete(upstream); client.destroy(); });
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
      upstream.write(head);
      client.pipe(upstream);
      upstream.pipe(client);
    };
    client.on('data', onHead);
  });
  server.on('tlsClientError', () => undefined);
  Object.assign(proxy, await listenLoopback(server, sockets));
  return proxy;
}
