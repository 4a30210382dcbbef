/**
 * The one place every setting is defined: its default, its doc, its format, its
 * long flag and its environment variable. --help, README's settings table and the
 * shipped config/default.json are all generated from (or checked against) this.
 */
import { isIP } from 'node:net';
import convict from 'convict';
import { coerceSizes, splitList, validateSizes, validateTargets } from '../probe/settings';
import { validateCaFile } from '../probe/tls';

const ENV_PREFIX = 'HEARTBEAT_';
export const GIB = 1024 * 1024 * 1024;
const MAX_PAYLOAD = GIB;

/** Strict decimal integer coercion: anything but plain digits is left as text so validation names it. */
function coerceInteger(v: unknown): unknown {
  if (typeof v === 'string' && /^[0-9]{1,16}$/.test(v)) return Number(v);
  return v;
}

function integerFormat(name: string, lo: number, hi: number, unit: string): convict.Format {
  return {
    name,
    coerce: coerceInteger,
    validate(v: unknown): void {
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < lo || v > hi) {
        throw new Error(`must be a whole number${unit ? ` of ${unit}` : ''} from ${lo} to ${hi}`);
      }
    },
  };
}

/**
 * An IP address literal, a DNS host name (RFC 1123 labels of letters, digits and
 * inner hyphens, up to 63 characters each and 253 in all, an optional final dot),
 * or '' for every address. A name whose last label is all digits is an IPv4
 * address or nothing (no top-level domain is numeric), so 999.1.1.1 is refused
 * here rather than looked up. Names are not resolved now: one that does not
 * resolve fails at listen, named there.
 */
function isListenHost(v: string): boolean {
  if (v === '' || isIP(v) !== 0) return true;
  const name = v.endsWith('.') ? v.slice(0, -1) : v;
  const labels = name.split('.');
  return name.length <= 253 &&
    labels.every((l) => /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(l)) &&
    !/^[0-9]+$/.test(labels[labels.length - 1] as string);
}

const TRUE_WORDS = new Set(['true', '1', 'yes', 'on']);
const FALSE_WORDS = new Set(['false', '0', 'no', 'off']);

convict.addFormats({
  'tcp-port': integerFormat('tcp-port', 1, 65535, ''),
  'payload-bytes': integerFormat('payload-bytes', 1, MAX_PAYLOAD, 'bytes'),
  'upload-bytes': integerFormat('upload-bytes', 0, Number.MAX_SAFE_INTEGER, 'bytes'),
  'port-or-zero': integerFormat('port-or-zero', 0, 65535, ''),
  'milliseconds': integerFormat('milliseconds', 0, 3_600_000, 'milliseconds'),
  'positive-milliseconds': integerFormat('positive-milliseconds', 1, 3_600_000, 'milliseconds'),
  'switch': {
    name: 'switch',
    coerce(v: unknown): unknown {
      if (typeof v !== 'string') return v;
      const w = v.toLowerCase();
      if (TRUE_WORDS.has(w)) return true;
      if (FALSE_WORDS.has(w)) return false;
      return v;
    },
    validate(v: unknown): void {
      if (typeof v !== 'boolean') throw new Error('must be true or false (also 1/0, yes/no, on/off)');
    },
  },
  'uri-path': {
    name: 'uri-path',
    coerce(v: unknown): unknown {
      // trailing slashes are normalised away: "/heartbeat/" is "/heartbeat"
      return typeof v === 'string' && v.length > 1 ? v.replace(/\/+$/, '') || '/' : v;
    },
    validate(v: unknown): void {
      if (typeof v !== 'string' || !/^\/[A-Za-z0-9._~!$&'()*+,;=:@/-]*$/.test(v) || v.includes('//')) {
        throw new Error('must be a URL path starting with "/" (unreserved characters only, no "//")');
      }
      if (v === '/') throw new Error('cannot be "/"');
    },
  },
  'probe-bytes': integerFormat('probe-bytes', 0, MAX_PAYLOAD, 'bytes'),
  'probe-peers': integerFormat('probe-peers', 1, 4096, 'addresses'),
  'probe-udp': integerFormat('probe-udp', 0, 1000, 'datagrams'),
  'probe-mtu-probes': integerFormat('probe-mtu-probes', 0, 64, 'probes'),
  'probe-targets': { name: 'probe-targets', coerce: splitList, validate: validateTargets },
  'probe-sizes': { name: 'probe-sizes', coerce: coerceSizes, validate: validateSizes },
  'ca-file': { name: 'ca-file', validate: validateCaFile },
  'listen-host': {
    name: 'listen-host',
    // "[::1]" as in a URL is the IPv6 address ::1
    coerce: (v: unknown): unknown => (typeof v === 'string' && /^\[[^\]]*\]$/.test(v) ? v.slice(1, -1) : v),
    validate(v: unknown): void {
      if (typeof v !== 'string' || !isListenHost(v)) {
        throw new Error('must be an IPv4 or IPv6 address or a DNS host name (e.g. 127.0.0.1, ::1, localhost), or empty for all addresses');
      }
    },
  },
});

/** The schema. Keys are the config-file names; `arg` is the long flag; `env` the variable. */
export const schema = {
  uri: {
    doc: 'URL path the heartbeat answers on: GET/HEAD/POST {uri}/{size}. Cannot be "/".',
    format: 'uri-path', default: '/heartbeat', arg: 'uri', env: `${ENV_PREFIX}URI`,
  },
  port: {
    doc: 'TCP port to listen on; the UDP echo responder (--udp-echo) answers on the same port number.',
    format: 'tcp-port', default: 8080, arg: 'port', env: `${ENV_PREFIX}PORT`,
  },
  host: {
    doc: 'IP address or host name to listen on; empty means every address (IPv6 and IPv4 where the host has them).',
    format: 'listen-host', default: '', arg: 'host', env: `${ENV_PREFIX}HOST`,
  },
  udpEcho: {
    doc: 'Answer heartbeat echo datagrams (UDP, on the --port number and --host address) so peers can measure loss by direction (--probe-udp); rate-limited to 200 answers/s per source address and 10000/s in all (docs/probe.md).',
    format: 'switch', default: true, arg: 'udp-echo', env: `${ENV_PREFIX}UDP_ECHO`,
  },
  min: {
    doc: 'Smallest payload size in bytes a request may ask for (>= 1, <= max).',
    format: 'payload-bytes', default: 1, arg: 'min', env: `${ENV_PREFIX}MIN`,
  },
  max: {
    doc: 'Largest payload size in bytes a request may ask for (>= min, <= 1 GiB = 1073741824).',
    format: 'payload-bytes', default: 1048576, arg: 'max', env: `${ENV_PREFIX}MAX`,
  },
  uploadLimit: {
    doc: 'Largest request body in bytes a POST may upload; larger bodies get 413 and are not read.',
    format: 'upload-bytes', default: GIB, arg: 'upload-limit', env: `${ENV_PREFIX}UPLOAD_LIMIT`,
  },
  log: {
    doc: 'Write one line per request to stdout. Lifecycle lines are always written.',
    format: 'switch', default: false, arg: 'log', env: `${ENV_PREFIX}LOG`,
  },
  logFormat: {
    doc: 'Log line format: "tsv" (tab-delimited columns) or "json" (one object per line).',
    format: ['tsv', 'json'], default: 'tsv', arg: 'log-format', env: `${ENV_PREFIX}LOG_FORMAT`,
  },
  metrics: {
    doc: 'Serve Prometheus metrics (request counts, durations, bytes, Node.js process metrics).',
    format: 'switch', default: false, arg: 'metrics', env: `${ENV_PREFIX}METRICS`,
  },
  metricsPath: {
    doc: 'URL path of the Prometheus metrics endpoint (with --metrics).',
    format: 'uri-path', default: '/metrics', arg: 'metrics-path', env: `${ENV_PREFIX}METRICS_PATH`,
  },
  metricsPort: {
    doc: 'Serve metrics (and the status page, with --status) on this port instead (0 = on the heartbeat port), to keep them inside the cluster.',
    format: 'port-or-zero', default: 0, arg: 'metrics-port', env: `${ENV_PREFIX}METRICS_PORT`,
  },
  status: {
    doc: 'Serve the status page, GET /status (HTML) and /status.json: this instance, its probes of each neighbour and the mesh as the neighbours see it. Served where metrics are: on --metrics-port when set, else on the heartbeat port.',
    format: 'switch', default: false, arg: 'status', env: `${ENV_PREFIX}STATUS`,
  },
  drainTimeout: {
    doc: 'On SIGTERM/SIGINT, milliseconds to let in-flight requests finish before their connections are cut.',
    format: 'milliseconds', default: 10_000, arg: 'drain-timeout', env: `${ENV_PREFIX}DRAIN_TIMEOUT`,
  },
  headersTimeout: {
    doc: 'Milliseconds a client has to send the complete request headers (cuts slowloris clients).',
    format: 'positive-milliseconds', default: 10_000, arg: 'headers-timeout', env: `${ENV_PREFIX}HEADERS_TIMEOUT`,
  },
  requestTimeout: {
    doc: 'Milliseconds a client has to send a whole request, body included (0 = no limit).',
    format: 'milliseconds', default: 300_000, arg: 'request-timeout', env: `${ENV_PREFIX}REQUEST_TIMEOUT`,
  },
  keepAliveTimeout: {
    doc: 'Milliseconds an idle keep-alive connection stays open; above the usual 60 s proxy idle timeout.',
    format: 'milliseconds', default: 65_000, arg: 'keep-alive-timeout', env: `${ENV_PREFIX}KEEP_ALIVE_TIMEOUT`,
  },
  socketTimeout: {
    doc: 'Milliseconds a connection may sit with no bytes moving while a request is in progress (0 = no limit).',
    format: 'milliseconds', default: 120_000, arg: 'socket-timeout', env: `${ENV_PREFIX}SOCKET_TIMEOUT`,
  },
  probeTargets: {
    doc: 'Probe mode: comma-separated base URLs of peers to measure (http(s)://host[:port][/uri]: port 80 or 443 when omitted, as in any URL; no path means /heartbeat), each optionally followed by " host=NAME[:PORT]", the Host header (and for https the SNI and certificate name) to send instead of the URL\'s. A name is resolved again every round and probed at each of its addresses. Unset: probing off.',
    format: 'probe-targets', default: [] as string[], arg: 'probe-targets', env: `${ENV_PREFIX}PROBE_TARGETS`,
  },
  probeInterval: {
    doc: 'Milliseconds between probe rounds (>= probeTimeout); each round starts after a random jitter of up to 10%.',
    format: 'positive-milliseconds', default: 10_000, arg: 'probe-interval', env: `${ENV_PREFIX}PROBE_INTERVAL`,
  },
  probeSizes: {
    doc: 'Comma-separated payload sizes in bytes (1 to 1 GiB each) each peer is asked for (GET) every round; "1400w": an answer of 1400 bytes on the wire, head included (?wire, at least 193w).',
    format: 'probe-sizes', default: [1024, 65536] as Array<number | string>, arg: 'probe-sizes', env: `${ENV_PREFIX}PROBE_SIZES`,
  },
  probeUpload: {
    doc: "Bytes POSTed to each peer every round (0 = no upload probe, at most 1 GiB); the peer's X-Received-Bytes must match.",
    format: 'probe-bytes', default: 0, arg: 'probe-upload', env: `${ENV_PREFIX}PROBE_UPLOAD`,
  },
  probeUdp: {
    doc: 'Echo datagrams (UDP, to the peer\'s port number) sent to each peer every round, spaced across the first half of the interval, for loss by direction, duplicates, reordering, RTT and jitter (0 = off, at most 1000; docs/probe.md).',
    format: 'probe-udp', default: 0, arg: 'probe-udp', env: `${ENV_PREFIX}PROBE_UDP`,
  },
  probeTimeout: {
    doc: 'Milliseconds one probe may take, connect to last byte.',
    format: 'positive-milliseconds', default: 5000, arg: 'probe-timeout', env: `${ENV_PREFIX}PROBE_TIMEOUT`,
  },
  probeMaxPeers: {
    doc: 'Most peer addresses probed per round (1 to 4096); when more resolve, this heartbeat\'s stable neighbours on a hash ring (docs/probe.md).',
    format: 'probe-peers', default: 64, arg: 'probe-max-peers', env: `${ENV_PREFIX}PROBE_MAX_PEERS`,
  },
  probeMtuProbes: {
    doc: 'Path-MTU check: when a GET probe stalls after connecting, most wire-exact probes (?wire, fresh connections, each given min(probeTimeout, 1 s) without a byte) spent finding the largest answer that crosses; 0 = no check (a stall stays "timeout").',
    format: 'probe-mtu-probes', default: 20, arg: 'probe-mtu-probes', env: `${ENV_PREFIX}PROBE_MTU_PROBES`,
  },
  probeConnection: {
    doc: '"new": a fresh TCP connection per probe (the handshake is measured); "reuse": one keep-alive connection per peer.',
    format: ['new', 'reuse'], default: 'new', arg: 'probe-connection', env: `${ENV_PREFIX}PROBE_CONNECTION`,
  },
  probeTlsCa: {
    doc: 'https targets: a PEM file of extra CA certificates to trust beside the system\'s (\'\' = none); read at start.',
    format: 'ca-file', default: '', arg: 'probe-tls-ca', env: `${ENV_PREFIX}PROBE_TLS_CA`,
  },
  probeTlsInsecure: {
    doc: 'https targets: accept any certificate, unchecked (a warning is logged at start). For tests and bootstrapping only.',
    format: 'switch', default: false, arg: 'probe-tls-insecure', env: `${ENV_PREFIX}PROBE_TLS_INSECURE`,
  },
} as const;

export type Key = keyof typeof schema;
export const KEYS = Object.keys(schema) as Key[];

export interface Config {
  uri: string;
  port: number;
  host: string;
  udpEcho: boolean;
  min: number;
  max: number;
  uploadLimit: number;
  log: boolean;
  logFormat: 'tsv' | 'json';
  metrics: boolean;
  metricsPath: string;
  metricsPort: number;
  status: boolean;
  drainTimeout: number;
  headersTimeout: number;
  requestTimeout: number;
  keepAliveTimeout: number;
  socketTimeout: number;
  probeTargets: string[];
  probeInterval: number;
  probeSizes: Array<number | string>;
  probeUpload: number;
  probeUdp: number;
  probeTimeout: number;
  probeMaxPeers: number;
  probeMtuProbes: number;
  probeConnection: 'new' | 'reuse';
  probeTlsCa: string;
  probeTlsInsecure: boolean;
}

/** The defaults, as a config file would hold them. */
export function defaults(): Config {
  const out: Record<string, unknown> = {};
  for (const k of KEYS) {
    const d: unknown = schema[k].default;
    out[k] = Array.isArray(d) ? [...(d as unknown[])] : d;
  }
  return out as unknown as Config;
}

/** Not a setting but where settings come from: the JSON config file. */
export const CONFIG_FILE = {
  arg: 'config',
  env: `${ENV_PREFIX}CONFIG`,
  doc: 'JSON file holding an object of settings by config key; environment and flags override it.',
} as const;
