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
  formatLifecycle, formatProbe, formatRequest, formatUdp, isoNow, type Level, type LogFormat, type ProbeRecord, type RequestRecord, type UdpRecord,
} from './format';

const MESSAGE = Symbol.for('message');

/**
 * Lines are copied into a buffer of this size as they are logged, and the buffer goes to stdout
 * when it is full or when the flush timer fires. A line copied at once is garbage at once: the
 * young generation frees it, where a batch kept as a JS string lived through collections and was
 * copied by each (and promoted to the old space by the second).
 */
const BATCH_BYTES = 64 * 1024;

/** Spare batch buffers kept for reuse once stdout has taken them; more are left to the GC. */
const SPARE_BUFFERS = 4;

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
  /** The batch being filled: `used` bytes of `batch` (every line is ASCII, format.ts escapes all else). */
  private batch: Buffer = Buffer.allocUnsafe(BATCH_BYTES);
  private used = 0;
  /** Batch buffers stdout has finished with. */
  private readonly spare: Buffer[] = [];
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
      this.used = 0;
      // Said once, on stderr; serving goes on.
      err.write(`heartbeat: log output is gone (${e.code ?? e.message}); serving continues without logs\n`);
    });
  }

  /** winston's entry (lifecycle lines): the line its format made. */
  override log(info: Formatted, next: () => void): void {
    this.line(info[MESSAGE] as string);
    next();
  }

  /** Batches one formatted line (request and probe lines come straight here). */
  line(line: string): void {
    if (this.gone) this.droppedTotal++;
    else {
      if ((this.out.writableLength ?? 0) + this.used + line.length > this.maxBacklog) {
        this.droppedTotal++;
        // Report the drop as soon as stdout has caught up.
        if (this.dropped++ === 0) this.out.once('drain', this.flush);
        return;
      }
      if (this.used + line.length + 1 > BATCH_BYTES) this.flush();
      if (line.length + 1 > BATCH_BYTES) this.out.write(line + '\n', 'latin1'); // longer than a batch: alone
      else {
        this.used += this.batch.write(line, this.used, 'latin1');
        this.batch[this.used++] = 0x0a;
        if (!this.scheduled) {
          this.scheduled = true;
          setTimeout(this.flush, FLUSH_MS);
        }
      }
    }
  }

  /** Hands every pending line to stdout in one write. */
  readonly flush = (): void => {
    this.scheduled = false;
    if (this.dropped > 0 && (this.out.writableLength ?? 0) < this.maxBacklog / 2) {
      const n = this.dropped;
      this.dropped = 0;
      this.onDropped(n);
    }
    if (this.used === 0 || this.gone) return;
    const full = this.batch;
    const chunk = full.subarray(0, this.used);
    this.batch = this.spare.pop() ?? Buffer.allocUnsafe(BATCH_BYTES);
    this.used = 0;
    // The buffer is stdout's until the write is done; then it is reused (a few) or left to the GC.
    this.out.write(chunk, () => { if (this.spare.length < SPARE_BUFFERS) this.spare.push(full); });
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
  /** A UDP probe line (probe mode with probeUdp): always written, whatever --log says. */
  udp(record: UdpRecord): void;
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
      // winston's Logger stream as well costs ~0.8 µs a line, a tenth of a 1 KiB request; so
      // would an info object keyed by winston's MESSAGE symbol (a symbol-keyed literal per line).
      transport.line(formatRequest(record, opts.format));
    },
    probe(record: ProbeRecord): void {
      transport.line(formatProbe(record, opts.format));
    },
    udp(record: UdpRecord): void {
      transport.line(formatUdp(record, opts.format));
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
