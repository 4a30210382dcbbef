/**
 * The status page's mesh view: a matrix prober × peer of the latest outcome and p99, this
 * heartbeat's row from its own probes and one row per neighbour from that neighbour's
 * `/status.json?cells=1` (its identity and cells only). Asked only of addresses this heartbeat probes
 * itself (the probe book's peers, never a host or URL from a request), at most MESH_MAX_NEIGHBOURS of
 * them, MESH_CONCURRENCY at a time, each bounded in time (MESH_TIMEOUT_MS) and bytes (MESH_MAX_BYTES).
 *
 * Where a neighbour serves its status is learnt from the neighbour: it is asked at the port probed,
 * and a heartbeat whose status is on its metrics port answers there 404 with STATUS_PORT_HEADER
 * naming that port (one pointer, followed once, at the same address). Who answered is checked
 * (identity.ts): an answer from another instance, or from this one, greys the row with that reason.
 * A neighbour that does not answer in time, or answers something else, greys its row too; the page
 * never fails for it. One assembly is shared by every page view for MESH_CACHE_MS, so reloading the
 * page cannot make a heartbeat fan out faster than that.
 */
import http from 'node:http';
import { identityMismatch, ownAddress, parseIdentity, type Identity } from './identity';
import type { ProbeBook, ProbeRow } from './probes';

/** The header of the heartbeat port's 404 for /status and /status.json when the status is on the metrics port: that port. */
export const STATUS_PORT_HEADER = 'Heartbeat-Status-Port';
export const MESH_MAX_NEIGHBOURS = 64;
export const MESH_MAX_PEERS = 256;
export const MESH_TIMEOUT_MS = 2000;
export const MESH_MAX_BYTES = 256 * 1024;
export const MESH_CONCURRENCY = 8;
export const MESH_CACHE_MS = 5000;
const MAX_TEXT = 256;

export interface MeshCell {
  /** The worst latest outcome over the pair's sizes and methods (any failure beats ok). */
  outcome: string;
  failing: boolean;
  /** The largest p99 over the pair's rows, ms (null: no ok probe in the window). */
  p99Ms: number | null;
  /** Failing: for how long, s (the longest-failing of its rows); null when ok. */
  forSeconds: number | null;
}

export interface MeshRow {
  /** The prober: the address this heartbeat probes it at, or "this heartbeat". */
  prober: string;
  self: boolean;
  reachable: boolean;
  /** Why a neighbour's row is grey. */
  error?: string;
  /** Who answered (checked: the neighbour asked; this instance's own on the self row). */
  identity?: Identity;
  /** When this view was read (RFC 3339, this instance's clock). */
  at: string;
  /** By peer address. */
  cells: Record<string, MeshCell>;
}

export interface Mesh {
  /** When this assembly began (every row is from then or later). */
  time: string;
  /** The columns: every peer address any row names, sorted (at most MESH_MAX_PEERS). */
  peers: string[];
  rows: MeshRow[];
  /** Neighbours left out past MESH_MAX_NEIGHBOURS. */
  omitted: number;
  /** This instance's own column (its pod IP or bound address and port), when it knows it; null else. */
  self: string | null;
}

export interface MeshOptions {
  book: ProbeBook;
  /** This instance (known once it listens): answers carrying its id are refused. */
  identity: () => Identity;
  userAgent: string;
  /** For tests: the time and byte bounds. */
  timeoutMs?: number;
  maxBytes?: number;
}

/** A neighbour's address:port as the probe lines write it: `a.b.c.d:port` or `[v6]:port`. */
export function splitPeer(peer: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([0-9.]+)):([0-9]{1,5})$/.exec(peer);
  if (!m) return undefined;
  const port = Number(m[3]);
  return port > 0 && port < 65536 ? { host: (m[1] ?? m[2]) as string, port } : undefined;
}

/** The cells of one probe view: per peer, the worst outcome and the largest p99. */
export function cellsOf(rows: Pick<ProbeRow, 'peer' | 'outcome' | 'p99Ms' | 'failingSeconds'>[]): Record<string, MeshCell> {
  const cells: Record<string, MeshCell> = Object.create(null) as Record<string, MeshCell>;
  for (const r of rows) {
    const c = cells[r.peer];
    const failing = r.outcome !== 'ok';
    const since = failing ? r.failingSeconds ?? 0 : null;
    if (!c) {
      cells[r.peer] = { outcome: r.outcome, failing, p99Ms: r.p99Ms, forSeconds: since };
      continue;
    }
    if (failing && (!c.failing || (since as number) > (c.forSeconds ?? 0))) {
      c.outcome = r.outcome;
      c.failing = true;
      c.forSeconds = since;
    }
    if (r.p99Ms !== null && (c.p99Ms === null || r.p99Ms > c.p99Ms)) c.p99Ms = r.p99Ms;
  }
  return cells;
}

const text = (v: unknown): string | undefined => (typeof v === 'string' && v.length <= MAX_TEXT ? v : undefined);

/** The compact view a neighbour is asked for, `/status.json?cells=1`: who answers and its cells by peer (~85 bytes a peer). */
export interface CellsDocument {
  schema: 'heartbeat-status/1';
  time: string;
  identity: Identity;
  cells: Record<string, MeshCell>;
}

export const cellsDocument = (book: ProbeBook, identity: Identity, now = Date.now()): CellsDocument =>
  ({ schema: 'heartbeat-status/1', time: new Date(now).toISOString(), identity, cells: cellsOf(book.rows(now)) });

/** A neighbour's cells, checked field by field: anything malformed is left out. */
export function neighbourCells(doc: unknown): Record<string, MeshCell> {
  const d = doc as { schema?: unknown; cells?: unknown };
  if (typeof d !== 'object' || d === null || d.schema !== 'heartbeat-status/1' || typeof d.cells !== 'object' || d.cells === null) {
    throw new Error('not a heartbeat status document');
  }
  const out: Record<string, MeshCell> = Object.create(null) as Record<string, MeshCell>;
  for (const [peer, c] of Object.entries(d.cells as Record<string, unknown>)) {
    const r = c as { outcome?: unknown; p99Ms?: unknown; forSeconds?: unknown };
    if (typeof r !== 'object' || r === null || text(peer) === undefined) continue;
    const outcome = text(r.outcome);
    const p99 = typeof r.p99Ms === 'number' && Number.isFinite(r.p99Ms) ? r.p99Ms : null;
    const failing = outcome !== 'ok';
    const since = failing && typeof r.forSeconds === 'number' && Number.isFinite(r.forSeconds) && r.forSeconds >= 0 ? r.forSeconds : null;
    if (outcome !== undefined && /^[a-z_]{1,32}$/.test(outcome)) out[peer] = { outcome, failing, p99Ms: p99, forSeconds: failing ? since ?? 0 : null };
  }
  return out;
}

/** What a neighbour's port answered: its document, or a pointer to the port its status is on. */
export type Fetched = { doc: unknown } | { pointer: number };

/** GET http://host:port/status.json?cells=1, bounded in time and bytes; rejects with a short reason. */
export function fetchStatus(host: string, port: number, o: { timeoutMs: number; maxBytes: number; userAgent: string }): Promise<Fetched> {
  return new Promise((resolve, reject) => {
    const hostHeader = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    let settled = false;
    const fail = (why: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      reject(new Error(why));
    };
    const req = http.get({
      host, port, path: '/status.json?cells=1', agent: false,
      headers: { Host: hostHeader, 'User-Agent': o.userAgent, Accept: 'application/json' },
    }, (res) => {
      const pointer = res.headers[STATUS_PORT_HEADER.toLowerCase()];
      if (res.statusCode === 404 && typeof pointer === 'string' && /^[0-9]{1,5}$/.test(pointer) && Number(pointer) > 0 && Number(pointer) < 65536) {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        req.destroy();
        resolve({ pointer: Number(pointer) });
        return;
      }
      if (res.statusCode === 404) return fail(`answered 404 at port ${port} (status off there)`);
      if (res.statusCode !== 200) return fail(`answered ${res.statusCode ?? 0}`);
      const declared = Number(res.headers['content-length'] ?? 0);
      if (declared > o.maxBytes) return fail(`answer larger than ${o.maxBytes} bytes`);
      const chunks: Buffer[] = [];
      let bytes = 0;
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        if (bytes > o.maxBytes) return fail(`answer larger than ${o.maxBytes} bytes`);
        chunks.push(c);
      });
      res.on('end', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        try {
          resolve({ doc: JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown });
        } catch {
          reject(new Error('answer is not JSON'));
        }
      });
      res.on('error', (e: NodeJS.ErrnoException) => fail(e.code ?? 'reset'));
    });
    req.on('error', (e: NodeJS.ErrnoException) => fail(e.code === 'ECONNREFUSED' ? 'refused' : e.code ?? 'error'));
    const timer = setTimeout(() => fail(`no answer within ${o.timeoutMs} ms`), o.timeoutMs);
  });
}

export interface MeshView {
  /** The latest mesh, assembled at most once per MESH_CACHE_MS however often it is asked for. */
  get(): Promise<Mesh>;
}

export function createMeshView(o: MeshOptions): MeshView {
  const timeoutMs = o.timeoutMs ?? MESH_TIMEOUT_MS;
  const maxBytes = o.maxBytes ?? MESH_MAX_BYTES;
  const bounds = { timeoutMs, maxBytes, userAgent: o.userAgent };
  let cached: { at: number; mesh: Promise<Mesh> } | undefined;
  /** Status ports learnt from neighbours (peer -> port), only for peers still probed. */
  const learnt = new Map<string, number>();

  /** The neighbour's document: at the port it said last time, else at the port probed (following its pointer once). */
  const ask = async (peer: string, host: string, port: number): Promise<unknown> => {
    const known = learnt.get(peer);
    if (known !== undefined) {
      try {
        const got = await fetchStatus(host, known, bounds);
        if ('doc' in got) return got.doc;
      } catch { /* moved or gone: ask the port probed again */ }
      learnt.delete(peer);
    }
    const first = await fetchStatus(host, port, bounds);
    if ('doc' in first) return first.doc;
    const second = await fetchStatus(host, first.pointer, bounds);
    if (!('doc' in second)) throw new Error(`pointed from port ${first.pointer} elsewhere again`);
    learnt.set(peer, first.pointer);
    return second.doc;
  };

  const neighbourRow = async (peer: string): Promise<MeshRow> => {
    const at = splitPeer(peer);
    const grey = (error: string): MeshRow => ({ prober: peer, self: false, reachable: false, error, at: new Date().toISOString(), cells: {} });
    if (!at) return grey('not an address');
    try {
      const doc = await ask(peer, at.host, at.port);
      const identity = parseIdentity((doc as { identity?: unknown } | null)?.identity);
      const cells = neighbourCells(doc);
      const wrong = identityMismatch(at, identity, o.identity());
      if (wrong) {
        learnt.delete(peer);
        return { ...grey(wrong), identity };
      }
      return { prober: peer, self: false, reachable: true, identity, at: new Date().toISOString(), cells };
    } catch (e) {
      return grey((e as Error).message);
    }
  };

  const assemble = async (): Promise<Mesh> => {
    const time = new Date().toISOString();
    const all = o.book.peers().sort();
    for (const p of learnt.keys()) if (!all.includes(p)) learnt.delete(p);
    const asked = all.slice(0, MESH_MAX_NEIGHBOURS);
    const rows: MeshRow[] = new Array<MeshRow>(asked.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < asked.length) {
        const i = next++;
        rows[i] = await neighbourRow(asked[i] as string);
      }
    };
    await Promise.all(Array.from({ length: Math.min(MESH_CONCURRENCY, asked.length) }, worker));
    const me = o.identity();
    const self: MeshRow = { prober: 'this heartbeat', self: true, reachable: true, identity: me, at: new Date().toISOString(), cells: cellsOf(o.book.rows()) };
    const columns = new Set<string>();
    for (const r of [self, ...rows]) for (const p of Object.keys(r.cells)) columns.add(p);
    return {
      time,
      peers: [...columns].sort().slice(0, MESH_MAX_PEERS),
      rows: [self, ...rows],
      omitted: all.length - asked.length,
      self: ownAddress(me),
    };
  };

  return {
    get(): Promise<Mesh> {
      const now = Date.now();
      if (!cached || now - cached.at >= MESH_CACHE_MS) cached = { at: now, mesh: assemble() };
      return cached.mesh;
    },
  };
}
