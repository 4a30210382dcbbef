/**
 * The echo responder's metrics (with --metrics): answers, drops by reason (five words), and its
 * rate limits. Plain numbers bumped per datagram, read when Prometheus scrapes.
 */
import type * as client from 'prom-client';
import { PER_SOURCE, TOTAL } from './limits';
import { DROP_REASONS, type EchoStats } from './responder';

export function registerEchoMetrics(registry: client.Registry, stats: EchoStats): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const prom = require('prom-client') as typeof client;
  new prom.Counter({
    name: 'heartbeat_udp_echo_answered_total',
    help: 'Echo datagrams (UDP, src/udp/) this heartbeat answered.',
    registers: [registry],
    collect(this: client.Counter) {
      this.reset();
      this.inc(stats.answered);
    },
  });
  new prom.Counter({
    name: 'heartbeat_udp_echo_dropped_total',
    help: 'Datagrams the echo responder dropped unanswered, by reason: malformed (not a heartbeat question), source (port 0, multicast, broadcast, its own), rate_source / rate_total (over the per-source or total limit), send_error.',
    labelNames: ['reason'],
    registers: [registry],
    collect(this: client.Counter<string>) {
      this.reset();
      for (const reason of DROP_REASONS) this.inc({ reason }, stats.dropped[reason]);
    },
  });
  const limit = new prom.Gauge({
    name: 'heartbeat_udp_echo_limit_per_second',
    help: 'The echo responder\'s rate limits, answers per second: per source address, and in total.',
    labelNames: ['scope'],
    registers: [registry],
  });
  limit.set({ scope: 'source' }, PER_SOURCE.rate);
  limit.set({ scope: 'total' }, TOTAL.rate);
}
