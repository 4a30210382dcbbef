/**
 * Probe mode's phase histogram, `heartbeat_probe_phase_seconds{target, family, method, size, phase}`: where
 * the time of the ok probes goes (dns, connect, tls, ttfb, transfer), for the dashboard's latency per
 * size and phase. Fed with every probe line (src/probe/scheduler.ts). Labelled by target, not peer,
 * so its series are bounded by the settings (targets × 2 families × sizes × 5 phases), never by the mesh. A phase
 * a probe did not go through is not observed: dns of an IP literal, connect and tls of a reused
 * connection, tls of an http:// target.
 */
import type * as client from 'prom-client';
import type { ProbeRecord } from '../log/format';
import { PROBE_BUCKETS } from './metrics';

export interface PhaseMetrics {
  readonly record: (line: ProbeRecord) => void;
}

export function createPhaseMetrics(registry: client.Registry): PhaseMetrics {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const prom = require('prom-client') as typeof client;
  const phases = new prom.Histogram({
    name: 'heartbeat_probe_phase_seconds',
    help: 'Phases of the probes that ended ok, by target, family (ipv4 or ipv6), method, size and phase: dns (name resolution), connect (TCP), tls (handshake), ttfb (request written to first byte), transfer (the rest of the total).',
    labelNames: ['target', 'family', 'method', 'size', 'phase'],
    buckets: PROBE_BUCKETS,
    registers: [registry],
  });
  return {
    record(l: ProbeRecord): void {
      if (l.outcome !== 'ok') return;
      const labels = { target: l.target, family: l.family, method: l.method, size: String(l.size) };
      const transfer = Math.max(0, l.total_ms - l.connect_ms - l.tls_ms - l.ttfb_ms);
      for (const [phase, ms] of [['dns', l.dns_ms], ['connect', l.connect_ms], ['tls', l.tls_ms]] as const) {
        if (ms > 0) phases.observe({ ...labels, phase }, ms / 1000);
      }
      phases.observe({ ...labels, phase: 'ttfb' }, l.ttfb_ms / 1000);
      phases.observe({ ...labels, phase: 'transfer' }, transfer / 1000);
    },
  };
}
