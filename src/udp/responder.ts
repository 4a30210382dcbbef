/**
 * The UDP echo responder (src/udp/datagram.ts): on the HTTP listener's port number and listen
 * address, on unless `udpEcho` is off. It answers only well-formed questions, with the question's
 * own bytes rewritten in place (never larger, and nothing allocated per datagram beyond what
 * node:dgram hands over), within its rate limits (src/udp/limits.ts), never to a refused source
 * (src/udp/sources.ts); everything else is dropped silently and counted by reason.
 */
import dgram from 'node:dgram';
import dns from 'node:dns/promises';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { ListenError } from '../http/listen';
import { OFFSET, questionType, TYPE } from './datagram';
import { ProbeCounts } from './counts';
import { SourceBuckets, TokenBucket, TOTAL } from './limits';
import { refusedSources } from './sources';

/** Why a datagram was not answered (the metrics' `reason` label). */
export const DROP_REASONS = ['malformed', 'source', 'rate_source', 'rate_total', 'send_error'] as const;
export type DropReason = (typeof DROP_REASONS)[number];

export interface EchoStats {
  answered: number;
  dropped: Record<DropReason, number>;
}

export interface UdpResponder {
  readonly stats: EchoStats;
  /** Binds the port at `host` ('' = every address, both families where the host has them); resolves with where, rejects with a ListenError. */
  listen(): Promise<{ address: string; port: number }>;
  close(): Promise<void>;
}


export function createUdpResponder(port: number, host: string): UdpResponder {
  const stats: EchoStats = { answered: 0, dropped: { malformed: 0, source: 0, rate_source: 0, rate_total: 0, send_error: 0 } };
  const counts = new ProbeCounts();
  const perSource = new SourceBuckets();
  const total = new TokenBucket(TOTAL.rate, TOTAL.burst);
  let socket: dgram.Socket | undefined;

  const bind = (type: 'udp4' | 'udp6', address: string): Promise<dgram.Socket> => new Promise((resolve, reject) => {
    const s = dgram.createSocket({ type, ipv6Only: false });
    const fail = (e: NodeJS.ErrnoException): void => { s.close(); reject(e); };
    s.once('error', fail);
    s.bind({ port, address, exclusive: true }, () => {
      s.off('error', fail);
      resolve(s);
    });
  });

  return {
    stats,
    async listen(): Promise<{ address: string; port: number }> {
      let s: dgram.Socket;
      try {
        if (host === '') {
          // every address: a dual-stack IPv6 socket, or IPv4 alone on a host without IPv6
          s = await bind('udp6', '::').catch((e: NodeJS.ErrnoException) => {
            if (e.code === 'EAFNOSUPPORT' || e.code === 'EADDRNOTAVAIL') return bind('udp4', '0.0.0.0');
            throw e;
          });
        } else {
          const address = net.isIP(host) ? host : (await dns.lookup(host)).address;
          s = await bind(net.isIPv6(address) ? 'udp6' : 'udp4', address);
        }
      } catch (e) {
        throw new ListenError('udp', port, host, (e as NodeJS.ErrnoException).code ?? (e as Error).message);
      }
      socket = s;
      const at = s.address();
      const sources = refusedSources(port, at.address === '::' || at.address === '0.0.0.0' ? '' : at.address);
      // a send that fails (no route, a firewall) is counted, never thrown; one callback for every send
      const onSent = (e: Error | null): void => {
        if (e) {
          stats.dropped.send_error++;
          stats.answered--;
        }
      };
      s.on('error', () => { stats.dropped.send_error++; });
      s.on('message', (msg: Buffer, rinfo: dgram.RemoteInfo) => {
        const type = questionType(msg);
        if (type === 0) {
          stats.dropped.malformed++;
          return;
        }
        if (sources.refused(rinfo.address, rinfo.port)) {
          stats.dropped.source++;
          return;
        }
        const now = performance.now();
        // one source's flood spends its own bucket, not everybody's
        if (!perSource.take(rinfo.address, now)) {
          stats.dropped.rate_source++;
          return;
        }
        if (!total.take(now)) {
          stats.dropped.rate_total++;
          return;
        }
        if (type === TYPE.echo) counts.echo(msg, now);
        else counts.count(msg);
        msg[OFFSET.type] = type + 1;
        s.send(msg, rinfo.port, rinfo.address, onSent);
        stats.answered++;
      });
      return { address: at.address, port: at.port };
    },
    close(): Promise<void> {
      const s = socket;
      socket = undefined;
      return new Promise((resolve) => (s ? s.close(() => resolve()) : resolve()));
    },
  };
}
