/**
 * Who answered: the identity every `/status.json` carries, and the check the mesh view makes of a
 * neighbour's. The pod's own metadata comes from the downward API variables the manifests set
 * (POD_NAME, POD_NAMESPACE, NODE_NAME, POD_IP: the operator's own pod, nothing else is read from
 * the environment); the listening address and port from the bound socket; the instance id is
 * random per process, so two processes never share one, even behind one address.
 */
import { randomBytes } from 'node:crypto';

export interface Identity {
  /** Random per process (16 hex digits): tells two processes apart whatever they say else. */
  id: string;
  /** The downward API's metadata.name, metadata.namespace, spec.nodeName, status.podIP; null when unset. */
  pod: string | null;
  namespace: string | null;
  node: string | null;
  podIP: string | null;
  /** The heartbeat listener: the address it is bound to ("::" or "0.0.0.0": every address) and its port. */
  address: string;
  port: number;
  /** Where this heartbeat serves its status (its metrics port, or the heartbeat port). */
  statusPort: number;
}

/** The downward API variables read, and nothing else (docs/status.md). */
export const IDENTITY_ENV = { pod: 'POD_NAME', namespace: 'POD_NAMESPACE', node: 'NODE_NAME', podIP: 'POD_IP' } as const;

const MAX = 253;
/** A name as Kubernetes writes one (DNS labels, or an IP address): anything else is left out. */
const plain = (v: string | undefined): string | null => (v !== undefined && v.length > 0 && v.length <= MAX && /^[A-Za-z0-9.:_-]+$/.test(v) ? v : null);

export function podMetadata(env: NodeJS.ProcessEnv = process.env): Pick<Identity, 'pod' | 'namespace' | 'node' | 'podIP'> {
  return {
    pod: plain(env[IDENTITY_ENV.pod]),
    namespace: plain(env[IDENTITY_ENV.namespace]),
    node: plain(env[IDENTITY_ENV.node]),
    podIP: plain(env[IDENTITY_ENV.podIP]),
  };
}

export const newInstanceId = (): string => randomBytes(8).toString('hex');

const WILDCARD = new Set(['::', '0.0.0.0', '']);

/** `host:port` as probe lines write a peer (`[v6]:port` for IPv6). */
export const hostPort = (host: string, port: number): string => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);

/** How this instance is reached, for its own column and label: its pod IP or bound address with its port; null when bound to every address and no POD_IP. */
export function ownAddress(i: Identity): string | null {
  if (i.podIP) return hostPort(i.podIP, i.port);
  return WILDCARD.has(i.address) ? null : hostPort(i.address, i.port);
}

/** A short name for the page: pod on node, else the address. */
export function describe(i: Pick<Identity, 'pod' | 'node' | 'address' | 'port'>): string {
  if (i.pod && i.node) return `${i.pod} on ${i.node}`;
  return i.pod ?? i.node ?? hostPort(i.address, i.port);
}

/** A neighbour's identity, checked field by field; undefined when it has none or a malformed one. */
export function parseIdentity(v: unknown): Identity | undefined {
  const d = v as Record<string, unknown> | null;
  if (typeof d !== 'object' || d === null) return undefined;
  const str = (x: unknown): string | null | undefined => (x === null ? null : typeof x === 'string' && x.length <= MAX ? x : undefined);
  const port = (x: unknown): number | undefined => (Number.isInteger(x) && (x as number) > 0 && (x as number) < 65536 ? x as number : undefined);
  const id = d.id;
  const address = d.address;
  const fields = { pod: str(d.pod), namespace: str(d.namespace), node: str(d.node), podIP: str(d.podIP) };
  const p = port(d.port);
  const sp = port(d.statusPort);
  if (typeof id !== 'string' || !/^[0-9a-f]{16}$/.test(id) || typeof address !== 'string' || address.length > 64 || p === undefined || sp === undefined) return undefined;
  if (Object.values(fields).some((f) => f === undefined)) return undefined;
  return { id, address, port: p, statusPort: sp, ...(fields as Pick<Identity, 'pod' | 'namespace' | 'node' | 'podIP'>) };
}

/**
 * Whether an answer came from the neighbour asked (host:port as probed): not this instance (its id),
 * the port asked, and the address asked (its pod IP when it knows one, else its bound address unless
 * that is every address). Undefined: it is that neighbour; else the reason the row is refused.
 */
export function identityMismatch(asked: { host: string; port: number }, answered: Identity | undefined, self: Identity): string | undefined {
  if (!answered) return 'answered without an identity (not a heartbeat, or an older one)';
  const who = `${describe(answered)} (${hostPort(answered.podIP ?? answered.address, answered.port)})`;
  if (answered.id === self.id) return 'answered as this heartbeat itself';
  if (answered.port !== asked.port) return `answered as ${who}, not the neighbour asked`;
  const at = answered.podIP ?? (WILDCARD.has(answered.address) ? undefined : answered.address);
  if (at !== undefined && at !== asked.host) return `answered as ${who}, not the neighbour asked`;
  return undefined;
}
