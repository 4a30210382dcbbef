/**
 * A mesh of real heartbeats on loopback (the compiled server, each its own process), every one
 * probing all of them (itself set apart as probe mode does), with the status page on. Used by the
 * status tests, the browser tier and the Prometheus tier.
 */
import { freePort, kill, startServer, type Running } from './server';

export interface Mesh {
  nodes: Running[];
  /** Each node's probe target (http://127.0.0.1:port) and peer label (127.0.0.1:port). */
  targets: string[];
  peers: string[];
  /** Each node's metrics port (0 when metrics are off). */
  metricsPorts: number[];
  stopAll(): void;
}

export interface MeshOptions {
  size: number;
  intervalMs?: number;
  /** Extra flags for every node (e.g. --metrics, --log-format json). */
  flags?: string[];
  /** Metrics (and status) on a port of their own. */
  metricsPort?: boolean;
  /** Each node's environment (e.g. the downward API's POD_NAME, NODE_NAME). */
  env?: (i: number) => NodeJS.ProcessEnv;
}

export async function startMesh(o: MeshOptions): Promise<Mesh> {
  const ports: number[] = [];
  const metricsPorts: number[] = [];
  for (let i = 0; i < o.size; i++) {
    ports.push(await freePort());
    metricsPorts.push(o.metricsPort ? await freePort() : 0);
  }
  const peers = ports.map((p) => `127.0.0.1:${p}`);
  const targets = peers.map((p) => `http://${p}`);
  const interval = o.intervalMs ?? 1000;
  const nodes: Running[] = [];
  try {
    for (let i = 0; i < o.size; i++) {
      nodes.push(await startServer([
        '--host', '127.0.0.1', '--status', '--probe-targets', targets.join(','),
        // the timeout as long as the round: the tests read outcomes, and a loaded machine made 500 ms probes time out
        '--probe-interval', String(interval), '--probe-timeout', String(interval),
        ...(o.metricsPort ? ['--metrics', '--metrics-port', String(metricsPorts[i])] : []),
        ...(o.flags ?? []),
      ], { port: ports[i], env: o.env?.(i) }));
    }
  } catch (e) {
    for (const n of nodes) kill(n);
    throw e;
  }
  return { nodes, targets, peers, metricsPorts, stopAll: () => { for (const n of nodes) kill(n); } };
}
