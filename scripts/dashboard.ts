/**
 * heartbeat's Grafana dashboard: the one definition, typed with Grafana's own dashboard model
 * (@grafana/schema, the types Grafana generates from its schema and publishes with every release),
 * so a field Grafana's model does not have, or a value of the wrong kind, fails `tsc`. `npm run
 * dashboard:sync` writes it out as
 *   prometheus/heartbeat-dashboard.json               (import it into any Grafana)
 *   k8s/components/alerts/dashboard-configmap.yaml    (a ConfigMap labelled grafana_dashboard: "1", which the
 *                                                      Grafana sidecar of kube-prometheus-stack loads)
 * and `npm run k8s:sync` copies the JSON into the Helm chart (files/heartbeat-dashboard.json, rendered by
 * templates/dashboard-configmap.yaml with alerts.enabled). test/dashboard.test.ts fails when a file drifts;
 * test:prometheus evaluates every query (panels and variables) on a real Prometheus scraping a live mesh.
 */
import { STARVED_MS } from '../src/probe/self';
import {
  BigValueColorMode, BigValueGraphMode, FieldColorModeId, BigValueJustifyMode, BigValueTextMode, DashboardCursorSync, LegendDisplayMode,
  PercentChangeColorMode, SortOrder, TableCellDisplayMode, ThresholdsMode, TooltipDisplayMode, VariableHide, VariableRefresh,
  VariableSort, VizOrientation, type Dashboard, type DataQuery, type FieldConfigSource, type Panel, type RowPanel, type VariableModel,
} from '@grafana/schema';
import type { Options as StatOptions } from '@grafana/schema/dist/types/raw/composable/stat/panelcfg/x/types.gen';
import type { Options as TableOptions } from '@grafana/schema/dist/types/raw/composable/table/panelcfg/x/types.gen';
import type { Options as TimeSeriesOptions } from '@grafana/schema/dist/types/raw/composable/timeseries/panelcfg/x/types.gen';
import { DEFAULTS } from './alerts';

/** The job Fluent Bit's own metrics are scraped as (the PodMonitor's second endpoint). */
export const FLUENT_BIT_JOB = 'heartbeat-fluent-bit';
export const DASHBOARD_UID = 'heartbeat';
/** Rows of the fleet's worst-pairs tables. */
export const WORST = 20;

/** A Prometheus query as Grafana stores it. */
interface PromQuery extends DataQuery {
  expr: string;
  legendFormat?: string;
  instant?: boolean;
  range?: boolean;
  format?: 'time_series' | 'table';
}

/** What a panel should show on the live mesh of test:prometheus (and why not, when it should not). */
export type Expect = 'data' | 'data once a heartbeat is stopped' | 'empty without Fluent Bit';

export interface PanelSpec {
  title: string;
  expect: Expect;
}

const DS = { type: 'prometheus', uid: '${datasource}' };
const sel = (job = DEFAULTS.job): string => `job="${job}",namespace=~"$namespace",cluster=~"$cluster"`;
/** heartbeat's series, and those of the chosen targets (probe series). */
const HB = sel();
const T = `${HB},target=~"$target"`;
const FB = sel(FLUENT_BIT_JOB);
const RI = '$__rate_interval';

type Query = Omit<PromQuery, 'refId' | 'datasource'>;
const q = (expr: string, legendFormat?: string, extra: Partial<Query> = {}): Query =>
  ({ expr, ...(legendFormat ? { legendFormat } : {}), ...extra });

const thresholds = (steps: [string, number | null][]): NonNullable<FieldConfigSource['defaults']['thresholds']> => ({
  mode: ThresholdsMode.Absolute,
  steps: steps.map(([color, value]) => ({ color, value: value as number })),
});

interface At { x: number; y: number; w: number; h: number }

interface Built { panels: (Panel | RowPanel)[]; specs: PanelSpec[] }

function build(): Built {
  let id = 1;
  let y = 0;
  const panels: (Panel | RowPanel)[] = [];
  const specs: PanelSpec[] = [];

  const row = (title: string): void => {
    panels.push({ id: id++, type: 'row', title, collapsed: false, gridPos: { x: 0, y: y++, w: 24, h: 1 }, panels: [] });
  };
  const add = (type: string, title: string, description: string, at: At, expect: Expect, queries: Query[], rest: Partial<Panel>): void => {
    specs.push({ title, expect });
    const targets: PromQuery[] = queries.map((x, i) => ({ refId: String.fromCharCode(65 + i), datasource: DS, ...x }));
    panels.push({
      id: id++, type, title, description, gridPos: { ...at, y: y + at.y }, datasource: DS,
      targets: targets as unknown as Record<string, unknown>[], ...rest,
    });
  };
  const timeseries = (title: string, description: string, at: At, expect: Expect, unit: string, queries: Query[], extra: Partial<FieldConfigSource['defaults']> = {}): void => {
    const options: TimeSeriesOptions = {
      legend: { displayMode: LegendDisplayMode.Table, placement: 'bottom', showLegend: true, calcs: ['lastNotNull', 'max'] },
      tooltip: { mode: TooltipDisplayMode.Multi, sort: SortOrder.Descending },
    };
    add('timeseries', title, description, at, expect, queries, {
      fieldConfig: { defaults: { unit, ...extra }, overrides: [] },
      options: options as unknown as Record<string, unknown>,
    });
  };
  const stat = (title: string, description: string, at: At, expect: Expect, unit: string, queries: Query[], steps: [string, number | null][]): void => {
    const options: StatOptions = {
      colorMode: BigValueColorMode.Background, graphMode: BigValueGraphMode.None, justifyMode: BigValueJustifyMode.Auto,
      textMode: BigValueTextMode.Auto, orientation: VizOrientation.Auto, wideLayout: true, showPercentChange: false,
      percentChangeColorMode: PercentChangeColorMode.Standard,
      reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
    };
    add('stat', title, description, at, expect, queries, {
      fieldConfig: { defaults: { unit, thresholds: thresholds(steps), color: { mode: FieldColorModeId.Thresholds } }, overrides: [] },
      options: options as unknown as Record<string, unknown>,
    });
  };
  const table = (title: string, description: string, at: At, expect: Expect, unit: string, queries: Query[],
    transformations: Panel['transformations'], steps: [string, number | null][]): void => {
    const options: TableOptions = { frameIndex: 0, showHeader: true, cellHeight: undefined };
    delete options.cellHeight;
    add('table', title, description, at, expect, queries.map((x) => ({ ...x, instant: true, range: false, format: 'table' })), {
      fieldConfig: {
        defaults: {
          unit, thresholds: thresholds(steps), color: { mode: FieldColorModeId.Thresholds },
          custom: { cellOptions: { type: TableCellDisplayMode.ColorBackground } },
        },
        overrides: [],
      },
      options: options as unknown as Record<string, unknown>,
      transformations,
    });
  };

  const probes = (by: string, outcome = ''): string => `sum by (${by}) (rate(heartbeat_probes_total{${T}${outcome}}[${RI}]))`;

  row('Mesh health');
  stat('Failing pairs', 'Prober × peer pairs with at least one probe not ok over the rate interval. 0 is the only good number.',
    { x: 0, y: 0, w: 4, h: 6 }, 'data',
    'none', [q(`count(${probes('instance, target, peer', ',outcome!="ok"')} > 0) or vector(0)`)], [['green', null], ['red', 1]]);
  timeseries('Failing pairs by outcome', 'How many prober × peer pairs had probes ending in each outcome other than ok (refused, timeout, dns, reset, status, short, corrupt, ...): what kind of failure, and since when.',
    { x: 4, y: 0, w: 10, h: 6 }, 'data once a heartbeat is stopped', 'none',
    [q(`count by (outcome) (${probes('instance, target, peer, outcome', ',outcome!="ok"')} > 0)`, '{{outcome}}')]);
  timeseries('Probe success ratio per target', 'Share of probes ending ok, per target (1 = every probe ok).',
    { x: 14, y: 0, w: 10, h: 6 }, 'data', 'percentunit',
    [q(`(${probes('target', ',outcome="ok"')} or ${probes('target')} * 0)\n/ ${probes('target')}`, '{{target}}')], { min: 0, max: 1 });
  table('p99 probe time, prober × peer', 'The mesh as a heatmap: a row per prober (instance), a column per peer, each cell the p99 of its ok probes over 5 minutes. An empty cell with a red pair on the left: no probe of that pair ended ok.',
    { x: 0, y: 6, w: 14, h: 10 }, 'data', 's',
    [q(`histogram_quantile(0.99, sum by (instance, peer, le) (rate(heartbeat_probe_duration_seconds_bucket{${T}}[5m])))`)],
    [{ id: 'groupingToMatrix', options: { columnField: 'peer', rowField: 'instance', valueField: 'Value' } }],
    [['green', null], ['yellow', 0.1], ['red', 1]]);
  table('Seconds since the last ok probe', 'Per prober and peer; a peer never probed ok since it became a neighbour shows the time since the epoch (its series is 0): look at the first ones.',
    { x: 14, y: 6, w: 10, h: 10 }, 'data', 's',
    [q(`sort_desc(time() - max by (instance, target, peer) (heartbeat_probe_last_success_timestamp_seconds{${T}}))`)],
    [{ id: 'organize', options: { excludeByName: { Time: true } } }],
    [['green', null], ['yellow', 30], ['red', 120]]);
  y += 16;

  // The fleet's view: each status page shows one heartbeat and its K neighbours (O(K) by design); these
  // rank every prober × peer pair of every instance's series, the worst first.
  row('Worst pairs across the fleet');
  table(`Worst pairs by outcome (top ${WORST})`, `The ${WORST} prober × peer pairs with the most failing probes over the dashboard's time range, across every instance, per outcome: where to look first. Empty: no pair failed.`,
    { x: 0, y: 0, w: 12, h: 9 }, 'data once a heartbeat is stopped', 'none',
    [q(`sort_desc(topk(${WORST}, sum by (instance, target, peer, outcome) (increase(heartbeat_probes_total{${T},outcome!="ok"}[$__range])) > 0))`)],
    [{ id: 'organize', options: { excludeByName: { Time: true } } }],
    [['yellow', null], ['red', 3]]);
  table(`Worst pairs by latency (top ${WORST})`, `The ${WORST} prober × peer pairs with the largest p99 of their ok probes over 5 minutes, across every instance.`,
    { x: 12, y: 0, w: 12, h: 9 }, 'data', 's',
    [q(`sort_desc(topk(${WORST}, histogram_quantile(0.99, sum by (instance, target, peer, le) (rate(heartbeat_probe_duration_seconds_bucket{${T}}[5m]))) >= 0))`)],
    [{ id: 'organize', options: { excludeByName: { Time: true } } }],
    [['green', null], ['yellow', 0.1], ['red', 1]]);
  y += 9;

  row('Latency');
  timeseries('Probe p99 by size and method', 'p99 of the total time (connect to last byte) of ok probes, per payload size and method (POST: the upload).',
    { x: 0, y: 0, w: 12, h: 8 }, 'data', 's',
    [q(`histogram_quantile(0.99, sum by (method, size, le) (rate(heartbeat_probe_duration_seconds_bucket{${T}}[${RI}])))`, '{{method}} {{size}} B')]);
  timeseries('Probe phase p99 by phase and size', 'p99 of each phase of the probes (dns, connect, tls, ttfb: request written to first byte, transfer: the rest), per size: which part of the path is slow.',
    { x: 12, y: 0, w: 12, h: 8 }, 'data', 's',
    [q(`histogram_quantile(0.99, sum by (phase, size, le) (rate(heartbeat_probe_phase_seconds_bucket{${T}}[${RI}])))`, '{{phase}} {{size}} B')]);
  timeseries('Target side: p99 answer time by size class', 'p99 of heartbeat\'s own answers (request to end of response) on the heartbeat route, per response size class: heartbeat as the peers see it.',
    { x: 0, y: 8, w: 12, h: 8 }, 'data', 's',
    [q(`histogram_quantile(0.99, sum by (size, le) (rate(heartbeat_http_request_duration_seconds_bucket{${HB},route="heartbeat"}[${RI}])))`, '{{size}}')]);
  timeseries('Peers resolved per target', 'Addresses each target resolved to in the last round (own ones left out), per prober: a drop is a member gone from DNS.',
    { x: 12, y: 8, w: 12, h: 8 }, 'data', 'none',
    [q(`max by (target) (heartbeat_probe_peers{${T}})`, '{{target}}')]);
  // self_ms: how much of a prober's times are its own (docs/probe.md, "The self-check")
  const starvedShare = [
    `(sum by (instance) (rate(heartbeat_probe_self_seconds_count{${T}}[${RI}]))`,
    ` - sum by (instance) (rate(heartbeat_probe_self_seconds_bucket{${T},le="${STARVED_MS / 1000}"}[${RI}])))`,
    `/ sum by (instance) (rate(heartbeat_probe_self_seconds_count{${T}}[${RI}]))`,
  ].join('\n');
  timeseries('Prober\'s own delay (self_ms) p99, per prober', `p99 of self_ms per prober: the part of its probe times that is its own event-loop delay and CPU throttling, not the path. From ${STARVED_MS} ms (the red line) its latency panels say more about its CPU than about the network (a CPU limit: HeartbeatProberStarved).`,
    { x: 0, y: 16, w: 16, h: 7 }, 'data', 's',
    [q(`histogram_quantile(0.99, sum by (instance, le) (rate(heartbeat_probe_self_seconds_bucket{${T}}[${RI}])))`, '{{instance}}')],
    { thresholds: thresholds([['green', null], ['red', STARVED_MS / 1000]]), custom: { thresholdsStyle: { mode: 'line' } } });
  stat('Starved probers', `Probers with more than 10% of their probes held up over ${STARVED_MS} ms by themselves (self_ms): their latency numbers are marked, not trusted.`,
    { x: 16, y: 16, w: 8, h: 7 }, 'data',
    'none', [q(`count((${starvedShare}) > 0.1) or vector(0)`)], [['green', null], ['red', 1]]);
  y += 23;

  row('Packet loss (UDP, probeUdp)');
  const sentBy = (by: string): string => `sum by (${by}) (rate(heartbeat_udp_probe_sent_total{${T}}[${RI}]))`;
  const lostBy = (by: string): string => `sum by (${by}) (rate(heartbeat_udp_probe_lost_total{${T}}[${RI}]))`;
  table('UDP loss by pair and direction, worst first', 'Share of the echo datagrams (probeUdp) each prober sent to each peer that were lost, per direction: out (never reached the peer, by its own count), back (the peer answered, the answer did not arrive), unknown (the peer\'s count never came). Worst first; HeartbeatPacketLoss pages at 2% either way.',
    { x: 0, y: 0, w: 14, h: 9 }, 'data', 'percentunit',
    [q(`sort_desc(\n  ${lostBy('instance, target, peer, direction')}\n/ ignoring (direction) group_left ${sentBy('instance, target, peer')}\n)`)],
    [{ id: 'organize', options: { excludeByName: { Time: true } } }],
    [['green', null], ['yellow', 0.005], ['red', 0.02]]);
  timeseries('UDP loss by direction', 'Echo datagrams lost, as a share of those sent, over every chosen pair, per direction.',
    { x: 14, y: 0, w: 10, h: 9 }, 'data', 'percentunit',
    [q(`${lostBy('direction')}\n/ ignoring (direction) group_left ${sentBy('')}`, '{{direction}}')], { min: 0 });
  y += 9;

  row('Target side');
  timeseries('Requests per second by route and status', 'Every request heartbeat answered, per route (heartbeat, upload, health, metrics, other) and status.',
    { x: 0, y: 0, w: 8, h: 8 }, 'data', 'reqps',
    [q(`sum by (route, status) (rate(heartbeat_http_requests_total{${HB}}[${RI}]))`, '{{route}} {{status}}')]);
  timeseries('Errors: 5xx and aborted transfers', 'Per instance: answers with a 5xx, and responses the client went away from before the end, per second.',
    { x: 8, y: 0, w: 8, h: 8 }, 'data', 'reqps',
    [
      q(`sum by (instance) (rate(heartbeat_http_requests_total{${HB},status=~"5.."}[${RI}])) or sum by (instance) (heartbeat_build_info{${HB}}) * 0`, '5xx {{instance}}'),
      q(`sum by (instance) (rate(heartbeat_aborted_transfers_total{${HB}}[${RI}]))`, 'aborted {{instance}}'),
    ]);
  timeseries('Bytes per second: sent and uploaded', 'Response body bytes sent per route, and upload body bytes received.',
    { x: 16, y: 0, w: 8, h: 8 }, 'data', 'Bps',
    [
      q(`sum by (route) (rate(heartbeat_response_body_bytes_total{${HB}}[${RI}]))`, 'sent {{route}}'),
      q(`sum(rate(heartbeat_upload_bytes_total{${HB}}[${RI}]))`, 'uploaded'),
    ]);
  timeseries('Upload rate per instance', 'Upload body bytes received per second, per instance (POST {uri}/{size}, the probes\' upload included).',
    { x: 0, y: 8, w: 12, h: 6 }, 'data', 'Bps',
    [q(`sum by (instance) (rate(heartbeat_upload_bytes_total{${HB}}[${RI}]))`, '{{instance}}')]);
  timeseries('Requests in flight', 'Requests being answered at scrape time, per instance.',
    { x: 12, y: 8, w: 12, h: 6 }, 'data', 'none',
    [q(`sum by (instance) (heartbeat_http_requests_in_flight{${HB}})`, '{{instance}}')]);
  y += 14;

  row('Readiness and restarts');
  stat('Ready instances', 'Instances whose /readyz answers 200, of those scraped; fewer: some are draining or down.',
    { x: 0, y: 0, w: 4, h: 6 }, 'data', 'none', [q(`sum(heartbeat_ready{${HB}})`)], [['red', null], ['green', 1]]);
  stat('Down instances', 'Scrape targets of the job that do not answer (up == 0).',
    { x: 4, y: 0, w: 4, h: 6 }, 'data', 'none', [q(`count(up{${HB}} == 0) or vector(0)`)], [['green', null], ['red', 1]]);
  timeseries('Ready (1) or draining/down (0) per instance', 'heartbeat_ready per instance, and up: a gap or 0 is an instance out of rotation.',
    { x: 8, y: 0, w: 8, h: 6 }, 'data', 'none',
    [q(`max by (instance) (heartbeat_ready{${HB}})`, 'ready {{instance}}'), q(`max by (instance) (up{${HB}})`, 'up {{instance}}')], { min: 0, max: 1 });
  timeseries('Restarts', 'Process starts per instance within the rate interval (the start time changing): a crash loop shows as a steady rate.',
    { x: 16, y: 0, w: 8, h: 6 }, 'data', 'none',
    [q(`sum by (instance) (changes(process_start_time_seconds{${HB}}[${RI}]))`, '{{instance}}')]);
  y += 6;

  row('Log pipeline');
  timeseries('Log lines dropped by heartbeat', 'Lines heartbeat dropped because stdout stayed backed up (the pipeline behind it is not keeping up) or was gone.',
    { x: 0, y: 0, w: 6, h: 7 }, 'data', 'none',
    [q(`sum by (instance) (increase(heartbeat_log_lines_dropped_total{${HB}}[${RI}]))`, '{{instance}}')]);
  timeseries('Fluent Bit retries', 'Delivery retries per second per output, and retries that failed for good (records then dropped).',
    { x: 6, y: 0, w: 6, h: 7 }, 'empty without Fluent Bit', 'ops',
    [
      q(`sum by (name) (rate(fluentbit_output_retries_total{${FB}}[${RI}]))`, 'retries {{name}}'),
      q(`sum by (name) (rate(fluentbit_output_retries_failed_total{${FB}}[${RI}]))`, 'failed {{name}}'),
    ]);
  timeseries('Fluent Bit backlog', 'Chunks buffered on the filesystem, and those of them not in memory (down): a growing backlog is a destination not keeping up.',
    { x: 12, y: 0, w: 6, h: 7 }, 'empty without Fluent Bit', 'none',
    [
      q(`sum by (instance) (fluentbit_storage_fs_chunks{${FB}})`, 'chunks {{instance}}'),
      q(`sum by (instance) (fluentbit_storage_fs_chunks_down{${FB}})`, 'down {{instance}}'),
    ]);
  timeseries('Fluent Bit dropped and errors', 'Records dropped per second per output (given up), and output errors.',
    { x: 18, y: 0, w: 6, h: 7 }, 'empty without Fluent Bit', 'ops',
    [
      q(`sum by (name) (rate(fluentbit_output_dropped_records_total{${FB}}[${RI}]))`, 'dropped {{name}}'),
      q(`sum by (name) (rate(fluentbit_output_errors_total{${FB}}[${RI}]))`, 'errors {{name}}'),
    ]);
  y += 7;

  row('Alerts');
  table('Alerts firing', 'heartbeat\'s alerts (docs/alerts.md) firing or pending now, with their labels.',
    { x: 0, y: 0, w: 24, h: 7 }, 'data once a heartbeat is stopped', 'none',
    [q(`ALERTS{alertname=~"Heartbeat.*",namespace=~"$namespace",cluster=~"$cluster"}`)],
    [{ id: 'organize', options: { excludeByName: { Time: true, Value: true, __name__: true } } }],
    [['red', null]]);
  return { panels, specs };
}

const variable = (name: string, label: string, query: string, includeAll: boolean): VariableModel => ({
  name, label, type: 'query', datasource: DS,
  query: { query, refId: `${name}-variable` },
  refresh: VariableRefresh.onTimeRangeChanged, sort: VariableSort.alphabeticalAsc,
  includeAll, multi: includeAll, ...(includeAll ? { allValue: '.*' } : {}),
  ...(includeAll ? { current: { text: 'All', value: '$__all' } } : {}),
  hide: VariableHide.dontHide,
});

export function dashboard(): { dashboard: Dashboard; specs: PanelSpec[] } {
  const { panels, specs } = build();
  const d: Dashboard = {
    uid: DASHBOARD_UID,
    title: 'heartbeat',
    description: 'heartbeat: mesh health (probe mode), latency, the target side, readiness, the log pipeline and the alerts (docs/status.md).',
    tags: ['heartbeat'],
    editable: true,
    graphTooltip: DashboardCursorSync.Crosshair,
    schemaVersion: 39,
    version: 1,
    refresh: '30s',
    time: { from: 'now-1h', to: 'now' },
    timezone: 'browser',
    fiscalYearStartMonth: 0,
    links: [],
    annotations: { list: [] },
    panels,
    templating: {
      list: [
        { name: 'datasource', label: 'Data source', type: 'datasource', query: 'prometheus', hide: VariableHide.dontHide },
        variable('namespace', 'Namespace', `label_values(heartbeat_build_info{job="${DEFAULTS.job}"}, namespace)`, true),
        variable('cluster', 'Cluster', `label_values(heartbeat_build_info{job="${DEFAULTS.job}",namespace=~"$namespace"}, cluster)`, true),
        variable('target', 'Target', `label_values(heartbeat_probes_total{${HB}}, target)`, true),
      ],
    },
  };
  return { dashboard: d, specs };
}

/** The JSON file (2-space indent, newline at the end). */
export const dashboardJson = (): string => `${JSON.stringify(dashboard().dashboard, null, 2)}\n`;
