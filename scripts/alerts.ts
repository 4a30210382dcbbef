/**
 * heartbeat's Prometheus alerts: the one definition. `npm run alerts:sync` writes it out twice,
 *   prometheus/heartbeat-rules.yaml                 (a rules file for any Prometheus: rule_files)
 *   k8s/components/alerts/prometheusrule.yaml       (the same groups as a Prometheus Operator PrometheusRule)
 * and test/alerts.test.ts fails when either file differs from this definition or from the other.
 *
 * Thresholds and `for:` durations are the DEFAULTS below: change them here (one place) and re-run
 * `npm run alerts:sync`; docs/alerts.md lists them (a test keeps it in step). The dashboard queries
 * docs/metrics.md shows are QUERIES below; the test:prometheus tier evaluates them on a real Prometheus.
 */

export interface AlertSettings {
  /** The scrape job heartbeat's metrics come from (job_name in prometheus.yml; the PodMonitor sets it). */
  job: string;
  /** HeartbeatDown: a target's scrape failing (up == 0), or the job having no target at all, this long. */
  down: { for: string };
  /** HeartbeatNotReady: heartbeat_ready 0 (/readyz answering 503) this long. */
  notReady: { for: string };
  /** HeartbeatErrorRatioHigh: (5xx + aborted) / requests of the heartbeat and upload routes above `ratio`. */
  errorRatio: { ratio: number; window: string; for: string };
  /** HeartbeatLatencyHigh: p99 of the heartbeat route above `seconds`, per size class in `sizes`. */
  latency: { seconds: number; sizes: string[]; window: string; for: string };
  /** HeartbeatProbeFailing: probes of one peer not `ok` above `ratio`. */
  probeFailing: { ratio: number; window: string; for: string };
  /** HeartbeatProbeLatencyHigh: p99 of ok probes to a target above `seconds`, per method and size. */
  probeLatency: { seconds: number; window: string; for: string };
  /** HeartbeatPeersMissing: fewer peers resolved than `ago` earlier. */
  peersMissing: { ago: string; for: string };
  /** HeartbeatPathMtuBlackhole: a pair's path-MTU check found a limit (larger answers stall, smaller cross) this long. */
  pathMtu: { for: string };
  /** HeartbeatPacketLoss: echo datagrams (probeUdp) to one peer lost in one direction (out, back, unknown) at `ratio` or more of those sent. */
  packetLoss: { ratio: number; window: string; for: string };
  /** HeartbeatLogsDropped: any log line dropped within `window`. */
  logsDropped: { window: string; for: string };
}

export const DEFAULTS: AlertSettings = {
  job: 'heartbeat',
  down: { for: '2m' },
  notReady: { for: '5m' },
  errorRatio: { ratio: 0.05, window: '5m', for: '10m' },
  // Larger bodies measure the client's bandwidth more than heartbeat: not alerted on by default.
  latency: { seconds: 0.25, sizes: ['0', '1KiB', '16KiB', '64KiB'], window: '5m', for: '10m' },
  probeFailing: { ratio: 0.2, window: '5m', for: '5m' },
  probeLatency: { seconds: 1, window: '5m', for: '10m' },
  peersMissing: { ago: '1h', for: '15m' },
  pathMtu: { for: '2m' },
  packetLoss: { ratio: 0.02, window: '5m', for: '5m' },
  logsDropped: { window: '10m', for: '0s' },
};

export type Severity = 'warning' | 'critical';

export interface AlertRule {
  alert: string;
  expr: string;
  for: string;
  labels: { severity: Severity };
  annotations: { summary: string; description: string };
}

export interface RuleGroup {
  name: string;
  rules: AlertRule[];
}

/** The routes whose requests the error ratio is over. */
const TRAFFIC = 'route=~"heartbeat|upload"';

/**
 * `sum by (by) (rate(metric{selector}[window]))`, or 0 for every series of `denominator` when there is
 * no such series at all: a query that adds or divides it then still has an answer (no 5xx series, no
 * failed probe yet).
 */
function rateOr0(metric: string, selector: string, by: string, window: string, denominator: string): string {
  return `(sum by (${by}) (rate(${metric}{${selector}}[${window}])) or ${denominator} * 0)`;
}

/** The dashboard queries docs/metrics.md shows, named; each is evaluated on a real Prometheus in test:prometheus. */
export type QueryName = 'p99BySize' | 'errorRatio' | 'probeSuccess' | 'worstPeers';

export function queries(s: AlertSettings = DEFAULTS): Record<QueryName, { title: string; promql: string }> {
  const job = `job="${s.job}"`;
  const requests = (by: string): string => `sum by (${by}) (rate(heartbeat_http_requests_total{${job},${TRAFFIC}}[5m]))`;
  const probes = (by: string): string => `sum by (${by}) (rate(heartbeat_probes_total{${job}}[5m]))`;
  const successRate = (by: string): string =>
    `${rateOr0('heartbeat_probes_total', `${job},outcome="ok"`, by, '5m', probes(by))}\n/ ${probes(by)}`;
  return {
    p99BySize: {
      title: 'p99 heartbeat latency by payload size class (answered requests), over 5 minutes',
      promql: `histogram_quantile(0.99, sum by (size, le) (rate(heartbeat_http_request_duration_seconds_bucket{${job},route="heartbeat"}[5m])))`,
    },
    errorRatio: {
      title: 'error ratio per instance: 5xx and aborted transfers over all heartbeat and upload requests (0 when there are none)',
      promql: [
        '(',
        `    ${rateOr0('heartbeat_http_requests_total', `${job},${TRAFFIC},status=~"5.."`, 'instance', '5m', requests('instance'))}`,
        `  + ${rateOr0('heartbeat_aborted_transfers_total', `${job},${TRAFFIC}`, 'instance', '5m', requests('instance'))}`,
        ')',
        `/ ${requests('instance')}`,
      ].join('\n'),
    },
    probeSuccess: {
      title: 'probe success rate per target (probe mode), over 5 minutes',
      promql: successRate('target'),
    },
    worstPeers: {
      title: 'the 10 worst peers: lowest probe success rate per prober, target and peer',
      promql: `bottomk(10,\n  ${successRate('instance, target, peer').replace(/\n/g, '\n  ')}\n)`,
    },
  };
}

/** Who an alert is about, for its description: the instance, or the whole job when it has none. */
const WHO = '{{ if $labels.instance }}heartbeat {{ $labels.instance }}{{ else }}job {{ $labels.job }}{{ end }}';

export function alertRules(s: AlertSettings = DEFAULTS): RuleGroup[] {
  const job = `job="${s.job}"`;
  const by = 'job, instance';
  const requests = `sum by (${by}) (rate(heartbeat_http_requests_total{${job},${TRAFFIC}}[${s.errorRatio.window}]))`;
  const probesBy = 'job, instance, target, peer';
  const probes = `sum by (${probesBy}) (rate(heartbeat_probes_total{${job}}[${s.probeFailing.window}]))`;
  const rules: AlertRule[] = [
    {
      alert: 'HeartbeatDown',
      expr: `up{${job}} == 0\nor absent(up{${job}})`,
      for: s.down.for,
      labels: { severity: 'critical' },
      annotations: {
        summary: `${WHO} is down`,
        description: `${WHO}: {{ if $labels.instance }}its scrapes have failed{{ else }}no target has been scraped{{ end }} for ${s.down.for}.`,
      },
    },
    {
      alert: 'HeartbeatNotReady',
      expr: `heartbeat_ready{${job}} == 0`,
      for: s.notReady.for,
      labels: { severity: 'warning' },
      annotations: {
        summary: 'heartbeat {{ $labels.instance }} not ready',
        description: `heartbeat {{ $labels.instance }}: /readyz has answered 503 (draining) for ${s.notReady.for}, longer than a rollout takes.`,
      },
    },
    {
      alert: 'HeartbeatErrorRatioHigh',
      expr: [
        '(',
        `    ${rateOr0('heartbeat_http_requests_total', `${job},${TRAFFIC},status=~"5.."`, by, s.errorRatio.window, requests)}`,
        `  + ${rateOr0('heartbeat_aborted_transfers_total', `${job},${TRAFFIC}`, by, s.errorRatio.window, requests)}`,
        ')',
        `/ ${requests}`,
        `> ${s.errorRatio.ratio}`,
      ].join('\n'),
      for: s.errorRatio.for,
      labels: { severity: 'critical' },
      annotations: {
        summary: 'heartbeat {{ $labels.instance }}: error ratio high',
        description: `heartbeat {{ $labels.instance }}: {{ $value | humanizePercentage }} of heartbeat and upload requests over ${s.errorRatio.window} got a 5xx or were cut off (threshold ${s.errorRatio.ratio * 100}%).`,
      },
    },
    {
      alert: 'HeartbeatLatencyHigh',
      expr: `histogram_quantile(0.99, sum by (${by}, size, le) (rate(heartbeat_http_request_duration_seconds_bucket{${job},route="heartbeat",size=~"${s.latency.sizes.join('|')}"}[${s.latency.window}])))\n> ${s.latency.seconds}`,
      for: s.latency.for,
      labels: { severity: 'warning' },
      annotations: {
        summary: 'heartbeat {{ $labels.instance }}: p99 latency of {{ $labels.size }} heartbeats high',
        description: `heartbeat {{ $labels.instance }}: p99 of {{ $labels.size }} heartbeats over ${s.latency.window} is {{ $value | humanizeDuration }} (threshold ${s.latency.seconds}s).`,
      },
    },
    {
      alert: 'HeartbeatProbeFailing',
      expr: `sum by (${probesBy}) (rate(heartbeat_probes_total{${job},outcome!="ok"}[${s.probeFailing.window}]))\n/ ${probes}\n> ${s.probeFailing.ratio}`,
      for: s.probeFailing.for,
      labels: { severity: 'critical' },
      annotations: {
        summary: 'heartbeat {{ $labels.instance }}: probes of {{ $labels.peer }} failing',
        description: `heartbeat {{ $labels.instance }}: {{ $value | humanizePercentage }} of its probes of peer {{ $labels.peer }} (target {{ $labels.target }}) failed over ${s.probeFailing.window} (threshold ${s.probeFailing.ratio * 100}%).`,
      },
    },
    {
      alert: 'HeartbeatProbeLatencyHigh',
      expr: `histogram_quantile(0.99, sum by (${by}, target, method, size, le) (rate(heartbeat_probe_duration_seconds_bucket{${job}}[${s.probeLatency.window}])))\n> ${s.probeLatency.seconds}`,
      for: s.probeLatency.for,
      labels: { severity: 'warning' },
      annotations: {
        summary: 'heartbeat {{ $labels.instance }}: probe latency to {{ $labels.target }} high',
        description: `heartbeat {{ $labels.instance }}: p99 of {{ $labels.method }} probes of {{ $labels.size }} bytes to {{ $labels.target }} over ${s.probeLatency.window} is {{ $value | humanizeDuration }} (threshold ${s.probeLatency.seconds}s).`,
      },
    },
    {
      alert: 'HeartbeatPeersMissing',
      expr: `heartbeat_probe_peers{${job}} < heartbeat_probe_peers{${job}} offset ${s.peersMissing.ago}`,
      for: s.peersMissing.for,
      labels: { severity: 'warning' },
      annotations: {
        summary: 'heartbeat {{ $labels.instance }}: fewer peers of {{ $labels.target }}',
        description: `heartbeat {{ $labels.instance }}: target {{ $labels.target }} resolves to {{ $value }} peers, fewer than ${s.peersMissing.ago} ago.`,
      },
    },
    {
      alert: 'HeartbeatPathMtuBlackhole',
      expr: `heartbeat_probe_path_limit_bytes{${job}} > 0`,
      for: s.pathMtu.for,
      labels: { severity: 'critical' },
      annotations: {
        summary: 'heartbeat {{ $labels.instance }}: path MTU blackhole from {{ $labels.peer }}',
        description: 'heartbeat {{ $labels.instance }}: answers from peer {{ $labels.peer }} (target {{ $labels.target }}) larger than {{ $value }} bytes stall while smaller ones cross: ' +
          'the path carries less than the hosts send and its "fragmentation needed" (ICMP type 3 code 4) or "packet too big" (ICMPv6 type 2) never arrives. ' +
          'Path MTU about {{ $value }} + 52 bytes (IPv4; + 72 for IPv6).',
      },
    },
    {
      alert: 'HeartbeatPacketLoss',
      expr: `sum by (${probesBy}, direction) (rate(heartbeat_udp_probe_lost_total{${job}}[${s.packetLoss.window}]))\n` +
        `/ ignoring (direction) group_left sum by (${probesBy}) (rate(heartbeat_udp_probe_sent_total{${job}}[${s.packetLoss.window}]))\n` +
        `>= ${s.packetLoss.ratio}`,
      for: s.packetLoss.for,
      labels: { severity: 'warning' },
      annotations: {
        summary: 'heartbeat {{ $labels.instance }}: packet loss {{ $labels.direction }} to {{ $labels.peer }}',
        description: `heartbeat {{ $labels.instance }}: {{ $value | humanizePercentage }} of its echo datagrams to peer {{ $labels.peer }} (target {{ $labels.target }}) were lost {{ if eq $labels.direction "out" }}on the way out (the peer never received them){{ else if eq $labels.direction "back" }}on the way back (the peer answered, the answer did not arrive){{ else }}in an unknown direction (the peer's count never came: its UDP echo off, blocked or rate-limiting){{ end }} over ${s.packetLoss.window} (threshold ${s.packetLoss.ratio * 100}%).`,
      },
    },
    {
      alert: 'HeartbeatLogsDropped',
      expr: `increase(heartbeat_log_lines_dropped_total{${job}}[${s.logsDropped.window}]) > 0`,
      for: s.logsDropped.for,
      labels: { severity: 'warning' },
      annotations: {
        summary: 'heartbeat {{ $labels.instance }} dropped log lines',
        description: `heartbeat {{ $labels.instance }}: {{ $value | humanize }} log lines dropped over ${s.logsDropped.window}: stdout was backed up (the log pipeline is not keeping up) or gone.`,
      },
    },
  ];
  return [{ name: 'heartbeat', rules }];
}

/** The ten alert names, as the rules define them. */
export const ALERTS = alertRules().flatMap((g) => g.rules.map((r) => r.alert));
