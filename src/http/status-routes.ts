/**
 * `GET /status` (the HTML page) and `GET /status.json` (the same data), with --status: served
 * where /metrics is (on the metrics port when --metrics-port is set, else on the heartbeat port).
 * GET/HEAD only; never cached. The page carries the mesh view; the JSON only with `?mesh=1`. A
 * neighbour assembling its own mesh asks for `?cells=1`, this heartbeat's identity and cells by peer
 * and nothing else, so nothing fans out further. With the status on the metrics port, the heartbeat
 * port answers those two paths 404 with the port they are on (`elsewhere`): how a neighbour learns it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Config } from '../config/schema';
import { newInstanceId, podMetadata, type Identity } from '../status/identity';
import { cellsDocument, createMeshView, STATUS_PORT_HEADER, type MeshView } from '../status/mesh';
import { statusPage, STATUS_CSP } from '../status/page';
import { createProbeBook, type ProbeBook } from '../status/probes';
import { statusDocument, type StatusSources } from '../status/report';
import { createUdpBook, type UdpBook } from '../status/udp';
import { READ_ONLY_METHODS } from './paths';
import { COMMON_HEADERS, methodNotAllowed, pathOf, sendText } from './respond';

export const STATUS_PATHS = ['/status', '/status.json'] as const;

export interface Status {
  /** Fed by probe mode: one call per probe line (src/probe/round.ts). */
  readonly book: ProbeBook;
  /** Fed by probe mode with probeUdp: one call per udp line (src/probe/udp-round.ts). */
  readonly udp: UdpBook;
  /** Answers the request when it is for a status path; false otherwise (the caller goes on). */
  readonly serve: (req: IncomingMessage, res: ServerResponse) => boolean;
  /** On the heartbeat port when the status is on the metrics port: 404 naming that port (STATUS_PORT_HEADER). */
  readonly elsewhere: { readonly serve: (req: IncomingMessage, res: ServerResponse) => boolean };
  /** The heartbeat listener is bound: its address and port are this instance's identity. */
  readonly bound: (address: string, port: number) => void;
}

/** What the status reads from the rest of heartbeat; the probe book and the start time are its own. */
export type StatusOptions = Omit<StatusSources, 'book' | 'udp' | 'startedAt' | 'identity'>;

/** Rows the probe book keeps at most: K neighbours × (sizes + the upload), twice over for a changing set. */
const bookRows = (c: Config): number => 2 * c.probeMaxPeers * (c.probeSizes.length + (c.probeUpload > 0 ? 1 : 0));

export function createStatus(o: StatusOptions): Status {
  const { config } = o;
  const book = createProbeBook(config.probeInterval, bookRows(config));
  // one row per neighbour, twice over for a changing set
  const udp = createUdpBook(config.probeInterval, 2 * config.probeMaxPeers);
  const identity: Identity = {
    id: newInstanceId(), ...podMetadata(), address: config.host, port: config.port,
    statusPort: config.metricsPort !== 0 ? config.metricsPort : config.port,
  };
  const sources: StatusSources = {
    version: o.version, config, ready: o.ready, requests: o.requests, logLinesDropped: o.logLinesDropped,
    book, udp, identity: () => identity, startedAt: Date.now(),
  };
  const mesh: MeshView = createMeshView({ book, identity: () => identity, userAgent: `heartbeat-status/${o.version}` });
  const pointer = `not found: the status page is served on port ${identity.statusPort} (the metrics port)\n`;

  const send = (res: ServerResponse, type: string, body: string, extra: Record<string, string> = {}): void => {
    const length = Buffer.byteLength(body);
    res.writeHead(200, { ...COMMON_HEADERS, 'Content-Type': type, 'Content-Length': length, 'Referrer-Policy': 'no-referrer', ...extra });
    res.end(body);
  };

  const answer = async (req: IncomingMessage, res: ServerResponse, path: string): Promise<void> => {
    const url = req.url ?? '';
    const query = url.slice(path.length);
    // a neighbour assembling its mesh: the cells only
    if (path === '/status.json' && /[?&]cells=1(?:&|$)/.test(query)) return send(res, 'application/json; charset=utf-8', `${JSON.stringify(cellsDocument(book, identity))}\n`);
    const doc = statusDocument(sources);
    const wantMesh = path === '/status' || /[?&]mesh=1(?:&|$)/.test(query);
    if (wantMesh && config.probeTargets.length > 0) doc.mesh = await mesh.get();
    if (res.destroyed) return;
    if (path === '/status.json') send(res, 'application/json; charset=utf-8', `${JSON.stringify(doc)}\n`);
    else send(res, 'text/html; charset=utf-8', statusPage(doc), { 'Content-Security-Policy': STATUS_CSP });
  };

  return {
    book,
    udp,
    bound(address: string, port: number): void {
      identity.address = address;
      if (identity.statusPort === identity.port) identity.statusPort = port;
      identity.port = port;
    },
    elsewhere: {
      serve(req: IncomingMessage, res: ServerResponse): boolean {
        const path = pathOf(req.url ?? '');
        if (path !== '/status' && path !== '/status.json') return false;
        sendText(res, 404, pointer, { [STATUS_PORT_HEADER]: String(identity.statusPort) });
        return true;
      },
    },
    serve(req: IncomingMessage, res: ServerResponse): boolean {
      const path = pathOf(req.url ?? '');
      if (path !== '/status' && path !== '/status.json') return false;
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        methodNotAllowed(res, READ_ONLY_METHODS);
        return true;
      }
      answer(req, res, path).catch(() => sendText(res, 500, 'status unavailable\n'));
      return true;
    },
  };
}
