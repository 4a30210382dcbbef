/** Opening a listening socket, and saying clearly which one could not be opened and why. */
import type { AddressInfo, Server } from 'node:net';

/** Which of heartbeat's listeners: the heartbeat port, or metrics on a port of their own. */
export type Listener = 'heartbeat' | 'metrics' | 'udp';

/** Where each listener ended up. */
export interface Listening {
  heartbeat: AddressInfo;
  /** Only when metrics have a port of their own. */
  metrics?: AddressInfo;
  /** The UDP echo responder (src/udp/responder.ts), unless udpEcho is off. */
  udp?: { address: string; port: number };
}

/** What a listen error code means to an operator. */
const REASONS: Record<string, string> = {
  EADDRINUSE: 'the port is already in use',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  EADDRNOTAVAIL: 'the address is not one of this host\'s',
  ENOTFOUND: 'the host name does not resolve',
  EAI_AGAIN: 'the host name could not be resolved (DNS did not answer)',
  EAFNOSUPPORT: 'this host has no network of that address family',
};

/** The setting that names each listener's port. */
const FLAGS: Record<Listener, string> = { heartbeat: '--port', metrics: '--metrics-port', udp: 'UDP echo on the --port number; --udp-echo=false turns it off' };

export class ListenError extends Error {
  constructor(
    readonly listener: Listener,
    readonly port: number,
    readonly host: string,
    readonly code: string,
  ) {
    const where = `${host.includes(':') ? `[${host}]` : host || '*'}:${port}`;
    const reason = REASONS[code];
    super(`cannot listen on ${listener === 'udp' ? 'UDP ' : ''}${where} (${FLAGS[listener]}): ${code}${reason ? ` (${reason})` : ''}`);
  }
}

/** Listens on `port` at `host` ('' = every address); rejects with a ListenError naming this listener. */
export function listenOn(srv: Server, port: number, host: string, listener: Listener): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const fail = (e: NodeJS.ErrnoException): void => reject(new ListenError(listener, port, host, e.code ?? e.message));
    srv.once('error', fail);
    srv.listen({ port, host: host || undefined }, () => {
      srv.off('error', fail);
      resolve(srv.address() as AddressInfo);
    });
  });
}
