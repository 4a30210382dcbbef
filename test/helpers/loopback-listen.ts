/** The end every test proxy shares: listen on 127.0.0.1 at a free port, and a close that cuts its connections first. */
import type net from 'node:net';

export async function listenLoopback(server: net.Server, sockets: Set<net.Socket>): Promise<{ port: number; close: () => Promise<void> }> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}
