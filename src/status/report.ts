/**
 * The status document: what `/status.json` answers and `/status` renders. The instance section
 * (version, uptime, readiness, the settings that shape probing, requests served, log lines
 * dropped), who answers (identity.ts: the pod's downward API metadata, the listener, a per-process
 * id) and the probe view. Nothing else from the environment: no other variable, host name, pid or
 * path; only heartbeat's own settings and what it measured.
 */
import type { Config } from '../config/schema';
import type { ProbeBook, ProbeRow } from './probes';
import { WINDOW } from './probes';
import type { Mesh } from './mesh';
import type { UdpBook, UdpRow } from './udp';
import type { Identity } from './identity';

export interface Instance {
  version: string;
  /** RFC 3339 start time and seconds since. */
  started: string;
  uptimeSeconds: number;
  /** False once the drain has begun (/readyz answers 503). */
  ready: boolean;
  /** Requests this heartbeat answered on its port (the heartbeat route and everything else). */
  requests: number;
  logLinesDropped: number;
  settings: {
    uri: string;
    min: number;
    max: number;
    probing: boolean;
    probeTargets: string[];
    /** As configured: bytes of body, or `1400w` for the whole answer on the wire. */
    probeSizes: Array<number | string>;
    probeUpload: number;
    probeInterval: number;
    probeTimeout: number;
    /** K: neighbours probed per round at most. */
    probeMaxPeers: number;
    probeConnection: string;
    /** Echo datagrams per neighbour and round (0: the UDP probe is off). */
    probeUdp: number;
  };
}

export interface StatusDocument {
  /** The format of this document; a reader refuses any other. */
  schema: 'heartbeat-status/1';
  time: string;
  /** Who answered: pod, namespace, node, pod IP, the listener's address and port, the status port, the instance id. */
  identity: Identity;
  instance: Instance;
  /** What p50/p99 are over: the last `probes` probes of each row, ok ones only. */
  window: { probes: number };
  probes: ProbeRow[];
  /** UDP loss by direction (probeUdp): one row per neighbour, sums over its last `window.probes` rounds, worst first. */
  udp: UdpRow[];
  /** Only with ?mesh=1 (and on /status): the neighbours' views. */
  mesh?: Mesh;
}

/** What the status reads from the rest of heartbeat when asked. */
export interface StatusSources {
  version: string;
  config: Config;
  ready: () => boolean;
  requests: () => number;
  logLinesDropped: () => number;
  book: ProbeBook;
  /** The udp lines' view (probeUdp). */
  udp: UdpBook;
  /** This instance (its listener known once it listens). */
  identity: () => Identity;
  /** Date.now() at start. */
  startedAt: number;
}

export function statusDocument(s: StatusSources, now = Date.now()): StatusDocument {
  const c = s.config;
  return {
    schema: 'heartbeat-status/1',
    time: new Date(now).toISOString(),
    identity: s.identity(),
    instance: {
      version: s.version,
      started: new Date(s.startedAt).toISOString(),
      uptimeSeconds: Math.round((now - s.startedAt) / 1000),
      ready: s.ready(),
      requests: s.requests(),
      logLinesDropped: s.logLinesDropped(),
      settings: {
        uri: c.uri,
        min: c.min,
        max: c.max,
        probing: c.probeTargets.length > 0,
        probeTargets: c.probeTargets,
        probeSizes: c.probeSizes,
        probeUpload: c.probeUpload,
        probeInterval: c.probeInterval,
        probeTimeout: c.probeTimeout,
        probeMaxPeers: c.probeMaxPeers,
        probeConnection: c.probeConnection,
        probeUdp: c.probeUdp,
      },
    },
    window: { probes: WINDOW },
    probes: s.book.rows(now),
    udp: s.udp.rows(now),
  };
}
