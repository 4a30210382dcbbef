/**
 * Path-MTU blackholes: a peer that answers small probes while a larger answer stalls after the
 * connection was made. When a GET probe of a peer times out after connecting, the peer is asked for
 * wire-exact answers (`{uri}/{size}?wire`, src/http/wire.ts) on fresh connections: the smallest
 * answer must cross and the stalled size must stall again; then the size doubles from the smallest
 * to the first that stalls, and a bisect between the last two narrows the largest answer that
 * crosses; the boundary's stall is asked once more. That proves the stall depends on size alone (the peer is alive and
 * answering), so the probe's outcome is `mtu`, with the estimate, instead of `timeout`.
 *
 * Budget per peer (docs/mtu.md): at most `probes` wire probes per check (probeMtuProbes), each
 * given at most `stallMs` in all, connect to last byte (a trickle of bytes does not extend it), so a
 * check ends within probes x stallMs; a pair whose last estimate still holds costs two
 * (the limit crosses, one byte more stalls). Nothing is checked while a peer's probes are ok.
 */
import { randomUUID } from 'node:crypto';
import net, { type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { wireMinimum } from '../http/wire';

/** What one wire-exact probe saw. */
export type Crossing =
  | 'crossed' // the whole answer came: exactly `size` bytes, 200, then the peer closed
  | 'stalled' // connected and asked, and the answer not whole within the stall time
  | 'failed'; // anything else: no connection, a reset, another status, a close short of size, too many bytes

export interface WireProbeSpec {
  address: string;
  port: number;
  /** Host header value. */
  host: string;
  /** The peer's heartbeat uri, e.g. /heartbeat. */
  uri: string;
  /** The whole answer's bytes on the wire. */
  size: number;
  /** The wire probe's whole time, connect to last byte: an answer not whole by then has stalled (a trickle too). */
  stallMs: number;
  userAgent: string;
}

export interface RunningWireProbe {
  readonly done: Promise<Crossing>;
  abort(): void;
}

const STATUS_OK = 'HTTP/1.1 200 ';
/** Longest time of a path-MTU check's wire probe, connect to last byte (less when probeTimeout is shorter). */
export const MTU_STALL_MS = 1000;

/** One wire-exact GET on a fresh connection, counting every byte the peer sends until it closes. */
export function wireProbe(spec: WireProbeSpec): RunningWireProbe {
  const socket: Socket = net.connect({ host: spec.address, port: spec.port, noDelay: true });
  let connected = false;
  let received = 0;
  let start = '';
  let finished = false;
  let resolveDone: (c: Crossing) => void = () => undefined;
  const done = new Promise<Crossing>((r) => { resolveDone = r; });
  // one timer for the whole wire probe, never re-armed by a byte: a peer that trickles cannot keep it running
  const timer = setTimeout(() => finish(connected ? 'stalled' : 'failed'), spec.stallMs);

  const finish = (c: Crossing): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    socket.removeAllListeners('data');
    socket.on('error', () => undefined);
    socket.destroy();
    resolveDone(c);
  };
  socket.on('connect', () => {
    connected = true;
    socket.write(`GET ${spec.uri}/${spec.size}?wire HTTP/1.1\r\nHost: ${spec.host}\r\nUser-Agent: ${spec.userAgent}\r\n` +
      `X-Request-Id: ${randomUUID()}\r\nConnection: close\r\n\r\n`, 'latin1');
  });
  socket.on('data', (chunk: Buffer) => {
    received += chunk.length;
    if (start.length < STATUS_OK.length) {
      start += chunk.toString('latin1', 0, Math.min(chunk.length, STATUS_OK.length - start.length));
      if (!STATUS_OK.startsWith(start.slice(0, STATUS_OK.length))) return finish('failed');
    }
    if (received > spec.size) return finish('failed'); // not a wire-exact answer: a peer without ?wire
  });
  socket.on('end', () => finish(received === spec.size && start === STATUS_OK ? 'crossed' : 'failed'));
  socket.on('error', () => finish('failed'));
  return { done, abort: () => finish('failed') };
}

/** What a check found: the largest wire-exact answer that crossed, and the smallest that stalled. */
export interface PathLimit {
  /** Bytes: the largest whole answer seen to cross. */
  crosses: number;
  /** Bytes: the smallest whole answer seen to stall (crosses < stalls). */
  stalls: number;
  /** Wire probes this check made. */
  probes: number;
  ms: number;
}

export interface MtuPeer {
  /** `${target}\t${peer}`: whose estimate this is. */
  key: string;
  address: string;
  port: number;
  host: string;
  uri: string;
}

export interface MtuOptions {
  /** Most wire probes one check makes (probeMtuProbes); 0: never checks. */
  probes: number;
  stallMs: number;
  userAgent: string;
}

export interface MtuChecker {
  /**
   * A GET of `stalledBytes` (the answer's bytes on the wire, or a lower bound of them) stalled after
   * connecting: is it the path? The limit when small answers cross and this size stalls again,
   * undefined when the stall is not explained by size (then the outcome stays `timeout`).
   */
  check(peer: MtuPeer, stalledBytes: number): Promise<PathLimit | undefined>;
  /** The pair's current estimate (from its last check that found one). */
  limit(key: string): PathLimit | undefined;
  /** A probe of `bytes` on the wire crossed: an estimate below it no longer holds. */
  crossed(key: string, bytes: number): void;
  /** Drops the estimates of pairs not in `keep`. */
  retain(keep: Set<string>): void;
  /** Ends every running wire probe now (shutdown); their checks find nothing. */
  abortRunning(): void;
}

export function createMtuChecker(o: MtuOptions): MtuChecker {
  const limits = new Map<string, PathLimit>();
  const running = new Set<RunningWireProbe>();
  let aborted = 0; // bumped by abortRunning: a check that sees it change stops

  const cross = async (peer: MtuPeer, size: number): Promise<Crossing> => {
    const p = wireProbe({ address: peer.address, port: peer.port, host: peer.host, uri: peer.uri, size, stallMs: o.stallMs, userAgent: o.userAgent });
    running.add(p);
    try {
      return await p.done;
    } finally {
      running.delete(p);
    }
  };

  const check = async (peer: MtuPeer, stalledBytes: number): Promise<PathLimit | undefined> => {
    if (o.probes < 2) return undefined;
    const t0 = performance.now();
    const epoch = aborted;
    let probes = 0;
    const ask = async (size: number): Promise<Crossing> => {
      if (epoch !== aborted) return 'failed';
      probes++;
      const c = await cross(peer, size);
      return epoch === aborted ? c : 'failed';
    };
    const found = (crosses: number, stalls: number): PathLimit => {
      const l = { crosses, stalls, probes, ms: performance.now() - t0 };
      limits.set(peer.key, l);
      return l;
    };
    const floor = wireMinimum();
    const hi0 = Math.max(stalledBytes, floor + 1);
    // a pair whose estimate still holds: its limit crosses and one byte more stalls
    const last = limits.get(peer.key);
    if (last && last.crosses < hi0) {
      if (await ask(last.crosses) === 'crossed') {
        const next = await ask(last.crosses + 1);
        if (next === 'stalled') return found(last.crosses, last.crosses + 1);
        if (next === 'failed') return forget(peer.key);
      }
    }
    if (await ask(floor) !== 'crossed') return forget(peer.key); // small answers do not cross either: not the path
    if (await ask(hi0) !== 'stalled') return forget(peer.key); // the size alone does not stall it
    // a stall costs stallMs, a crossing a round trip: climb by doubling from the floor to the first
    // stall, then bisect between the last two
    let lo = floor;
    let hi = hi0;
    for (let next = lo * 2; next < hi && probes < o.probes; next = lo * 2) {
      const c = await ask(next);
      if (c === 'crossed') lo = next;
      else if (c === 'stalled') hi = next;
      else return forget(peer.key);
      if (c === 'stalled') break;
    }
    const bisect = async (): Promise<boolean> => {
      while (hi - lo > 1 && probes < o.probes) {
        const mid = lo + Math.floor((hi - lo) / 2);
        const c = await ask(mid);
        if (c === 'crossed') lo = mid;
        else if (c === 'stalled') hi = mid;
        else return false;
      }
      return true;
    };
    if (!await bisect()) return forget(peer.key);
    // the boundary's stall asked once more (a busy peer can miss one stall time): if it crosses now,
    // the limit is above it, and the bisect goes on up to the stalled size
    if (hi < hi0 && probes < o.probes) {
      const again = await ask(hi);
      if (again === 'failed') return forget(peer.key);
      if (again === 'crossed') {
        lo = hi;
        hi = hi0;
        if (!await bisect()) return forget(peer.key);
      }
    }
    return found(lo, hi);
  };

  const forget = (key: string): undefined => {
    limits.delete(key);
    return undefined;
  };

  return {
    check,
    limit: (key) => limits.get(key),
    crossed(key: string, bytes: number): void {
      const l = limits.get(key);
      if (l && bytes >= l.stalls) limits.delete(key);
    },
    retain(keep: Set<string>): void {
      for (const key of limits.keys()) if (!keep.has(key)) limits.delete(key);
    },
    abortRunning(): void {
      aborted++;
      for (const p of running) p.abort();
    },
  };
}
