/**
 * Probe mode's settings as values: the targets parsed from their base URLs, and
 * the checks the convict schema (src/config/schema.ts) runs on each probe key.
 * Targets come only from these settings, never from a request.
 */
import net from 'node:net';
import { wireMinimum } from '../http/wire';

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
