/**
 * The log line format: the one place that defines the columns. docs/logs.md
 * and fluent-bit/parsers.yaml are written from these lists, and a test
 * keeps them in step.
 *
 * Every line starts with `time` then `kind`, so a parser tells request lines
 * (`kind` = request) from lifecycle lines (`kind` = lifecycle) and probe lines
 * (`kind` = probe) and UDP probe lines (`kind` = udp) in both formats.
 */

export const REQUEST_COLUMNS = [
  'time', // RFC 3339 UTC with milliseconds, when the exchange ended
  'kind', // always "request"
  'status', // HTTP status sent (or about to be sent when the client went away)
  'duration_ms', // from request to end of response, milliseconds with microsecond resolution
  'bytes_out', // response body bytes written to the connection
  'bytes_in', // request body bytes received (uploads)
  'method', // request method
  'path', // request target as sent, escaped
  'client', // peer address
  'aborted', // true when the client went away before the response was complete
  // The request's context, as the client (or the proxies in front of heartbeat) sent it; after
  // the columns above so readers of those keep working. Client-controlled: escaped like `path`,
  // each cut to CONTEXT_BOUNDS, `-` when absent.
  'forwarded_for', // X-Forwarded-For as received, else Forwarded's for= values, joined with ", "
  'user_agent', // User-Agent
  'request_id', // X-Request-Id, else the trace id of a valid W3C traceparent
  'proto', // HTTP/1.0 or HTTP/1.1
] as const;

/**
 * The most characters of a header value a context column keeps, before escaping (a header
 * value reaches us one byte per character, so escaping at most quadruples it: `\xHH`).
 * `forwarded_for` keeps its end: the hops nearest heartbeat, the ones the operator's own
 * proxies appended, which a client cannot push out of the column with a long forged list.
 * The others keep their start.
 */
export const CONTEXT_BOUNDS = {
  forwarded_for: 512,
  user_agent: 512,
  request_id: 128,
  proto: 16,
} as const;

/** What a context column says when the request did not carry it. */
export const ABSENT = '-';

export const LIFECYCLE_COLUMNS = [
  'time', // RFC 3339 UTC with milliseconds
  'kind', // always "lifecycle"
  'level', // info | warn | error
  'message', // what happened: starting, listening, shutdown begun, ...
  'details', // a JSON object with the particulars ({} when none)
] as const;

/** Probe mode: one line per probe this heartbeat made of a peer (src/probe/), written whenever probing is on. */
export const PROBE_COLUMNS = [
  'time', // RFC 3339 UTC with milliseconds, when the probe ended
  'kind', // always "probe"
  'target', // the target as configured (operator text, escaped)
  'peer', // the address probed, address:port ([v6]:port); the target's host:port when DNS failed
  'method', // GET (a payload size) or POST (the upload)
  'size', // bytes asked for (GET) or uploaded (POST)
  'status', // HTTP status the peer answered, 0 when none
  'outcome', // ok | dns | refused | connect_timeout | tls | cert | reset | timeout | mtu | status | short | corrupt | upload_mismatch | aborted
  'dns_ms', // name resolution of the target this round (0 for an IP literal)
  'connect_ms', // TCP connect (0 on a reused connection)
  'tls_ms', // TLS handshake and certificate check, TCP connected -> done (0 for http:// and on a reused connection)
  'ttfb_ms', // request written -> first response byte
  'total_ms', // connect start -> last byte (or the failure)
  'bytes', // body bytes received and checked (GET) or sent (POST)
  'request_id', // the X-Request-Id the probe sent: the peer's request line carries it too
  'wire', // true when size is the whole answer on the wire (a `1400w` size, ?wire), false when it is the body
  'path_limit', // bytes: the largest whole answer that crossed to this peer in its last path-MTU check (src/probe/mtu.ts); 0 when no limit holds
  'family', // ipv4 | ipv6: the address family of peer (each family of a dual-stack peer is probed); `-` when DNS failed
  'self_ms', // the prober's own delay during the probe (event-loop delay on the probing thread, CPU throttling of its cgroup: src/probe/self.ts)
] as const;

/**
 * Probe mode, UDP (probeUdp > 0): one line per peer and round of echo datagrams (src/probe/udp-round.ts).
 * Loss by direction is attributed with the peer's count of the datagrams it received (docs/probe.md).
 */
export const UDP_COLUMNS = [
  'time', // RFC 3339 UTC with milliseconds, when the round's count came back (or was given up)
  'kind', // always "udp"
  'target', // the target as configured (operator text, escaped)
  'peer', // the address probed, address:port ([v6]:port)
  'family', // ipv4 | ipv6
  'sent', // echo datagrams sent this round
  'lost_out', // never reached the peer (the peer's count says so)
  'lost_back', // the peer counted them, their answer did not come back before the round's count did
  'lost_unknown', // unanswered, and the peer's count never came: direction unknown
  'duplicates', // answers beyond the first for one sequence number
  'reordered', // answers arriving after an answer to a later sequence number
  'rtt_p50_ms', // round trip, median of the answered (0 when none)
  'rtt_p99_ms', // round trip, 99th percentile (nearest rank) of the answered (0 when none)
  'jitter_ms', // RFC 3550 interarrival jitter of the answers (0 with fewer than two)
  'self_ms', // the prober's own delay: the largest lateness of the probing thread when it stamped an answer (src/probe/self.ts; 0 when none came)
] as const;

export type LogFormat = 'tsv' | 'json';
export type Level = 'info' | 'warn' | 'error';

export interface RequestRecord {
  time: string;
  status: number;
  duration_ms: number;
  bytes_out: number;
  bytes_in: number;
  method: string;
  path: string;
  client: string;
  aborted: boolean;
  /** The context columns, raw ('' when absent); formatRequest bounds and escapes them. */
  forwarded_for: string;
  user_agent: string;
  request_id: string;
  proto: string;
}

export interface ProbeRecord {
  time: string;
  target: string;
  peer: string;
  method: string;
  size: number;
  status: number;
  outcome: string;
  dns_ms: number;
  connect_ms: number;
  tls_ms: number;
  ttfb_ms: number;
  total_ms: number;
  bytes: number;
  request_id: string;
  wire: boolean;
  path_limit: number;
  family: string;
  self_ms: number;
}

export interface UdpRecord {
  time: string;
  target: string;
  peer: string;
  family: 'ipv4' | 'ipv6';
  sent: number;
  lost_out: number;
  lost_back: number;
  lost_unknown: number;
  duplicates: number;
  reordered: number;
  rtt_p50_ms: number;
  rtt_p99_ms: number;
  jitter_ms: number;
  self_ms: number;
}

export interface LifecycleRecord {
  time: string;
  level: Level;
  message: string;
  details: Record<string, unknown>;
}

/** Characters that must not reach a log line as they are: controls, backslash, anything not ASCII. */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\x00-\x1f\\\x7f-\uffff]/;

function hex(code: number, width: number): string {
  return code.toString(16).padStart(width, '0');
}

/**
 * Escapes client-controlled text so it can never add a line or a column, and
 * the output is always plain ASCII (so never invalid UTF-8): `\\`, `\t`, `\n`,
 * `\r`, and `\xHH` for other controls and for every byte above 0x7E (Node hands
 * us the request target one byte per character), `\uHHHH` for anything wider.
 */
export function escapeText(s: string): string {
  if (!UNSAFE.test(s)) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x5c) out += '\\\\';
    else if (c === 0x09) out += '\\t';
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0d) out += '\\r';
    else if (c < 0x20 || (c >= 0x7f && c <= 0xff)) out += '\\x' + hex(c, 2);
    else if (c > 0xff) out += '\\u' + hex(c, 4);
    else out += s[i];
  }
  return out;
}

/** JSON text in plain ASCII: JSON.stringify already escapes controls; wider characters become \uHHHH. */
function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => '\\u' + hex(c.charCodeAt(0), 4));
}

let lastMs = 0;
let lastIso = '';

/** RFC 3339 UTC with milliseconds for now; formatted once per millisecond, not once per line. */
export function isoNow(): string {
  const ms = Date.now();
  if (ms !== lastMs) {
    lastMs = ms;
    lastIso = new Date(ms).toISOString();
  }
  return lastIso;
}

/** Milliseconds rounded to the microsecond, as a plain decimal. */
export function roundMs(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/** A JSON string literal for escaped (printable ASCII) text; JSON.stringify only when a quote or backslash needs it. */
function jsonQuote(s: string): string {
  return `"${jsonInner(s)}"`;
}

/** What goes between the quotes of jsonQuote(s): most often `s` itself, so a line's template allocates no more strings. */
function jsonInner(s: string): string {
  return s.includes('"') || s.includes('\\') ? JSON.stringify(s).slice(1, -1) : s;
}

/**
 * A number that always reads back as a float: Fluent Bit (and others) type a JSON number by
 * its text, so `2` would arrive as an integer and `2.5` as a float, and a field that changes
 * type breaks index mappings downstream. Whole numbers get ".0".
 */
function jsonFloat(n: number): string {
  return isWhole(n) ? `${n}.0` : String(n);
}

/** Whether `n` prints without a fraction or exponent (jsonFloat adds ".0" then). */
function isWhole(n: number): boolean {
  return Number.isInteger(n) && Math.abs(n) < 1e21;
}

/** A context column: '' is `-`; else the first `max` characters, escaped. */
function head(s: string, max: number): string {
  if (s === '') return ABSENT;
  return escapeText(s.length > max ? s.slice(0, max) : s);
}

/**
 * `forwarded_for`: its last `max` characters, starting after a ", " so the first entry shown is
 * whole (unless one entry alone is longer than that), escaped.
 */
function tail(s: string, max: number): string {
  if (s === '') return ABSENT;
  if (s.length <= max) return escapeText(s);
  const cut = s.length - max;
  const comma = s.indexOf(',', cut);
  let from = comma < 0 ? cut : comma + 1;
  while (from < s.length && s.charCodeAt(from) === 0x20) from++;
  return escapeText(from < s.length ? s.slice(from) : s.slice(cut));
}

export function formatRequest(r: RequestRecord, format: LogFormat): string {
  const path = escapeText(r.path);
  const method = escapeText(r.method);
  const { client } = r; // the peer address from the socket: not client-controlled text
  const forwarded = tail(r.forwarded_for, CONTEXT_BOUNDS.forwarded_for);
  const agent = head(r.user_agent, CONTEXT_BOUNDS.user_agent);
  const id = head(r.request_id, CONTEXT_BOUNDS.request_id);
  const proto = head(r.proto, CONTEXT_BOUNDS.proto);
  if (format === 'tsv') {
    return `${r.time}\trequest\t${r.status}\t${r.duration_ms}\t${r.bytes_out}\t${r.bytes_in}\t${method}\t${path}\t${client}\t${r.aborted}` +
      `\t${forwarded}\t${agent}\t${id}\t${proto}`;
  }
  const d = r.duration_ms;
  return `{"time":"${r.time}","kind":"request","status":${r.status},"duration_ms":${d}${isWhole(d) ? '.0' : ''},` +
    `"bytes_out":${r.bytes_out},"bytes_in":${r.bytes_in},"method":"${jsonInner(method)}",` +
    `"path":"${jsonInner(path)}","client":"${jsonInner(client)}","aborted":${r.aborted},` +
    `"forwarded_for":"${jsonInner(forwarded)}","user_agent":"${jsonInner(agent)}","request_id":"${jsonInner(id)}","proto":"${jsonInner(proto)}"}`;
}

export function formatLifecycle(r: LifecycleRecord, format: LogFormat): string {
  const message = escapeText(r.message);
  if (format === 'tsv') {
    return `${r.time}\tlifecycle\t${r.level}\t${message}\t${asciiJson(r.details)}`;
  }
  return asciiJson({ time: r.time, kind: 'lifecycle', level: r.level, message, details: r.details });
}

export function formatProbe(r: ProbeRecord, format: LogFormat): string {
  const target = escapeText(r.target);
  const peer = escapeText(r.peer);
  if (format === 'tsv') {
    return `${r.time}\tprobe\t${target}\t${peer}\t${r.method}\t${r.size}\t${r.status}\t${r.outcome}\t${r.dns_ms}\t${r.connect_ms}\t` +
      `${r.tls_ms}\t${r.ttfb_ms}\t${r.total_ms}\t${r.bytes}\t${r.request_id}\t${r.wire}\t${r.path_limit}\t${r.family}\t${r.self_ms}`;
  }
  return `{"time":"${r.time}","kind":"probe","target":${jsonQuote(target)},"peer":${jsonQuote(peer)},"method":"${r.method}",` +
    `"size":${r.size},"status":${r.status},"outcome":"${r.outcome}","dns_ms":${jsonFloat(r.dns_ms)},` +
    `"connect_ms":${jsonFloat(r.connect_ms)},"tls_ms":${jsonFloat(r.tls_ms)},"ttfb_ms":${jsonFloat(r.ttfb_ms)},"total_ms":${jsonFloat(r.total_ms)},` +
    `"bytes":${r.bytes},"request_id":${jsonQuote(escapeText(r.request_id))},"wire":${r.wire},"path_limit":${r.path_limit},` +
    `"family":"${r.family}","self_ms":${jsonFloat(r.self_ms)}}`;
}

export function formatUdp(r: UdpRecord, format: LogFormat): string {
  const target = escapeText(r.target);
  const peer = escapeText(r.peer);
  if (format === 'tsv') {
    return `${r.time}\tudp\t${target}\t${peer}\t${r.family}\t${r.sent}\t${r.lost_out}\t${r.lost_back}\t${r.lost_unknown}\t${r.duplicates}\t` +
      `${r.reordered}\t${r.rtt_p50_ms}\t${r.rtt_p99_ms}\t${r.jitter_ms}\t${r.self_ms}`;
  }
  return `{"time":"${r.time}","kind":"udp","target":${jsonQuote(target)},"peer":${jsonQuote(peer)},"family":"${r.family}",` +
    `"sent":${r.sent},"lost_out":${r.lost_out},"lost_back":${r.lost_back},"lost_unknown":${r.lost_unknown},"duplicates":${r.duplicates},` +
    `"reordered":${r.reordered},"rtt_p50_ms":${jsonFloat(r.rtt_p50_ms)},"rtt_p99_ms":${jsonFloat(r.rtt_p99_ms)},"jitter_ms":${jsonFloat(r.jitter_ms)},"self_ms":${jsonFloat(r.self_ms)}}`;
}
