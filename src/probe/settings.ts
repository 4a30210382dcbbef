/**
 * Probe mode's settings as values: the targets parsed from their base URLs, and
 * the checks the convict schema (src/config/schema.ts) runs on each probe key.
 * Targets come only from these settings, never from a request.
 */
import net from 'node:net';

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

/** Strict decimal items only: "1k", "1e3", "-1" stay as text so validation names them. */
export function coerceSizes(v: unknown): unknown {
  const items = splitList(v);
  if (!Array.isArray(items)) return items;
  return items.map((s: unknown) => (typeof s === 'string' && /^[0-9]{1,16}$/.test(s) ? Number(s) : s));
}

/** The convict check for probeSizes: each a whole number of bytes from 1 to 1 GiB. */
export function validateSizes(v: unknown): void {
  if (!Array.isArray(v)) throw new Error('must be a comma-separated list (or a JSON array) of sizes in bytes');
  for (const n of v) {
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1 || n > MAX_PROBE_BYTES) {
      throw new Error(`${JSON.stringify(n)}: each size must be a whole number of bytes from 1 to ${MAX_PROBE_BYTES}`);
    }
  }
}
