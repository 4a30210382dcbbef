/**
 * Which addresses a round probes: every target's name resolved afresh (every
 * address it has, so a headless Service's pods come and go with it), this
 * heartbeat's own addresses left out (but remembered: they place this heartbeat
 * on the neighbour ring, src/probe/neighbours.ts).
 */
import net from 'node:net';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { createBoundedLookup } from './dns';
import type { Target } from './settings';

export interface Peer {
  target: Target;
  /** IP address connected to. */
  address: string;
  /** address:port as logged and labelled ([v6]:port for IPv6). */
  label: string;
  /** Milliseconds the target's name took to resolve this round (0 for an IP literal). */
  dnsMs: number;
}

export interface Resolution {
  target: Target;
  /** The target's addresses, own ones left out, in a stable order. */
  peers: Peer[];
  dnsMs: number;
  /** The labels (address:port) of the target's addresses that are this heartbeat. */
  self: string[];
  /** Set when the name did not resolve (or not within the timeout). */
  error?: string;
}

/** Every address of `host`, both families; the lookup itself gives up (and frees what it holds) after `timeoutMs`. */
export type Lookup = (host: string, timeoutMs: number) => Promise<string[]>;

/** The system's names: /etc/hosts, then DNS by resolv.conf, bounded and cancellable (src/probe/dns.ts). */
export const systemLookup: Lookup = createBoundedLookup();

export function peerLabel(address: string, port: number): string {
  return net.isIPv6(address) ? `[${address}]:${port}` : `${address}:${port}`;
}

/** `::ffff:10.0.0.1` is `10.0.0.1`. */
export const plainAddress = (address: string): string => (address.startsWith('::ffff:') && net.isIPv4(address.slice(7)) ? address.slice(7) : address);

/** Every address of this host's interfaces (and the wildcards), to recognise a target that is this heartbeat. */
export function ownAddresses(): Set<string> {
  const out = new Set<string>(['0.0.0.0', '::']);
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) out.add(plainAddress(a.address.replace(/%.*$/, '')));
  }
  return out;
}

/** Resolves one target; never rejects. The lookup is bounded by `timeoutMs` (and, should it not give up itself, raced against it). */
export async function resolveTarget(target: Target, own: { addresses: Set<string>; port: number }, timeoutMs: number, lookup: Lookup): Promise<Resolution> {
  const start = performance.now();
  let addresses: string[];
  if (net.isIP(target.host)) addresses = [target.host];
  else {
    let timer: NodeJS.Timeout | undefined;
    try {
      addresses = await Promise.race([
        lookup(target.host, timeoutMs),
        new Promise<never>((_r, reject) => { timer = setTimeout(() => reject(Object.assign(new Error('timeout'), { code: 'ETIMEOUT' })), timeoutMs); }),
      ]);
    } catch (e) {
      return { target, peers: [], self: [], dnsMs: performance.now() - start, error: (e as NodeJS.ErrnoException).code ?? 'lookup failed' };
    } finally {
      clearTimeout(timer);
    }
  }
  const dnsMs = net.isIP(target.host) ? 0 : performance.now() - start;
  const unique = [...new Set(addresses.map(plainAddress))].sort();
  const isOwn = (a: string): boolean => target.port === own.port && own.addresses.has(a);
  const peers = unique
    .filter((a) => !isOwn(a))
    .map((address) => ({ target, address, label: peerLabel(address, target.port), dnsMs }));
  return { target, peers, self: unique.filter(isOwn).map((a) => peerLabel(a, target.port)), dnsMs };
}
