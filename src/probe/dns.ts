/**
 * Name resolution for probe rounds that is bounded and cancellable: `/etc/hosts` first, as
 * getaddrinfo's `files` source does, then DNS through c-ares (node:dns Resolver `resolve4`
 * and `resolve6`, A and AAAA asked at once) with resolv.conf's `search` list and `ndots`
 * applied the way glibc applies them. c-ares queries are non-blocking sockets on the event
 * loop, not calls on libuv's 4-thread pool, so a resolver that never answers holds no thread:
 * at the deadline the lookup's own channel is cancelled and nothing of it is left running,
 * and another target's lookup (or anything else on the pool) never waits behind it.
 * What is given up: nsswitch sources other than files and dns (mdns, ldap, nss-resolve);
 * docs/probe.md says so.
 */
import dns from 'node:dns';
import fs from 'node:fs';
import net from 'node:net';

export interface ResolverFiles {
  /** Default /etc/hosts. */
  hostsFile?: string;
  /** Default /etc/resolv.conf: its search list and ndots (c-ares reads its nameservers itself). */
  resolvConf?: string;
  /** DNS servers (`address` or `address:port`) instead of resolv.conf's (tests: a resolver on loopback). */
  servers?: string[];
}

export type BoundedLookup = (host: string, timeoutMs: number) => Promise<string[]>;

/** Every address `/etc/hosts` text gives `name` (every line naming it, in file order; case-insensitive). */
export function hostsAddresses(text: string, name: string): string[] {
  const want = name.toLowerCase().replace(/\.$/, '');
  const out: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') continue;
    const [address, ...names] = line.split(/\s+/);
    if (address === undefined || net.isIP(address.replace(/%.*$/, '')) === 0) continue;
    if (names.some((n) => n.toLowerCase() === want)) out.push(address.replace(/%.*$/, ''));
  }
  return out;
}

export interface SearchConfig {
  search: string[];
  ndots: number;
}

/** resolv.conf's `search` (or `domain`) list and `options ndots:n` (default 1, at most 15; the last line of each wins, as in glibc). */
export function parseResolvConf(text: string): SearchConfig {
  let search: string[] = [];
  let ndots = 1;
  for (const raw of text.split('\n')) {
    const [key, ...rest] = raw.replace(/[#;].*/, '').trim().split(/\s+/);
    if (key === 'search' || key === 'domain') search = rest.filter((d) => d !== '' && d !== '.').map((d) => d.replace(/\.$/, ''));
    else if (key === 'options') {
      for (const o of rest) {
        const m = /^ndots:([0-9]+)$/.exec(o);
        if (m) ndots = Math.min(15, Number(m[1]));
      }
    }
  }
  return { search, ndots };
}

/** The names to ask, in order: a name ending in "." as it is; else with fewer than ndots dots the search domains first, then as it is. */
export function candidates(name: string, c: SearchConfig): string[] {
  if (name.endsWith('.')) return [name.slice(0, -1)];
  const searched = c.search.map((d) => `${name}.${d}`);
  const dots = name.split('.').length - 1;
  return dots >= c.ndots ? [name, ...searched] : [...searched, name];
}

const NO_SUCH_NAME = new Set(['ENOTFOUND', 'ENODATA', 'ENONAME']);

function readOr(file: string, fallback: string): string {
  try {
    return fs.readFileSync(file, 'latin1');
  } catch {
    return fallback;
  }
}

/** A lookup bounded by its `timeoutMs`: every query of it cancelled at the deadline (rejects with code ETIMEOUT). */
export function createBoundedLookup(files: ResolverFiles = {}): BoundedLookup {
  const hostsFile = files.hostsFile ?? '/etc/hosts';
  const resolvConf = files.resolvConf ?? '/etc/resolv.conf';
  return async (host, timeoutMs) => {
    // read each time (small, local files): a changed /etc/hosts or search list counts from the next round
    const fromHosts = hostsAddresses(readOr(hostsFile, ''), host);
    if (fromHosts.length > 0) return fromHosts;
    const search = parseResolvConf(readOr(resolvConf, ''));
    // one channel per lookup, so cancelling it at the deadline cancels this lookup's queries and no other's
    const resolver = new dns.promises.Resolver({ timeout: Math.max(50, Math.floor(timeoutMs / 2)), tries: 2 });
    if (files.servers) resolver.setServers(files.servers);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        reject(Object.assign(new Error(`${host}: no answer within ${timeoutMs} ms`), { code: 'ETIMEOUT' }));
        resolver.cancel();
      }, timeoutMs);
    });
    const ask = async (): Promise<string[]> => {
      let last: NodeJS.ErrnoException | undefined;
      for (const name of candidates(host, search)) {
        const [a, aaaa] = await Promise.allSettled([resolver.resolve4(name), resolver.resolve6(name)]);
        const found = [...(a.status === 'fulfilled' ? a.value : []), ...(aaaa.status === 'fulfilled' ? aaaa.value : [])];
        if (found.length > 0) return found;
        const errors = [a, aaaa].map((r) => (r.status === 'rejected' ? r.reason as NodeJS.ErrnoException : undefined));
        // a name that does not exist goes on to the next candidate; any other failure (a server that
        // fails or refuses) is the answer, as glibc stops there too
        const hard = errors.find((e) => e !== undefined && !NO_SUCH_NAME.has(e.code ?? ''));
        if (hard) throw hard;
        last = errors[0] ?? errors[1];
      }
      throw last ?? Object.assign(new Error(`${host}: not found`), { code: 'ENOTFOUND' });
    };
    try {
      return await Promise.race([ask(), deadline]);
    } finally {
      clearTimeout(timer);
      resolver.cancel(); // nothing of this lookup is left running (a no-op once all were answered)
    }
  };
}
