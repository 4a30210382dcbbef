/**
 * Upload bodies are garbage as soon as they are counted, but Node does not
 * free them then: its HTTP parser copies every body chunk (up to 64 KiB) into
 * a fresh Buffer whose memory lives outside the V8 heap, and that memory is
 * only returned when a garbage collection finds the Buffer dead. The Buffer
 * objects themselves are a few hundred bytes each, so the young generation
 * fills slowly: V8 lets tens of MB of dead upload chunks pile up before it
 * collects (measured on Node 24: +18 to +42 MiB of peak RSS over three 256 MiB
 * uploads, by the heap flags; a bare node:http server too; see docs/memory.md).
 *
 * So heartbeat asks for a young-generation collection (a scavenge: well
 * under a millisecond with the image's 1 MiB semi-space) after every
 * RECLAIM_BYTES of upload body, counted across all uploads at once: dead
 * chunks never exceed about that much, whatever the size or number of uploads.
 *
 * The collection is V8's gc(), which Node gives only to a process started with
 * --expose-gc: the image's ENTRYPOINT carries it, beside the heap sizes. Started
 * without it (`node dist/main.js`), heartbeat does not reclaim: it never turns the
 * flag on after start (Node documents that as unpredictable; it would give every
 * later vm context a gc global), and the starting line says `reclaim: false`.
 * `gc({ type: 'minor' })` is V8's option, not Node's: test/reclaim.test.ts checks on
 * the image's Node that it collects the young generation and nothing more.
 */

/** Upload bytes between two young-generation collections. */
export const RECLAIM_BYTES = 1024 * 1024;

type Gc = (options?: { type?: 'major' | 'minor'; execution?: 'sync' | 'async' }) => void;

/** The global gc() of a node started with --expose-gc, read once at start-up. */
const gc = ((globalThis as { gc?: unknown }).gc ?? undefined) as Gc | undefined;

/** Whether uploads are reclaimed: node was started with --expose-gc (the image's ENTRYPOINT). */
export const reclaiming = typeof gc === 'function';

let pending = 0;

/** Counts `n` bytes of upload body read and thrown away; collects the young generation every RECLAIM_BYTES. */
export function uploaded(n: number): void {
  pending += n;
  if (pending < RECLAIM_BYTES || !reclaiming) return;
  pending = 0;
  (gc as Gc)({ type: 'minor' });
}
