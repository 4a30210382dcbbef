/**
 * Probe mode's settings as values: the targets parsed from their base URLs, and
 * the checks the convict schema (src/config/schema.ts) runs on each probe key.
 * Targets come only from these settings, never from a request.
 */
import net from 'node:net';
import { wireMinimum } from '../http/wire';

/** One configured target: a base URL resolved each round to one or more peer addresses. */
export interface Target {
  /** The target exactly as configured, Host override included (operator text: escaped when logged). */
  readonly name: string;
  readonly scheme: 'http' | 'https';
  /** Host name or IP literal (IPv6 without its brackets): what is resolved and connected to. */
  readonly host: string;
  readonly port: number;
  /**
   * ` host=NAME[:PORT]` after the URL: the Host header sent instead of the URL's host:port, and
   * (https) the name sent as SNI and checked against the certificate.
   */
  readonly hostOverride?: string;
  /** The heartbeat uri on the peer, without a trailing slash: `/heartbeat` when the URL has no path. */
  readonly uri: string;
}

export const DEFAULT_PEER_URI = '/heartbeat';
/** Largest payload size a probe may ask for or upload: the server's own ceiling. */
export const MAX_PROBE_BYTES = 1024 * 1024 * 1024;

const URL_SHAPE = /^(https?):\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::([0-9]{1,5}))?(\/[A-Za-z0-9._~!$&'()*+,;=:@/-]*)?$/;
/** A Host override: a name or IPv4 literal, or a bracketed IPv6 literal, with an optional port. */
const AUTHORITY = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::([0-9]{1,5}))?$/;

/** Parses one target, `URL` or `URL host=NAME[:PORT]`, or throws an Error saying what is wrong with it. */
export function parseTarget(text: string): Target {
  const parts = text.split(/[ \t]+/);
  const url = parts[0] as string;
  let hostOverride: string | undefined;
  if (parts.length > 2 || (parts.length === 2 && !(parts[1] as string).startsWith('host='))) {
    throw new Error(`${JSON.stringify(text)}: after the URL only " host=NAME[:PORT]" may follow (the Host header and TLS name to send)`);
  }
  if (parts.length === 2) {
    hostOverride = (parts[1] as string).slice(5);
    const a = AUTHORITY.exec(hostOverride);
    if (!a || (hostOverride.startsWith('[') && !net.isIPv6(hostOverride.slice(1, hostOverride.indexOf(']'))))) {
      throw new Error(`${JSON.stringify(text)}: host=${hostOverride} is not a host name, IP address or [IPv6] with an optional :port`);
    }
    if (a[1] !== undefined && (Number(a[1]) < 1 || Number(a[1]) > 65535)) throw new Error(`${JSON.stringify(text)}: the host= port must be from 1 to 65535`);
  }
  const m = URL_SHAPE.exec(url);
  if (!m) {
    throw new Error(`${JSON.stringify(text)} is not a URL of the form http(s)://host[:port][/uri] (no query, fragment or user), optionally followed by " host=NAME[:PORT]"`);
  }
  const scheme = (m[1] as string) as 'http' | 'https';
  const rawHost = m[2] as string;
  const host = rawHost.startsWith('[') ? rawHost.slice(1, -1) : rawHost;
  if (rawHost.startsWith('[') && net.isIPv6(host) === false) throw new Error(`${JSON.stringify(text)}: ${rawHost} is not an IPv6 address`);
  const port = m[3] === undefined ? (scheme === 'https' ? 443 : 80) : Number(m[3]);
  if (port < 1 || port > 65535) throw new Error(`${JSON.stringify(text)}: port must be from 1 to 65535`);
  const path = (m[4] ?? '').replace(/\/+$/, '');
  if (path.includes('//')) throw new Error(`${JSON.stringify(text)}: the path must not contain "//"`);
  return { name: text, scheme, host, port, uri: path === '' ? DEFAULT_PEER_URI : path, ...(hostOverride !== undefined ? { hostOverride } : {}) };
}

/** A comma-separated list (from a flag or the environment) as its trimmed, non-empty items. */
export function splitList(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  return v.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}

/** The convict check for probeTargets: an array of http(s) base URLs (each with an optional Host override), no two alike. */
export function validateTargets(v: unknown): void {
  if (!Array.isArray(v)) throw new Error('must be a comma-separated list (or a JSON array) of http:// or https:// base URLs');
  const seen = new Set<string>();
  for (const item of v) {
    if (typeof item !== 'string') throw new Error('must be a list of http:// or https:// base URLs (strings)');
    parseTarget(item);
    if (seen.has(item)) throw new Error(`lists ${JSON.stringify(item)} twice`);
    seen.add(item);
  }
}

/**
 * One item of probeSizes: `1400` asks for a 1400-byte body (`GET {uri}/1400`); `1400w` for an answer
 * of 1400 bytes on the wire, head included (`GET {uri}/1400?wire`, src/http/wire.ts), so a probe
 * can straddle a segment boundary exactly.
 */
export interface ProbeSize {
  bytes: number;
  wire: boolean;
}

const WIRE_SIZE = /^([0-9]{1,16})w$/;
/** The smallest wire size: the smallest wire-exact answer a heartbeat gives. */
export const MIN_WIRE_PROBE_BYTES = wireMinimum();

/** A probeSizes item (validated) as what it asks for. */
export function probeSize(item: number | string): ProbeSize {
  if (typeof item === 'number') return { bytes: item, wire: false };
  return { bytes: Number((WIRE_SIZE.exec(item) as RegExpExecArray)[1]), wire: true };
}

/** How a size is written in settings, metrics labels and docs: `1400` or `1400w`. */
export function sizeText(s: ProbeSize): string {
  return s.wire ? `${s.bytes}w` : String(s.bytes);
}

/** Strict decimal items only: "1k", "1e3", "-1" stay as text so validation names them; "1400w" stays a wire size. */
export function coerceSizes(v: unknown): unknown {
  const items = splitList(v);
  if (!Array.isArray(items)) return items;
  return items.map((s: unknown) => (typeof s === 'string' && /^[0-9]{1,16}$/.test(s) ? Number(s) : s));
}

const SIZE_RULE = `each size must be a whole number of bytes from 1 to ${MAX_PROBE_BYTES}, ` +
  `or a wire size (the whole answer, head included) from ${MIN_WIRE_PROBE_BYTES}w to ${MAX_PROBE_BYTES}w`;

/** The convict check for probeSizes: body sizes from 1 byte to 1 GiB, wire sizes (`1400w`) from the smallest answer. */
export function validateSizes(v: unknown): void {
  if (!Array.isArray(v)) throw new Error('must be a comma-separated list (or a JSON array) of sizes in bytes');
  for (const n of v) {
    const wire = typeof n === 'string' ? WIRE_SIZE.exec(n) : null;
    if (wire) {
      const bytes = Number(wire[1]);
      if (bytes < MIN_WIRE_PROBE_BYTES || bytes > MAX_PROBE_BYTES) throw new Error(`${JSON.stringify(n)}: ${SIZE_RULE}`);
      continue;
    }
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1 || n > MAX_PROBE_BYTES) {
      throw new Error(`${JSON.stringify(n)}: ${SIZE_RULE}`);
    }
  }
}
