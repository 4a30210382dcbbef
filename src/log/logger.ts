/**
 * The winston logger: request lines (only when request logging is on) and
 * lifecycle lines (always), one line each on stdout, in the chosen format.
 *
 * A line costs one stdout write syscall when written on its own, which at
 * tens of thousands of requests a second is most of the cost of logging. The
 * transport below batches: lines logged within a few milliseconds go out in a
 * single write. Nothing is dropped: close() flushes and waits until stdout
 * has taken every byte, and the server calls it before it exits.
 */
import winston from 'winston';
import Transport from 'winston-transport';
import {
  formatLifecycle, formatProbe, formatRequest, isoNow, type Level, type LogFormat, type ProbeRecord, type RequestRecord,
} from './format';

const MESSAGE = Symbol.for('message');
const noop = (): void => undefined;

/** A batch larger than this is written at once rather than when the flush timer fires. */
const MAX_BATCH_CHARS = 64 * 1024;

/**
 * Lines wait at most this long to be written. One write per event-loop turn still
 * meant ~8 lines per syscall at 1 KiB; a few milliseconds gathers hundreds.
 */
const FLUSH_MS = 5;

/**
 * How much log output may wait for a slow stdout reader before lines are dropped
 * (and counted, and reported once the reader catches up): a stalled log pipeline
 * must not grow the process until the orchestrator kills it for memory.
 */
export const MAX_BACKLOG_BYTES = 16 * 1024 * 1024;

/** What the transport writes: a line already formatted. */
interface Formatted {
  level: string;
  message: string;
  [MESSAGE]?: string;
}

/** A lifecycle line as it goes through winston (request lines go straight to the transport). */
interface LineInfo extends Formatted {
  details?: Record<string, unknown>;
  time: string;
}

class StdoutBatchTransport extends Transport {
  private pending = '';
  private scheduled = false;
  private gone = false;
  /** Lines dropped since the last report because stdout was backed up. */
  private dropped = 0;
  /** Every line dropped so far: stdout backed up past the limit, or gone (for the metrics). */
  droppedTotal = 0;
  /** Called with the count once stdout has caught up after dropping lines. */
  onDropped: (count: number) => void = () => undefined;

  constructor(
    private readonly out: NodeJS.WritableStream & { writableLength?: number },
    err: NodeJS.WritableStream,
    private readonly maxBacklog = MAX_BACKLOG_BYTES,
  ) {
    super();
    // stderr may be the same closed pipe (`2>&1 | head`): never let that become a crash.
    err.on('error', () => undefined);
    out.on('error', (e: NodeJS.ErrnoException) => {
      if (this.gone) return;
      this.gone = true;
      this.pending = '';
      // Said once, on stderr; serving goes on.
      err.write(`heartbeat: log output is gone (${e.code ?? e.message}); serving continues without logs\n`);
    });
  }

  override log(info: Formatted, next: () => void): void {
    if (this.gone) this.droppedTotal++;
    else {
      if ((this.out.writableLength ?? 0) + this.pending.length > this.maxBacklog) {
        this.droppedTotal++;
        // Report the drop as soon as stdout has caught up.
        if (this.dropped++ === 0) this.out.once('drain', this.flush);
        next();
        return;
      }
      this.pending += info[MESSAGE] + '\n';
      if (this.pending.length >= MAX_BATCH_CHARS) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        setTimeout(this.flush, FLUSH_MS);
      }
    }
    next();
  }

  /** Hands every pending line to stdout in one write. */
  readonly flush = (): void => {
    this.scheduled = false;
    if (this.dropped > 0 && (this.out.writableLength ?? 0) < this.maxBacklog / 2) {
      const n = this.dropped;
      this.dropped = 0;
      this.onDropped(n);
    }
    if (this.pending.length === 0 || this.gone) return;
    const chunk = this.pending;
    this.pending = '';
    // Every line is ASCII (format.ts escapes all else), so latin1 is exact and cheapest to encode.
    this.out.write(chunk, 'latin1');
  };

  /** Resolves once stdout has accepted everything logged so far (or is gone). */
  drained(): Promise<void> {
    this.flush();
    this.flush(); // the drop report, if the first flush made one
    if (this.gone) return Promise.resolve();
    return new Promise((resolve) => {
      this.out.write('', () => resolve());
    });
  }
}

export interface AppLogger {
  /** Whether request lines are wanted (--log). */
  readonly requests: boolean;
  /** Lines dropped so far because stdout was backed up (or gone). */
  readonly droppedLines: number;
  request(record: RequestRecord): void;
  /** A probe line (probe mode): always written, whatever --log says. */
  probe(record: ProbeRecord): void;
  info(message: string, details?: Record<string, unknown>): void;
  warn(message: string, details?: Record<string, unknown>): void;
  error(message: string, details?: Record<string, unknown>): void;
  /** Flushes every line logged so far to stdout; resolves when it is there (or after `timeoutMs`). */
  close(timeoutMs?: number): Promise<void>;
}

export interface LoggerOptions {
  format: LogFormat;
  requests: boolean;
  out?: NodeJS.WritableStream;
  err?: NodeJS.WritableStream;
  /** Bytes of log output that may wait for stdout before lines are dropped. */
  maxBacklog?: number;
}

export function createLogger(opts: LoggerOptions): AppLogger {
  const transport = new StdoutBatchTransport(opts.out ?? process.stdout, opts.err ?? process.stderr, opts.maxBacklog);
  const lineFormat = winston.format((info) => {
    const i = info as unknown as LineInfo;
    i[MESSAGE] = formatLifecycle({ time: i.time, level: i.level as Level, message: i.message, details: i.details ?? {} }, opts.format);
    return info;
  });
  const w = winston.createLogger({
    level: 'info',
    format: lineFormat(),
    transports: [transport],
    exitOnError: false,
  });
  const lifecycle = (level: Level) => (message: string, details?: Record<string, unknown>): void => {
    w.log({ level, message, details, time: isoNow() });
  };
  transport.onDropped = (dropped) => lifecycle('warn')('log lines dropped: stdout was backed up', { dropped });
  return {
    requests: opts.requests,
    get droppedLines() { return transport.droppedTotal; },
    request(record: RequestRecord): void {
      // The hot path: formatted here and handed straight to the transport. Going through
      // winston's Logger stream as well costs ~0.8 µs a line, a tenth of a 1 KiB request.
      transport.log({ level: 'info', message: 'request', [MESSAGE]: formatRequest(record, opts.format) }, noop);
    },
    probe(record: ProbeRecord): void {
      transport.log({ level: 'info', message: 'probe', [MESSAGE]: formatProbe(record, opts.format) }, noop);
    },
    info: lifecycle('info'),
    warn: lifecycle('warn'),
    error: lifecycle('error'),
    async close(timeoutMs = 10_000): Promise<void> {
      // Let winston's own stream hand over anything still in flight, then flush.
      await new Promise<void>((r) => setImmediate(r));
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        transport.drained(),
        new Promise<void>((r) => { timer = setTimeout(r, timeoutMs); }),
      ]);
      clearTimeout(timer);
    },
  };
}
