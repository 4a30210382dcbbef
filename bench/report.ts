/**
 * The bench's report: the figures of a run as JSON (bench/results/latest.json), its targets, and its
 * tables (Markdown sections: printed, and written into the docs by bench/docs.ts).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MEMORY_TARGETS, type MemoryRow, type NodeBin } from './memory';
import type { Options } from './options';
import type { PhaseResult, Section } from './phase';
import { summarizeProfile, type ProfileSummary } from './profile';
import { IMAGE_FLAGS } from './servers';
import type { HttpStat, SideStat, Target, TransferStat } from './stats';
import { markdownTable, mib, num, pct } from './table';
import type { Throughput } from './throughput';
import { BIG_GET, BUSY_ENOUGH, CONFIG_SIZE, CONFIGS, GO_RSS, MiB, PEAK_RSS_MAX, SIZES, UPLOAD, type HeartbeatConfig } from './workloads';

/** What the run was: when, where, on which Node. */
export interface RunInfo {
  date: string;
  cores: number;
  pinning: string;
  node: NodeBin;
  loadAverage: number[];
}

export interface Report {
  results: Record<string, unknown>;
  /** What is printed on stdout. */
  text: string;
  sections: Section[];
}

export function report(o: Options, run: RunInfo, m: Throughput, memory: MemoryRow[], phases: PhaseResult[]): Report {
  const lines: string[] = [];
  const out = (s = ''): void => void lines.push(s);
  const sections: Section[] = [];
  const serverNode = run.node;
  const { date, pinning } = run;
  const machine = {
    cores: run.cores,
    model: os.cpus()[0]?.model ?? 'unknown',
    node: process.version,
    serverNode: { ...serverNode, flags: [...IMAGE_FLAGS.nodeOptions, ...IMAGE_FLAGS.entrypoint] },
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    memoryBytes: os.totalmem(),
    /** The 1, 5 and 15 minute load averages when the run started: other work on the machine moves solo figures. */
    loadAverage: run.loadAverage,
    pinning,
  };

  const throughput = SIZES.map((size) => {
    const b = m.http(m.baseline, size.bytes);
    const h = m.http(m.reference, size.bytes);
    const sideBySide = m.side(m.baseline, m.reference, size.bytes);
    return {
      size: size.label,
      bytes: size.bytes,
      client: m.clientFor(size),
      baseline: b,
      heartbeat: h,
      /** The target's figure: responses per core, heartbeat over baseline, side by side. */
      ratio: sideBySide.ratio,
      sideBySide,
      soloRatio: h.reqPerSec / b.reqPerSec,
      cpuRatio: b.cpuUsPerReq / h.cpuUsPerReq,
      goReqPerSec: size.go,
      vsGo: h.reqPerSec / size.go,
    };
  });
  const ref = m.http(m.reference, CONFIG_SIZE);
  const configs = m.configServers.map((s) => {
    const st = m.http(s, CONFIG_SIZE);
    const c = s.config as HeartbeatConfig;
    const logLines = s.proc.lines();
    const sideBySide = s === m.reference ? undefined : m.side(m.reference, s, CONFIG_SIZE);
    const idleShare = m.idleShare(s);
    return {
      name: c.name,
      args: c.args,
      ...st,
      /** The target's figures: responses per core against the reference, side by side (or by the clock: costBy). */
      ratio: sideBySide?.ratio ?? 1,
      cost: idleShare ?? (sideBySide ? 1 - sideBySide.ratio : 0),
      costBy: c.costBy ?? 'request',
      sideBySide,
      idleShare,
      soloCost: 1 - st.reqPerSec / ref.reqPerSec,
      cpuCost: st.cpuUsPerReq / ref.cpuUsPerReq - 1,
      maxCost: c.maxCost,
      requestsServed: s.served,
      stdoutLines: logLines,
      peakRssBytes: m.rss.get(s.key),
    };
  });
  const transfers = {
    get: { bytes: BIG_GET.bytes, baseline: m.transfer('get', m.baseline), heartbeat: m.transfer('get', m.reference), goSeconds: BIG_GET.goSeconds },
    upload: { bytes: UPLOAD.bytes, baseline: m.transfer('upload', m.baseline), heartbeat: m.transfer('upload', m.reference) },
  };
  const hbRss = configs.map((c) => c.peakRssBytes).filter((x): x is number => x !== undefined);
  const peakRss = {
    maxHeartbeatBytes: hbRss.length === configs.length ? Math.max(...hbRss) : undefined,
    baselineBytes: m.rss.get(m.baseline.key),
    byConfig: Object.fromEntries(configs.map((c) => [c.name, c.peakRssBytes])),
  };

  const targets: Target[] = [];
  const target = (name: string, measured: number, unit: Target['unit'], cmp: '>=' | '<=', limit: number, ok = true): void =>
    void targets.push({ name, measured, unit, limit, pass: ok && Number.isFinite(measured) && (cmp === '>=' ? measured >= limit : measured <= limit) });
  SIZES.forEach((size, i) => {
    const t = throughput[i];
    target(`GET ${size.label}: heartbeat >= ${size.minRatio}x baseline req/s per core (side by side)`, t?.ratio ?? NaN, 'x', '>=', size.minRatio);
  });
  SIZES.forEach((size, i) => {
    const t = throughput[i];
    if (size.minGoTimes === undefined) return;
    target(`GET ${size.label}: >= ${size.minGoTimes}x Go's ${num(size.go)} req/s`, t?.heartbeat.reqPerSec ?? NaN, 'req/s', '>=', size.minGoTimes * size.go);
  });
  target(`GET 1 GiB in <= ${BIG_GET.maxSeconds} s, every byte checked`, transfers.get.heartbeat.seconds, 's', '<=', BIG_GET.maxSeconds, transfers.get.heartbeat.ok);
  for (const c of configs) {
    if (c.maxCost === undefined) continue;
    const how = c.costBy === 'idle' ? 'of a core, by the clock (idle side by side)' : 'of req/s per core at 1 KiB (side by side)';
    target(`${c.name}: costs <= ${Math.round(c.maxCost * 100)}% ${how} vs ${CONFIGS[0]?.name}`, c.cost * 100, '%', '<=', c.maxCost * 100);
  }
  target(`peak RSS of every heartbeat process <= ${PEAK_RSS_MAX / MiB} MiB (throughput rounds, Node ${serverNode.version})`,
    (peakRss.maxHeartbeatBytes ?? NaN) / MiB, 'MiB', '<=', PEAK_RSS_MAX / MiB);
  // Memory targets: heartbeat in the shipped configuration (the image's Node with the image's flags).
  const shipped = memory.find((r) => r.node === 'image' && r.server === 'heartbeat');
  if (shipped) {
    const floor = memory.find((r) => r.node === 'image' && r.server === 'baseline');
    const vs = (key: 'peak' | 'idle'): string => (floor ? `; bare node:http ${mib(key === 'peak' ? floor.peak : floor.idle.rss)}` : '');
    target(`memory, Node ${shipped.version}: heartbeat peak RSS (VmHWM) under the full load <= ${MEMORY_TARGETS.peakMax / MiB} MiB${vs('peak')}`,
      shipped.peak / MiB, 'MiB', '<=', MEMORY_TARGETS.peakMax / MiB);
    target(`memory, Node ${shipped.version}: heartbeat idle RSS <= ${MEMORY_TARGETS.idleMax / MiB} MiB${vs('idle')}`,
      shipped.idle.rss / MiB, 'MiB', '<=', MEMORY_TARGETS.idleMax / MiB);
    target(`memory, Node ${shipped.version}: uploads grow heartbeat's peak by <= ${MEMORY_TARGETS.uploadGrowthMax / MiB} MiB`,
      shipped.uploadGrowth / MiB, 'MiB', '<=', MEMORY_TARGETS.uploadGrowthMax / MiB);
  }

  // --- the table
  const busy = (st: HttpStat): string => `${pct(st.serverBusy)} / ${pct(st.loadBusy)}`;
  out(`heartbeat bench  ${date}`);
  out(`machine: ${machine.cores} x ${machine.model}, ${machine.platform}, Node ${machine.node}`);
  out(`servers: Node ${serverNode.version} (${serverNode.name}) with the image's flags ${machine.serverNode.flags.join(' ') || '(none)'}`);
  out(`${pinning}`);
  out(`${o.quick ? 'QUICK (figures are rough): ' : ''}${o.rounds} rounds x ${o.seconds} s per measurement, interleaved; medians; ${o.connections} keep-alive connections; MB = 10^6 bytes`);
  out('side by side: each round also loads both servers of a pair at once (one load worker each), and compares their CPU time per response: ' +
    'the targets\' figures (median, range over the rounds)');
  const range = (st: SideStat, f: (x: number) => string): string => `${f(st.ratio)} (${f(st.min)}–${f(st.max)})`;
  const times = (x: number): string => `${x.toFixed(2)}x`;
  const section = (id: string, caption: string, table: string): void => void sections.push({ id, caption, table });
  section('throughput', `GET at full speed, ${o.rounds} rounds x ${o.seconds} s, interleaved, medians; ${o.connections} keep-alive connections; ` +
    'side by side: CPU time per response of both servers loaded at once (median, range over the rounds); MB = 10^6 bytes',
  markdownTable(['GET', 'client', 'server', 'req/s', 'p50 ms', 'p99 ms', 'MB/s', 'CPU µs/req', 'busy server/load', 'vs baseline', 'vs baseline (CPU)',
    'side by side µs/req', 'side by side vs baseline', 'vs Go'],
    throughput.flatMap((t) => [
      [t.size, t.client, 'baseline', num(t.baseline.reqPerSec), t.baseline.p50Ms.toFixed(3), t.baseline.p99Ms.toFixed(3), num(t.baseline.mbPerSec),
        t.baseline.cpuUsPerReq.toFixed(1), busy(t.baseline), '', '', t.sideBySide.aCpuUsPerReq.toFixed(1), '', ''],
      [t.size, t.client, 'heartbeat', num(t.heartbeat.reqPerSec), t.heartbeat.p50Ms.toFixed(3), t.heartbeat.p99Ms.toFixed(3), num(t.heartbeat.mbPerSec),
        t.heartbeat.cpuUsPerReq.toFixed(1), busy(t.heartbeat), times(t.soloRatio), times(t.cpuRatio),
        t.sideBySide.bCpuUsPerReq.toFixed(1), range(t.sideBySide, times), `${t.vsGo.toFixed(1)}x of ${num(t.goReqPerSec)}`],
    ])));
  const tr = (what: string, t: TransferStat, server: string, note: string): string[] =>
    [what, server, t.seconds.toFixed(3), num(t.mbPerSec), `${t.ok ? '' : 'FAILED: '}${t.detail}${note}`];
  section('transfers', `the big transfers, ${o.transferRounds} of each per server, medians; every byte of the GETs checked against the pattern`,
    markdownTable(['transfer', 'server', 'seconds', 'MB/s', 'check'], [
    tr('GET 1 GiB', transfers.get.baseline, 'baseline', ''),
    tr('GET 1 GiB', transfers.get.heartbeat, 'heartbeat', ` (Go: ${BIG_GET.goSeconds} s)`),
    tr('POST 256 MiB', transfers.upload.baseline, 'baseline', ''),
    tr('POST 256 MiB', transfers.upload.heartbeat, 'heartbeat', ''),
  ]));
  const first = CONFIGS[0]?.name;
  const costOf = (x: number): string => pct(1 - x);
  section('configs', `heartbeat's configurations at 1 KiB, each against \`${first}\` in the same minutes (Go heartbeat: ${mib(GO_RSS)} MiB RSS)`,
    markdownTable(['heartbeat at 1 KiB', 'flags', 'req/s', 'p50 ms', 'p99 ms', 'CPU µs/req', 'busy server/load', `cost vs ${first}`,
    `CPU cost vs ${first}`, `side by side cost vs ${first}`, 'idle CPU share', 'stdout lines / requests', 'peak RSS MiB'], [
    ...configs.map((c) => [c.name, c.args.join(' ') || '—', num(c.reqPerSec), c.p50Ms.toFixed(3), c.p99Ms.toFixed(3), c.cpuUsPerReq.toFixed(1),
      busy(c), c.sideBySide ? pct(c.soloCost) : '—', c.sideBySide ? pct(c.cpuCost) : '—',
      // the range of a cost runs the other way from its ratio's
      c.sideBySide ? `${costOf(c.sideBySide.ratio)} (${costOf(c.sideBySide.max)}–${costOf(c.sideBySide.min)})` : '—',
      c.idleShare === undefined ? '' : pct(c.idleShare),
      `${num(c.stdoutLines)} / ${num(c.requestsServed)}`, mib(c.peakRssBytes)]),
    ['baseline', 'bare node:http', num(throughput[0]?.baseline.reqPerSec ?? NaN), '', '', (throughput[0]?.baseline.cpuUsPerReq ?? NaN).toFixed(1),
      throughput[0] ? busy(throughput[0].baseline) : '', '', '', '', '', '', mib(peakRss.baselineBytes)],
  ]));
  if (memory.length > 0) {
    section('memory', `memory, each server alone, image flags ${[...IMAGE_FLAGS.nodeOptions, ...IMAGE_FLAGS.entrypoint].join(' ') || '(none)'}; ` +
      'load: 1 KiB, 64 KiB, 1 MiB at full speed, 1 GiB GETs, then 256 MiB uploads; MiB from /proc/PID/status ' +
      `(Go heartbeat: ${mib(GO_RSS)} MiB)`, markdownTable(['Node', 'server', 'idle RSS', 'idle RssAnon', 'peak before uploads (VmHWM)', 'peak RSS (VmHWM)', 'peak RssAnon', 'uploads added'],
      memory.map((r) => [`${r.version} (${r.node})`, r.server, mib(r.idle.rss), mib(r.idle.anon), mib(r.peakBeforeUploads), mib(r.peak),
        mib(r.peakAnon), mib(r.uploadGrowth)])));
  }
  for (const p of phases) {
    sections.push(...p.sections);
    targets.push(...(p.targets ?? []));
  }
  const show = (t: Target): string =>
    `${t.unit === 'req/s' ? num(t.measured) : t.unit === 's' ? t.measured.toFixed(3) : t.measured.toFixed(t.unit === 'x' ? 2 : 1)}${t.unit === 'x' ? 'x' : ` ${t.unit}`}`;
  // Rows where the server's core was not busy: something else set the pace.
  const rows = [
    ...throughput.flatMap((t) => [[`GET ${t.size} baseline`, t.baseline] as const, [`GET ${t.size} heartbeat`, t.heartbeat] as const]),
    ...configs.slice(1).map((c) => [`1 KiB ${c.name}`, c] as const),
  ];
  const idle = rows.filter(([, st]) => st.serverBusy < BUSY_ENOUGH).map(([name]) => name);
  const warnings: string[] = [];
  if (idle.length > 0) {
    warnings.push(`the server's core was less than ${pct(BUSY_ENOUGH)} busy in ${idle.length} of ${rows.length} rows (${idle.join(', ')}): ` +
      'the load client or other processes on the machine set the pace there, so those req/s (and ratios) are not the server\'s; ' +
      'CPU µs/req is the steadier comparison');
  }
  section('targets', 'targets, each PASS or MISS with the figure measured', markdownTable(['', 'target', 'measured'],
    targets.map((t) => [t.pass ? 'PASS' : 'MISS', t.name, show(t)])) + warnings.map((w) => `\n\nnote: ${w}`).join(''));
  for (const s of sections) {
    out();
    out(`${s.caption}:`);
    out(s.table);
  }


  let profiles: (ProfileSummary & { server: string; workload: string })[] | undefined;
  if (o.profile) {
    profiles = [];
    for (const s of [m.baseline, ...m.configServers]) {
      if (!s.profile || !fs.existsSync(s.profile)) continue;
      for (const size of SIZES) {
        const windows = s.windows.get(size.bytes);
        if (!windows) continue;
        const p = { server: s.key, workload: `GET ${size.label}`, ...summarizeProfile(s.profile, windows, 10) };
        profiles.push(p);
        out();
        out(`profile ${s.key}, GET ${size.label} rounds only (${path.relative(process.cwd(), p.file)}); busy time by area: ${
          Object.entries(p.areas).map(([a, v]) => `${a} ${pct(v)}`).join(', ')}`);
        for (const t of p.top) out(`  ${pct(t.share).padStart(6)}  ${t.fn}`);
      }
    }
  }

  const results = {
    date,
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    quick: o.quick,
    settings: { rounds: o.rounds, seconds: o.seconds, warmupSeconds: o.warmupSeconds, transferRounds: o.transferRounds, connections: o.connections },
    machine,
    throughput,
    transfers,
    configs,
    peakRss,
    memory,
    ...Object.fromEntries(phases.map((p) => [p.key, p.figures])),
    targets,
    warnings,
    ...(profiles ? { profiles } : {}),
  };
  return { results, text: `${lines.join('\n')}\n`, sections };
}
