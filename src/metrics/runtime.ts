/**
 * The process and Node.js series every Prometheus client exports (`process_*`, `nodejs_*`), by the
 * names and help of prom-client's default collectors, read with Node's public API when Prometheus
 * scrapes and registered with prom-client's exported Gauge and Counter classes.
 *
 * Not prom-client's collectDefaultMetrics(): it always starts its `nodejs_gc_duration_seconds`
 * observer (a PerformanceObserver on every garbage collection, with no switch), and with the image's
 * 1 MiB semi-space V8 collects the young generation every ~130 requests at 1 KiB: observing them cost
 * 4–7 µs per 1 KiB request (Node 24, image flags), a fifth of the request. Nor its modules one by one:
 * they are private files of the package. Left out as well: `nodejs_active_handles` and
 * `nodejs_active_requests` (prom-client reads them with Node's private `process._getActiveHandles()`);
 * `nodejs_active_resources` (public `process.getActiveResourcesInfo()`) counts the same and more, by
 * type; and the `_total` gauges (Prometheus reserves `_total` for counters).
 * test/metrics.test.ts compares these series with collectDefaultMetrics()'s, name, type and help.
 */
import fs from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import v8 from 'node:v8';
import type * as client from 'prom-client';

/** prom-client's default series that are not here, each for the reason above. */
export const LEFT_OUT = [
  'nodejs_gc_duration_seconds', 'nodejs_active_handles', 'nodejs_active_handles_total', 'nodejs_active_requests',
  'nodejs_active_requests_total', 'nodejs_active_resources_total',
];

/** Resolution of the event-loop delay histogram, ms (collectDefaultMetrics()'s default). */
const LAG_RESOLUTION_MS = 10;

const START_SECONDS = Math.round(Date.now() / 1000 - process.uptime());

/** VmRSS, VmSize and VmData of /proc/self/status, bytes (Linux); undefined elsewhere or unreadable. */
function procStatus(): { rss: number; size: number; data: number } | undefined {
  let text: string;
  try {
    text = fs.readFileSync('/proc/self/status', 'utf8');
  } catch {
    return undefined;
  }
  const kib = (key: string): number => Number(new RegExp(`^${key}:\\s*(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN) * 1024;
  return { rss: kib('VmRSS'), size: kib('VmSize'), data: kib('VmData') };
}

/** The soft limit on open files (Linux), read once. */
function maxFds(): number | undefined {
  try {
    const line = fs.readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const n = Number(line?.split(/  +/)[1]);
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

export function registerRuntimeMetrics(prom: typeof client, registry: client.Registry): void {
  const registers = [registry];
  const gauge = (name: string, help: string, collect: (g: client.Gauge) => void, labelNames: string[] = []): client.Gauge =>
    new prom.Gauge({ name, help, labelNames, registers, collect(this: client.Gauge) { collect(this); } });
  const counter = (name: string, help: string, read: () => number): void => {
    new prom.Counter({
      name, help, registers,
      collect(this: client.Counter) {
        this.reset();
        this.inc(read());
      },
    });
  };

  counter('process_cpu_user_seconds_total', 'Total user CPU time spent in seconds.', () => process.cpuUsage().user / 1e6);
  counter('process_cpu_system_seconds_total', 'Total system CPU time spent in seconds.', () => process.cpuUsage().system / 1e6);
  counter('process_cpu_seconds_total', 'Total user and system CPU time spent in seconds.', () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  });
  gauge('process_start_time_seconds', 'Start time of the process since unix epoch in seconds.', (g) => g.set(START_SECONDS));

  if (process.platform === 'linux') {
    let status: ReturnType<typeof procStatus>;
    gauge('process_resident_memory_bytes', 'Resident memory size in bytes.', (g) => {
      status = procStatus();
      if (status) g.set(status.rss);
    });
    gauge('process_virtual_memory_bytes', 'Virtual memory size in bytes.', (g) => { if (status) g.set(status.size); });
    gauge('process_heap_bytes', 'Process heap size in bytes.', (g) => { if (status) g.set(status.data); });
    gauge('process_open_fds', 'Number of open file descriptors.', (g) => {
      try {
        g.set(fs.readdirSync('/proc/self/fd').length - 1); // less the directory being read
      } catch { /* not readable: no sample */ }
    });
    const max = maxFds();
    if (max !== undefined) gauge('process_max_fds', 'Maximum number of open file descriptors.', (g) => g.set(max));
  } else {
    gauge('process_resident_memory_bytes', 'Resident memory size in bytes.', (g) => g.set(process.memoryUsage.rss()));
  }

  // The event loop: the delay of one setImmediate at each scrape (read at the next), and the histogram's figures.
  const delay = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
  delay.enable();
  let lastLag = 0;
  gauge('nodejs_eventloop_lag_seconds', 'Lag of event loop in seconds.', (g) => {
    g.set(lastLag);
    const start = process.hrtime.bigint();
    setImmediate(() => { lastLag = Number(process.hrtime.bigint() - start) / 1e9; });
  });
  const lagFigures: [string, string, () => number][] = [
    ['min', 'The minimum recorded event loop delay.', () => delay.min],
    ['max', 'The maximum recorded event loop delay.', () => delay.max],
    ['mean', 'The mean of the recorded event loop delays.', () => delay.mean],
    ['stddev', 'The standard deviation of the recorded event loop delays.', () => delay.stddev],
    ['p50', 'The 50th percentile of the recorded event loop delays.', () => delay.percentile(50)],
    ['p90', 'The 90th percentile of the recorded event loop delays.', () => delay.percentile(90)],
    ['p99', 'The 99th percentile of the recorded event loop delays.', () => delay.percentile(99)],
  ];
  lagFigures.forEach(([name, help, read], i) => {
    gauge(`nodejs_eventloop_lag_${name}_seconds`, help, (g) => {
      g.set(read() / 1e9);
      if (i === lagFigures.length - 1) delay.reset(); // every figure read: the next scrape's are its own
    });
  });

  gauge('nodejs_active_resources',
    'Number of active resources that are currently keeping the event loop alive, grouped by async resource type.', (g) => {
      g.reset();
      const byType = new Map<string, number>();
      for (const type of process.getActiveResourcesInfo()) byType.set(type, (byType.get(type) ?? 0) + 1);
      for (const [type, n] of byType) g.set({ type }, n);
    }, ['type']);

  let memory: NodeJS.MemoryUsage | undefined;
  gauge('nodejs_heap_size_total_bytes', 'Process heap size from Node.js in bytes.', (g) => {
    memory = process.memoryUsage();
    g.set(memory.heapTotal);
  });
  gauge('nodejs_heap_size_used_bytes', 'Process heap size used from Node.js in bytes.', (g) => { if (memory) g.set(memory.heapUsed); });
  gauge('nodejs_external_memory_bytes', 'Node.js external memory size in bytes.', (g) => { if (memory) g.set(memory.external); });

  let spaces: v8.HeapSpaceInfo[] = [];
  const space = (kind: 'total' | 'used' | 'available', read: (s: v8.HeapSpaceInfo) => number, first = false): void => {
    gauge(`nodejs_heap_space_size_${kind}_bytes`, `Process heap space size ${kind} from Node.js in bytes.`, (g) => {
      if (first) spaces = v8.getHeapSpaceStatistics();
      for (const s of spaces) g.set({ space: s.space_name.replace(/_space$/, '') }, read(s));
    }, ['space']);
  };
  space('total', (s) => s.space_size, true);
  space('used', (s) => s.space_used_size);
  space('available', (s) => s.space_available_size);

  const [major, minor, patch] = process.versions.node.split('.').map(Number);
  new prom.Gauge({
    name: 'nodejs_version_info', help: 'Node.js version info.', labelNames: ['version', 'major', 'minor', 'patch'], registers,
  }).set({ version: process.version, major: String(major), minor: String(minor), patch: String(patch) }, 1);
}
