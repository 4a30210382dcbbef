/**
 * What `npm run bench` measures. Rows are data: one more line here is one more row in the table and the JSON.
 */
import type { LoadClient } from './protocol';

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;

/**
 * Heartbeat configurations: one heartbeat process each. The first is the reference:
 * it runs the whole bench beside the baseline (every size, the big transfers). Each
 * other one is started after those rounds, measured at 1 KiB in rounds interleaved
 * with the reference, and stopped; its cost is its req/s drop against the reference.
 * `maxCost` makes the cost a target.
 */
export interface HeartbeatConfig {
  name: string;
  args: string[];
  maxCost?: number;
  /** Probe mode: this many peers (bench/peers.ts, on the load core) are given to it as --probe-targets. */
  probePeers?: number;
  /**
   * What its cost is: `request` (default), the CPU per response side by side; `idle`, the share of a
   * core it uses beyond the reference's while neither serves, for work done by the clock (probing).
   */
  costBy?: 'request' | 'idle';
}

export const CONFIGS: HeartbeatConfig[] = [
  { name: 'off', args: [] },
  { name: 'log tsv', args: ['--log', '--log-format', 'tsv'], maxCost: 0.20 },
  { name: 'log json', args: ['--log', '--log-format', 'json'], maxCost: 0.20 },
  { name: 'metrics on', args: ['--metrics'], maxCost: 0.10 },
  // issue 27: the status page on (its probe view fed by probe mode: npm run bench:status measures that at K = 64)
  { name: 'status on', args: ['--status'], maxCost: 0.05 },
  // issue 15: probing 10 peers every 1 s (1 KiB and 64 KiB each) while serving 1 KiB at full speed
  { name: 'probing 10 peers', args: ['--probe-interval', '1000', '--probe-timeout', '1000'], probePeers: 10, maxCost: 0.05, costBy: 'idle' },
];

/** The reference configuration: the one every other is compared with. */
export const REFERENCE = CONFIGS[0] as HeartbeatConfig;

/**
 * A GET size: `minRatio` vs baseline and `minGoTimes` vs Go are targets. `client`
 * is the load client (see LoadClient): autocannon where it outruns the server,
 * the lean client for big bodies, where autocannon is the bottleneck.
 */
export interface Size { label: string; bytes: number; minRatio: number; go: number; minGoTimes?: number; client: LoadClient }

export const SIZES: readonly Size[] = [
  { label: '1 KiB', bytes: KiB, minRatio: 0.9, go: 86_600, client: 'autocannon' },
  { label: '64 KiB', bytes: 64 * KiB, minRatio: 0.95, go: 7_500, minGoTimes: 5, client: 'lean' },
  { label: '1 MiB', bytes: MiB, minRatio: 0.95, go: 433, minGoTimes: 5, client: 'lean' },
];

/** The size every configuration is measured at. */
export const CONFIG_SIZE = KiB;

export const BIG_GET = { bytes: GiB, maxSeconds: 0.3, goSeconds: 1.87 };
export const UPLOAD = { bytes: 256 * MiB };
export const PEAK_RSS_MAX = 64 * MiB;
/** Below this share of its core, the server was not what limited req/s: the run says so. */
export const BUSY_ENOUGH = 0.8;
export const GO_RSS = 10 * 1000 * 1000;
