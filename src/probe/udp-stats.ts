/**
 * Probe mode, UDP: what one peer's round of echo datagrams comes to (src/probe/udp-round.ts
 * gathers it). Loss by direction: a datagram unanswered by the end of its wait is lost; the
 * peer's count of this probe's datagrams (its answer to the count question at the end of the
 * round) says how many arrived, so `sent - count` were lost on the way out and the rest of the
 * lost on the way back. Without that count (every count question or its answer lost) the lost
 * are `lost_unknown`. RTT percentiles by nearest rank; jitter as RFC 3550 section 6.4.1 computes
 * interarrival jitter, from the answers in arrival order: J += (|D| - J) / 16, where D is the
 * difference of two consecutive answers' transit times (here their round trips, on the prober's
 * one clock).
 */

export interface UdpTally {
  sent: number;
  /** Answered within the wait, each sequence number once. */
  answered: number;
  /** The peer's count of this probe's echo datagrams at the end of the round; undefined when it never came. */
  peerCount: number | undefined;
  duplicates: number;
  reordered: number;
  /** Round trips of the answered, ms, in arrival order. */
  rtts: number[];
  jitterMs: number;
}

export interface UdpLoss {
  lostOut: number;
  lostBack: number;
  lostUnknown: number;
}

/** Splits the lost datagrams into out, back and unknown. */
export function attribute(t: Pick<UdpTally, 'sent' | 'answered' | 'peerCount'>): UdpLoss {
  const lost = t.sent - t.answered;
  if (t.peerCount === undefined) return { lostOut: 0, lostBack: 0, lostUnknown: lost };
  // the peer counts arrivals: a duplicate on the way out would count twice, so never more than sent
  const lostOut = t.sent - Math.min(t.peerCount, t.sent);
  // the peer counted fewer than were answered: its count is not this round's (its table forgot the id)
  if (lostOut > lost) return { lostOut: 0, lostBack: 0, lostUnknown: lost };
  return { lostOut, lostBack: lost - lostOut, lostUnknown: 0 };
}

/** Nearest-rank percentile of `sorted` (ascending); 0 when empty. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)] as number;
}

/** RFC 3550 jitter, one more answer: `previous` is the last answer's round trip (NaN for the first). */
export function nextJitter(jitter: number, previous: number, rtt: number): number {
  return Number.isNaN(previous) ? jitter : jitter + (Math.abs(rtt - previous) - jitter) / 16;
}
