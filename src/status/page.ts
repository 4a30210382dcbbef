/**
 * The status page, `/status`: one static HTML document rendered on the server (the tables are in
 * the HTML, so it works with JavaScript off), no script at all, one inline style block allowed by
 * its hash in a strict Content-Security-Policy (nothing else may load: no script, image, font,
 * frame or form). Every text that is not heartbeat's own (targets, peers, neighbours' answers)
 * is HTML-escaped.
 */
import { STARVED_MS } from '../probe/self';
import { createHash } from 'node:crypto';
import { describe, hostPort, ownAddress, type Identity } from './identity';
import type { Mesh, MeshRow } from './mesh';
import type { ProbeRow } from './probes';
import type { StatusDocument } from './report';
import type { UdpRow } from './udp';

const STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#111;background:#fff}
h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.1em;margin:1.4em 0 .4em}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}
th,td{border:1px solid #ccc;padding:.2em .5em;text-align:left;white-space:nowrap}
th{background:#f3f3f3}td.n{text-align:right}
.verdict{font-size:1.1em;font-weight:600;padding:.4em .6em;display:inline-block}
.verdict.bad{background:#fde2e2;color:#8a1111}.verdict.good{background:#e3f6e3;color:#145214}
tr.failing td{background:#fde2e2}tr.failing td.outcome{color:#8a1111;font-weight:600}td.self{min-width:12em;white-space:nowrap}td.starved{background:#fff1c2;font-weight:600}
#mesh td.k{background:#e3f6e3;text-align:right}#mesh td.f{background:#fde2e2;color:#8a1111;font-weight:600}
tr.unreachable th,tr.unreachable td{background:#e6e6e6;color:#777}#mesh td.self{background:#eef;color:#446;text-align:center;font-style:italic}
small{color:#555;font-weight:normal}
dl{display:grid;grid-template-columns:max-content auto;gap:.1em 1em;margin:0}dt{color:#555}dd{margin:0}
.note{color:#555;max-width:60em}
`;

/** The CSP: only the one style block above (by its hash), nothing else from anywhere. */
export const STATUS_CSP = [
  "default-src 'none'",
  `style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`,
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => ESCAPES[c] as string);

const ms = (v: number | null): string => (v === null ? '–' : v < 10 ? v.toFixed(2) : v < 1000 ? v.toFixed(1) : v.toFixed(0));
/** A latency with its unit, for a cell. */
const msUnit = (v: number | null): string => (v === null ? '–' : `${ms(v)} ms`);

/** How often the page reloads itself (a meta refresh: no script); the mesh it shows is at most MESH_CACHE_MS older. */
export const REFRESH_SECONDS = 10;

/** 3 s, 4 min, 2 h 5 min, 3 d 4 h. */
export function age(seconds: number | null): string {
  if (seconds === null) return 'never';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

const bytes = (n: number): string =>
  n >= 1048576 && n % 1048576 === 0 ? `${n / 1048576} MiB` : n >= 1024 && n % 1024 === 0 ? `${n / 1024} KiB` : `${n} B`;

function identityItems(i: Identity): string {
  const item = (k: string, v: string | null): string => `<dt>${k}</dt><dd>${v === null ? '<small>not set</small>' : escapeHtml(v)}</dd>`;
  return [
    item('pod', i.pod), item('namespace', i.namespace), item('node', i.node), item('pod IP', i.podIP),
    item('listening', hostPort(i.address || '*', i.port)), item('status port', String(i.statusPort)), item('instance id', i.id),
  ].join('');
}

function instanceSection(d: StatusDocument): string {
  const i = d.instance;
  const s = i.settings;
  const item = (k: string, v: string): string => `<dt>${k}</dt><dd>${v}</dd>`;
  return '<dl>' + identityItems(d.identity) + [
    item('version', escapeHtml(i.version)),
    item('up', `${age(i.uptimeSeconds)} (since ${escapeHtml(i.started)})`),
    item('ready', i.ready ? 'ready' : '<strong>draining</strong> (/readyz answers 503)'),
    item('requests served', String(i.requests)),
    item('log lines dropped', String(i.logLinesDropped)),
    item('uri', escapeHtml(s.uri)),
    item('sizes served', `${bytes(s.min)} to ${bytes(s.max)}`),
    item('probing', s.probing
      ? `${s.probeTargets.map(escapeHtml).join(', ')}: sizes ${s.probeSizes.map((z) => (typeof z === 'number' ? bytes(z) : `${escapeHtml(z)} (on the wire)`)).join(', ')}` +
        `${s.probeUpload > 0 ? `, upload ${bytes(s.probeUpload)}` : ''}, every ${s.probeInterval} ms, ` +
        `timeout ${s.probeTimeout} ms, K = ${s.probeMaxPeers} neighbours, connection ${escapeHtml(s.probeConnection)}`
      : 'off (no probeTargets)'),
  ].join('') + '</dl>';
}

/** Names learnt from the neighbours' own answers: address:port -> node (or pod). */
export function namesOf(d: StatusDocument): Map<string, string> {
  const names = new Map<string, string>();
  for (const r of d.mesh?.rows ?? []) {
    const i = r.identity;
    const name = i?.node ?? i?.pod;
    if (r.self || !r.reachable || !name) continue;
    names.set(r.prober, name);
  }
  const own = ownAddress(d.identity);
  const mine = d.identity.node ?? d.identity.pod;
  if (own && mine) names.set(own, mine);
  return names;
}

const named = (peer: string, names: Map<string, string>): string => {
  const n = names.get(peer);
  return n ? `${escapeHtml(peer)} <small>${escapeHtml(n)}</small>` : escapeHtml(peer);
};

function probeTable(rows: ProbeRow[], window: number, names: Map<string, string>): string {
  if (rows.length === 0) return '<p class="note">No probe has ended yet.</p>';
  const head = ['target', 'peer', 'family', 'method', 'size', 'outcome', 'when', 'p50', 'p99', 'ok / probes', 'last success', 'dominant phase', 'self ms']
    .map((h) => `<th>${h}</th>`).join('');
  const body = rows.map((r) => {
    const cls = r.failing ? ' class="failing"' : '';
    const status = r.outcome === 'status' ? ` ${r.status}`
      : r.pathLimit > 0 ? ` (path limit ${r.pathLimit} B)` : '';
    // a failing row: its outcome and how long it has failed, never the older ok probes' latencies as if current
    const latency = r.failing
      ? `<td colspan="2" class="outcome">failing for ${age(r.failingSeconds)}</td>`
      : `<td class="n">${msUnit(r.p50Ms)}</td><td class="n">${msUnit(r.p99Ms)}</td>`;
    return `<tr${cls} data-peer="${escapeHtml(r.peer)}" data-outcome="${escapeHtml(r.outcome)}"${r.starved ? ' data-starved="true"' : ''}>` +
      `<td>${escapeHtml(r.target)}</td><td>${named(r.peer, names)}</td><td>${escapeHtml(r.family)}</td><td>${escapeHtml(r.method)}</td>` +
      `<td class="n">${r.wire ? `${r.size}w` : bytes(r.size)}</td><td class="outcome">${escapeHtml(r.outcome)}${status}</td>` +
      `<td>${age(r.ageSeconds)} ago</td>${latency}` +
      `<td class="n">${r.okSamples} / ${r.samples}</td>` +
      `<td>${r.lastSuccessAgeSeconds === null ? 'never' : `${age(r.lastSuccessAgeSeconds)} ago`}</td>` +
      `<td>${r.phase} ${ms(r.phases[r.phase])} ms</td>` +
      (r.starved ? `<td class="n self starved">${ms(r.selfMs)} (prober starved)</td></tr>` : `<td class="n self">${ms(r.selfMs)}</td></tr>`);
  }).join('\n');
  return `<table id="probes"><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>` +
    `<p class="note">One row per neighbour, method and size (<code>1400w</code>: the whole answer on the wire); failing rows first, then the slowest. p50/p99: total time ` +
    `(connect to last byte) of the ok probes among the row's last ${window}; a failing row shows instead how long it has failed. Dominant phase: the longest of dns, connect, tls, ` +
    'ttfb (request written to first byte) and transfer in the last probe. Self ms: this prober\'s own delay in the last probe, how late ' +
    `it may have stamped its times (busy, waiting for a CPU, throttled); marked <em>prober starved</em> from ${STARVED_MS} ms, when the times say more about this heartbeat than the path.</p>`;
}

const pct = (v: number): string => (v === 0 ? '0' : v < 0.1 ? v.toFixed(3) : v.toFixed(1));

function udpTable(rows: UdpRow[], window: number): string {
  if (rows.length === 0) return '<p class="note">No UDP round has ended yet.</p>';
  const head = ['target', 'peer', 'family', 'sent', 'loss out %', 'loss back %', 'unknown %', 'p50 ms', 'p99 ms', 'jitter ms', 'when']
    .map((h) => `<th>${h}</th>`).join('');
  const body = rows.map((r) => {
    const cls = r.lossOutPct + r.lossBackPct + r.lossUnknownPct > 0 ? ' class="failing"' : '';
    return `<tr${cls} data-peer="${escapeHtml(r.peer)}"><td>${escapeHtml(r.target)}</td><td>${escapeHtml(r.peer)}</td><td>${escapeHtml(r.family)}</td>` +
      `<td class="n">${r.sent}</td><td class="n out">${pct(r.lossOutPct)}</td><td class="n back">${pct(r.lossBackPct)}</td>` +
      `<td class="n">${pct(r.lossUnknownPct)}</td><td class="n">${ms(r.rttP50Ms)}</td><td class="n">${ms(r.rttP99Ms)}</td>` +
      `<td class="n">${ms(r.jitterMs)}</td><td>${age(r.ageSeconds)} ago</td></tr>`;
  }).join('\n');
  return `<table id="udp"><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>` +
    `<p class="note">Echo datagrams (probeUdp) over each neighbour's last ${window} rounds, worst loss first. Out: never reached the peer ` +
    '(by its own count); back: the peer answered, the answer did not come; unknown: the peer\'s count never came. ' +
    'RTTs and jitter (RFC 3550) are the last round\'s.</p>';
}

const secondsBetween = (later: string, earlier: string): number => Math.max(0, (Date.parse(later) - Date.parse(earlier)) / 1000);

function proberLabel(r: MeshRow, d: StatusDocument, names: Map<string, string>): string {
  if (r.self) return `this heartbeat <small>${escapeHtml(describe(d.identity))}</small>`;
  const asOf = ` <small>as of ${age(secondsBetween(d.time, r.at))} ago</small>`;
  if (!r.reachable) return `${escapeHtml(r.prober)} <small>(unreachable: ${escapeHtml(r.error ?? '')})</small>${asOf}`;
  return `${named(r.prober, names)}${asOf}`;
}

function meshTable(d: StatusDocument, mesh: Mesh, names: Map<string, string>): string {
  const head = mesh.peers.map((p) => `<th>${named(p, names)}${p === mesh.self ? ' <small>(this heartbeat)</small>' : ''}</th>`).join('');
  const body = mesh.rows.map((r) => {
    const own = r.self ? mesh.self : r.prober;
    // compact cells (a 65 × 65 mesh is 4225 of them): ok is green with its p99, a failure red with its outcome and age
    const cells = mesh.peers.map((p) => {
      if (p === own) return '<td class="self">self</td>';
      const c = r.cells[p];
      if (!r.reachable || !c) return '<td></td>';
      return c.failing ? `<td class="f">${escapeHtml(c.outcome)} ${age(c.forSeconds ?? 0)}</td>` : `<td class="k">${msUnit(c.p99Ms)}</td>`;
    }).join('');
    const cls = r.reachable ? '' : ' class="unreachable"';
    return `<tr${cls} data-prober="${escapeHtml(r.prober)}"><th>${proberLabel(r, d, names)}</th>${cells}</tr>`;
  }).join('\n');
  const omitted = mesh.omitted > 0 ? ` ${mesh.omitted} more neighbours are left out.` : '';
  return `<table id="mesh"><thead><tr><th>prober \\ peer</th>${head}</tr></thead><tbody>\n${body}\n</tbody></table>` +
    '<p class="note">Each row is one prober\'s latest view (its own /status.json, asked only of the addresses this ' +
    'heartbeat probes, and refused unless the neighbour asked answered), each cell the worst latest outcome of its probes of that peer: green, ok, with their largest p99; ' +
    'red, the outcome of a failing probe and how long it has failed; empty, not probed; <i>self</i>, the prober itself. ' +
    `A grey row: that neighbour's view could not be read, with the reason.${omitted}</p>`;
}

/** One failing pair of the page: who probes whom, the outcome, for how long (s). */
export interface FailingPair {
  prober: string;
  peer: string;
  outcome: string;
  forSeconds: number;
}

/** What the banner says: every failing pair on the page (worst, i.e. longest failing, first) and every unreadable neighbour. */
export interface Verdict {
  ok: boolean;
  pairs: FailingPair[];
  unreadable: { prober: string; error: string }[];
}

export function verdictOf(d: StatusDocument): Verdict {
  const pairs: FailingPair[] = [];
  const own = ownAddress(d.identity) ?? 'this heartbeat';
  const mine = new Map<string, FailingPair>();
  for (const r of d.probes) {
    if (!r.failing) continue;
    const p = mine.get(r.peer);
    const since = r.failingSeconds ?? 0;
    if (!p) mine.set(r.peer, { prober: own, peer: r.peer, outcome: r.outcome, forSeconds: since });
    else if (since > p.forSeconds) Object.assign(p, { outcome: r.outcome, forSeconds: since });
  }
  pairs.push(...mine.values());
  const unreadable: Verdict['unreadable'] = [];
  for (const r of d.mesh?.rows ?? []) {
    if (r.self) continue;
    if (!r.reachable) {
      unreadable.push({ prober: r.prober, error: r.error ?? '' });
      continue;
    }
    for (const [peer, c] of Object.entries(r.cells)) {
      if (c.failing) pairs.push({ prober: r.prober, peer, outcome: c.outcome, forSeconds: c.forSeconds ?? 0 });
    }
  }
  pairs.sort((a, b) => b.forSeconds - a.forSeconds || a.prober.localeCompare(b.prober) || a.peer.localeCompare(b.peer));
  return { ok: pairs.length === 0 && unreadable.length === 0, pairs, unreadable };
}

const SHOWN = 10;

function banner(d: StatusDocument): string {
  if (!d.instance.settings.probing) return '<p class="verdict good">Not probing: no probeTargets set.</p>';
  if (d.probes.length === 0) return '<p class="verdict">No probe has ended yet.</p>';
  const v = verdictOf(d);
  if (v.ok) {
    const views = (d.mesh?.rows.length ?? 1) - 1;
    return `<p class="verdict good">All clear: every cell on this page is ok (${new Set(d.probes.map((r) => r.peer)).size} peers probed here, ` +
      `${views} neighbour${views === 1 ? '' : 's'}' views).</p>`;
  }
  const names = namesOf(d);
  const parts: string[] = [];
  if (v.pairs.length > 0) {
    const shown = v.pairs.slice(0, SHOWN).map((p) =>
      `${named(p.prober, names)} → ${named(p.peer, names)} ${escapeHtml(p.outcome)} for ${age(p.forSeconds)}`);
    if (v.pairs.length > SHOWN) shown.push(`and ${v.pairs.length - SHOWN} more`);
    parts.push(`${v.pairs.length} failing pair${v.pairs.length === 1 ? '' : 's'}: ${shown.join(', ')}`);
  }
  if (v.unreadable.length > 0) {
    const shown = v.unreadable.slice(0, SHOWN).map((u) => `${escapeHtml(u.prober)} (${escapeHtml(u.error)})`);
    if (v.unreadable.length > SHOWN) shown.push(`and ${v.unreadable.length - SHOWN} more`);
    parts.push(`${v.unreadable.length} neighbour${v.unreadable.length === 1 ? '' : 's'} unreadable: ${shown.join(', ')}`);
  }
  return `<p class="verdict bad">${parts.join('. ')}.</p>`;
}

/** The page's title and heading: whose page this is. */
export const whose = (i: Identity): string => `heartbeat ${describe(i)}`;

export function statusPage(d: StatusDocument): string {
  const names = namesOf(d);
  return '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">' +
    '<meta name="viewport" content="width=device-width, initial-scale=1">' +
    `<meta http-equiv="refresh" content="${REFRESH_SECONDS}">` +
    `<title>${escapeHtml(whose(d.identity))}: status</title><style>${STYLE}</style></head><body>\n` +
    `<h1>${escapeHtml(whose(d.identity))} <small>heartbeat ${escapeHtml(d.instance.version)}</small></h1>` +
    `<p class="note">As of ${escapeHtml(d.time)}; this page refreshes itself every ${REFRESH_SECONDS} s (the neighbours are read at most every 5 s). ` +
    'The same data: <a href="status.json?mesh=1">status.json</a>.</p>\n' +
    `${banner(d)}\n<h2>This instance</h2>\n${instanceSection(d)}\n` +
    `<h2>Probes (${d.probes.length} rows)</h2>\n${probeTable(d.probes, d.window.probes, names)}\n` +
    (d.instance.settings.probeUdp > 0 ? `<h2>UDP loss by direction (${d.udp.length} neighbours)</h2>\n${udpTable(d.udp, d.window.probes)}\n` : '') +
    (d.mesh ? `<h2>Mesh</h2>\n${meshTable(d, d.mesh, names)}\n` : '') +
    '</body></html>\n';
}
