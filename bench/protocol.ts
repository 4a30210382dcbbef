/**
 * The messages between the bench harness (bench/run.ts) and its load worker
 * (bench/load.ts), which runs in its own process, pinned to its own core.
 */

/**
 * The HTTP load client: autocannon, or `lean`, a minimal keep-alive GET loop
 * that reads into one fixed buffer per connection. On one core autocannon tops
 * out near 1.5 GB/s of response bodies (a fresh buffer and a stream event per
 * read), below what the server can send at 64 KiB and 1 MiB; `lean` pulls
 * ~4 GB/s, so those sizes measure the server rather than the client.
 */
export type LoadClient = 'autocannon' | 'lean';

/** One measurement the harness asks the load worker for. */
export type LoadJob =
  /**
   * GETs of `url` for `seconds` over `connections` keep-alive connections, one request in flight
   * on each, every one with `headers` (besides Host), if given.
   */
  | { kind: 'http'; client: LoadClient; url: string; connections: number; seconds: number; headers?: Record<string, string> }
  /** One GET of `bytes`, every byte checked against the heartbeat pattern as it streams in. */
  | { kind: 'get'; url: string; bytes: number }
  /** One POST of `bytes`, streamed with backpressure; the server must report them all received. */
  | { kind: 'upload'; url: string; bytes: number };

export interface HttpFigures {
  /** Completed 2xx responses per second. */
  reqPerSec: number;
  /** Response latency percentiles, milliseconds with microsecond resolution. */
  p50Ms: number;
  p99Ms: number;
  completed: number;
  seconds: number;
  errors: number;
  non2xx: number;
}

export interface TransferFigures {
  /** From sending the request to the last byte of the response. */
  seconds: number;
  /** Body bytes that arrived (GET) or that the server says it received (upload). */
  bytes: number;
  /** Status 200, every byte there, and (GET) every byte matching the pattern. */
  ok: boolean;
  detail: string;
}

export type LoadReply =
  | { id: number; ok: true; figures: HttpFigures | TransferFigures }
  | { id: number; ok: false; error: string };

export interface LoadRequest {
  id: number;
  job: LoadJob;
}

/**
 * What every request-rate measurement sends besides Host: what a browser behind an ingress
 * sends, so the log rows pay for the user_agent and forwarded_for columns as in production
 * (~150 bytes more per line). Every server gets them, so the ratios and costs compare like
 * with like.
 */
export const CLIENT_HEADERS: Record<string, string> = {
  'User-Agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  'X-Forwarded-For': '203.0.113.9, 10.42.0.1',
};
