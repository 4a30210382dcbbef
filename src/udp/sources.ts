/**
 * Source addresses the echo responder never answers: port 0, multicast, broadcast (the limited
 * one and each IPv4 interface's directed one), the unspecified addresses, and its own address
 * at its own port (a spoofed datagram that would make it answer itself).
 */
import os from 'node:os';
import { plainAddress } from '../probe/resolve';

export interface RefusedSources {
  refused(address: string, port: number): boolean;
}

/** Each IPv4 interface's directed broadcast address, and every interface address (own). */
function interfaces(): { broadcast: Set<string>; own: Set<string> } {
  const broadcast = new Set<string>(['255.255.255.255']);
  const own = new Set<string>();
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) {
      own.add(plainAddress(a.address.replace(/%.*$/, '')));
      if (a.family !== 'IPv4' || a.internal) continue;
      const ip = a.address.split('.').map(Number);
      const mask = a.netmask.split('.').map(Number);
      if (mask.every((m) => m === 255)) continue; // a /32 has no broadcast
      broadcast.add(ip.map((o, i) => (o | (~(mask[i] as number) & 255)) >>> 0).join('.'));
    }
  }
  return { broadcast, own };
}

/** `port`: the responder's own. `listenAddress`: the address it listens on ('' or a wildcard: every interface's). */
export function refusedSources(port: number, listenAddress: string): RefusedSources {
  const { broadcast, own } = interfaces();
  if (listenAddress !== '') own.add(plainAddress(listenAddress));
  return {
    refused(address: string, srcPort: number): boolean {
      if (srcPort === 0) return true;
      const a = address.charCodeAt(0) === 0x3a /* : */ && address.startsWith('::ffff:') ? address.slice(7) : address;
      if (a.includes(':')) {
        // IPv6: multicast ff00::/8 and the unspecified ::
        if (a === '::') return true;
        const c0 = a.charCodeAt(0) | 0x20;
        if (c0 === 0x66 /* f */ && (a.charCodeAt(1) | 0x20) === 0x66 && a.length > 2 && a.charCodeAt(2) !== 0x3a && a.charCodeAt(3) !== 0x3a && a.charCodeAt(4) === 0x3a) return true;
      } else {
        // IPv4: 0.0.0.0/8 and multicast 224.0.0.0/4 (first octet 224-239)
        let first = 0;
        for (let i = 0; i < a.length && a.charCodeAt(i) !== 0x2e /* . */; i++) first = first * 10 + a.charCodeAt(i) - 0x30;
        if (first === 0 || (first >= 224 && first <= 239)) return true;
        if (broadcast.has(a)) return true;
      }
      return srcPort === port && own.has(a);
    },
  };
}
