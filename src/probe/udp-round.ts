/**
 * Probe mode, UDP (probeUdp > 0): one round of echo datagrams (src/udp/datagram.ts) to each of the
 * round's neighbours, the same set the TCP probes get (src/probe/round.ts hands it over). Per peer a
 * fresh random probe id; `datagrams` echo questions spaced evenly across `spanMs` (each peer from
 * its own random phase, so peers are not sent to in step), each with its sequence number and send
 * time. `waitMs` after the last one, the count question asks the peer how many of this probe's
 * datagrams it received (up to COUNT_TRIES times, each given `waitMs`); a datagram's wait ends when that
 * count comes back (or the tries run out): an answer read after that is lost. The round's tally
 * (src/probe/udp-stats.ts) becomes the peer's `udp` line and its metrics.
 *
 * Two sockets (IPv4, IPv6), made at the first round and kept, so a round costs no socket set-up.
 * A send the kernel refuses (a firewall's drop on the way out) counts as sent: it is lost on the
 * way out, as the peer's count will say.
 */
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { isoNow, roundMs, type UdpRecord } from '../log/format';
import type { AppLogger } from '../log/logger';
import { answerType, DATAGRAM_BYTES, OFFSET, TYPE, writeQuestion } from '../udp/datagram';
import { plainAddress } from './resolve';
import type { SelfCheck, SelfMark } from './self';
import { attribute, nextJitter, percentile } from './udp-stats';
import type { UdpMetrics } from './udp-metrics';

/** Count questions sent at the end of a peer's round, each given `waitMs`, before its loss is `lost_unknown`. */
export const COUNT_TRIES = 3;

export interface UdpPeer {
  /** The target as configured. */
  target: string;
  address: string;
  port: number;
  /** address:port, as logged. */
  label: string;
}

export interface UdpProberOptions {
  /** probeUdp: echo datagrams per peer and round. */
  datagrams: number;
  /** The span they are spread over. */
  spanMs: number;
  /** How long after the last datagram the count is asked (and each count question waits for its answer). */
  waitMs: number;
  /** Where its lines go (on the probing thread: relayed to the main thread's logger). */
  logger: Pick<AppLogger, 'udp'>;
  metrics?: UdpMetrics;
  /** Hears every udp line (the status page). */
  onUdp?: (line: UdpRecord) => void;
  /**
   * The probing thread's self-check (src/probe/self.ts), shared with the TCP probes: each line's `self_ms`,
   * the largest lateness at which an answer of the round was stamped (0 without one).
   */
  self?: SelfCheck;
}

export interface UdpProber {
  /** One round to these peers; resolves when every peer's line is written. */
  run(peers: UdpPeer[]): Promise<void>;
  /** Sends no further echo datagram (those sent are still waited for and counted). */
  stop(): void;
  /** Ends the round now: each peer's line says what came back so far. */
  abort(): void;
  /** Closes the sockets (after the last round). */
  close(): void;
}

/** One peer's round. */
class PeerRound {
  readonly id = randomBytes(8);
  readonly sentAt: Float64Array;
  /** 0 unanswered, 1 answered (before the round's count came back). */
  readonly state: Uint8Array;
  sent = 0;
  answered = 0;
  duplicates = 0;
  reordered = 0;
  maxSeq = -1;
  jitter = 0;
  lastRtt = NaN;
  readonly rtts: number[] = [];
  /** The largest lateness the self-check saw when an answer was stamped (ms). */
  selfMs = 0;
  mark: SelfMark | undefined;
  peerCount: number | undefined;
  timer: NodeJS.Timeout | undefined;
  finish: () => void = () => undefined;
  onCount: () => void = () => undefined;

  constructor(readonly peer: UdpPeer, n: number) {
    this.sentAt = new Float64Array(n);
    this.state = new Uint8Array(n);
  }
}

export function createUdpProber(o: UdpProberOptions): UdpProber {
  const byId = new Map<string, PeerRound>();
  const live = new Set<PeerRound>();
  const sockets: Partial<Record<'udp4' | 'udp6', dgram.Socket>> = {};
  let stopped = false;

  const onMessage = (msg: Buffer, rinfo: dgram.RemoteInfo): void => {
    const type = answerType(msg);
    if (type === 0) return;
    const r = byId.get(msg.toString('hex', OFFSET.id, OFFSET.id + 8));
    // only the peer asked answers for its probe id
    if (!r || plainAddress(rinfo.address) !== r.peer.address || rinfo.port !== r.peer.port) return;
    if (type === TYPE.countAnswer) {
      r.peerCount = msg.readUInt32BE(OFFSET.received);
      r.onCount();
      return;
    }
    const seq = msg.readUInt32BE(OFFSET.seq);
    if (seq >= r.sent) return;
    if (r.state[seq] !== 0) {
      r.duplicates++;
      return;
    }
    // in time: before the round's count came back (answers come in the order the peer sent them, so every
    // answer it sent before answering the count is read first, however late the event loop reads them)
    const now = performance.now();
    const rtt = now - (r.sentAt[seq] as number);
    // how late this stamp may be: the loop's delay then, a stall that ended or a wait for a CPU since the question left
    const late = o.self?.late(r.sentAt[seq] as number, now) ?? 0;
    if (late > r.selfMs) r.selfMs = late;
    r.state[seq] = 1;
    r.answered++;
    if (seq < r.maxSeq) r.reordered++;
    else r.maxSeq = seq;
    r.jitter = nextJitter(r.jitter, r.lastRtt, rtt);
    r.lastRtt = rtt;
    r.rtts.push(rtt);
  };

  const socketFor = (address: string): dgram.Socket => {
    const type = net.isIPv6(address) ? 'udp6' : 'udp4';
    let s = sockets[type];
    if (!s) {
      s = dgram.createSocket({ type, ipv6Only: type === 'udp6' });
      s.on('message', onMessage);
      // a send error is handed to its callback; nothing else may crash the prober
      s.on('error', () => undefined);
      s.bind(0);
      sockets[type] = s;
    }
    return s;
  };

  const ignoreSendError = (): void => undefined;

  const send = (r: PeerRound, type: typeof TYPE.echo | typeof TYPE.count, seq: number): void => {
    const b = writeQuestion(Buffer.allocUnsafe(DATAGRAM_BYTES), type, r.id, seq, o.self?.now() ?? performance.now());
    if (type === TYPE.echo) r.sentAt[seq] = b.readDoubleBE(OFFSET.sentAt);
    socketFor(r.peer.address).send(b, r.peer.port, r.peer.address, ignoreSendError);
  };

  const report = (r: PeerRound): void => {
    const loss = attribute(r);
    const sorted = r.rtts.slice().sort((a, b) => a - b);
    const line: UdpRecord = {
      time: isoNow(),
      target: r.peer.target,
      peer: r.peer.label,
      family: net.isIPv6(r.peer.address) ? 'ipv6' : 'ipv4',
      sent: r.sent,
      lost_out: loss.lostOut,
      lost_back: loss.lostBack,
      lost_unknown: loss.lostUnknown,
      duplicates: r.duplicates,
      reordered: r.reordered,
      rtt_p50_ms: roundMs(percentile(sorted, 0.5)),
      rtt_p99_ms: roundMs(percentile(sorted, 0.99)),
      jitter_ms: roundMs(r.jitter),
      self_ms: roundMs(r.selfMs),
    };
    o.logger.udp(line);
    o.onUdp?.(line);
    o.metrics?.record(line, r.rtts);
  };

  const runPeer = (peer: UdpPeer): Promise<void> => new Promise<void>((resolve) => {
    const r = new PeerRound(peer, o.datagrams);
    const key = r.id.toString('hex');
    byId.set(key, r);
    live.add(r);
    // the sampler ticks while any peer's round runs (as while any TCP probe does)
    r.mark = o.self?.begin();
    const spacing = o.spanMs / o.datagrams;
    const t0 = performance.now() + Math.random() * spacing;
    let tries = 0;
    let done = false;
    r.finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(r.timer);
      byId.delete(key);
      live.delete(r);
      if (r.mark) o.self?.end(r.mark);
      if (r.sent > 0) report(r);
      resolve();
    };
    r.onCount = r.finish;
    const askCount = (): void => {
      if (tries++ >= COUNT_TRIES) return r.finish();
      send(r, TYPE.count, 0);
      r.timer = setTimeout(askCount, o.waitMs);
    };
    // after the last echo's wait: the count
    const lastWait = (): void => {
      const left = (r.sent > 0 ? (r.sentAt[r.sent - 1] as number) + o.waitMs : 0) - performance.now();
      r.timer = setTimeout(r.sent > 0 ? askCount : r.finish, Math.max(0, left));
    };
    const next = (): void => {
      if (stopped) return lastWait();
      send(r, TYPE.echo, r.sent++);
      if (r.sent >= o.datagrams) return lastWait();
      r.timer = setTimeout(next, Math.max(0, t0 + r.sent * spacing - performance.now()));
    };
    r.timer = setTimeout(next, Math.max(0, t0 - performance.now()));
  });

  return {
    async run(peers: UdpPeer[]): Promise<void> {
      await Promise.all(peers.map(runPeer));
      o.metrics?.endRound(new Set(peers.map((p) => `${p.target}\t${p.label}`)));
    },
    stop(): void {
      stopped = true;
    },
    abort(): void {
      stopped = true;
      for (const r of [...live]) r.finish();
    },
    close(): void {
      for (const s of Object.values(sockets)) s?.close();
    },
  };
}
