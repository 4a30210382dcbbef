/**
 * Probe mode's settings as values: the targets parsed from their base URLs, and
 * the checks the convict schema (src/config/schema.ts) runs on each probe key.
 * Targets come only from these settings, never from a request.
 */
import net from 'node:net';

/** One configured target: a base URL resolved each round to one or more peer addresses. */
export interface Target {
  /** The base URL exactly as configured (operator text: escaped when logged). */
  readonly name: string;
  /** Host name or IP literal (IPv6 without its brackets). */
  readonly host: string;
  readonly port: number;
  /** The heartbeat uri on the peer, without a trailing slash: `/heartbeat` when the URL has no path. */
  readonly uri: string;
}

export const DEFAULT_PEER_URI = '/heartbeat';
/** Largest payload size a probe may ask for or upload: the server's own ceiling. */
export const MAX_PROBE_BYTES = 1024 * 1024 * 1024;

const URL_SHAPE = /^http:\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::([0-9]{1,5}))?(\/[A-Za-z0-9._~!$&'()*+,;=:@/-]*)?$/;

/** Parses one base URL, or throws an Error saying what is wrong with it. */
export function parseTarget(text: string): Target {
  if (/^https:/i.test(text)) throw new Error(`${JSON.stringify(text)}: only http:// targets are supported`);
  const m = URL_SHAPE.exec(text);
  if (!m) {
    throw new Error(`${JSON.stringify(text)} is not an http URL of the form http://host:port or http://host:port/uri (no query, fragment or user)`);
  }
  const rawHost = m[1] as string;
  const host = rawHost.startsWith('[') ? rawHost.slice(1, -1) : rawHost;
  if (rawHost.startsWith('[') && net.isIPv6(host) === false) throw new Error(`${JSON.stringify(text)}: ${rawHost} is not an IPv6 address`);
  const port = m[2] === undefined ? 80 : Number(m[2]);
  if (port < 1 || port > 65535) throw new Error(`${JSON.stringify(text)}: port must be from 1 to 65535`);
  const path = (m[3] ?? '').replace(/\/+$/, '');
  if (path.includes('//')) throw new Error(`${JSON.stringify(text)}: the path must not contain "//"`);
  return { name: text, host, port, uri: path === '' ? DEFAULT_PEER_URI : path };
}

/** A comma-separated list (from a flag or the environment) as its trimmed, non-empty items. */
export function splitList(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  return v.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}

/** The convict check for probeTargets: an array of http base URLs, no two alike. */
export function validateTargets(v: unknown): void {
  if (!Array.isArray(v)) throw new Error('must be a comma-separated list (or a JSON array) of http:// base URLs');
  const seen = new Set<string>();
  for (const item of v) {
    if (typeof item !== 'string') throw new Error('must be a list of http:// base URLs (strings)');
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
