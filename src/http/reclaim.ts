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
 */
import v8 from 'node:v8';
import vm from 'node:vm';

/** Upload bytes between two young-generation collections. */
export const RECLAIM_BYTES = 1024 * 1024;

type Gc = (options?: { type?: 'major' | 'minor'; execution?: 'sync' | 'async' }) => void;

/**
 * V8's gc(): the global one when node runs with --expose-gc; otherwise one
 * made for this module alone. The flag only installs gc() in contexts created
 * after it is set, so a fresh vm context gets it and the main context (every
 * other module's globals) does not.
 */
function findGc(): Gc | undefined {
  const global = (globalThis as { gc?: Gc }).gc;
  if (typeof global === 'function') return global;
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as unknown;
    return typeof gc === 'function' ? (gc as Gc) : undefined;
  } catch {
    return undefined;
  }
}

const gc = findGc();
let pending = 0;

/** Counts `n` bytes of upload body read and thrown away; collects the young generation every RECLAIM_BYTES. */
export function uploaded(n: number): void {
  pending += n;
  if (pending < RECLAIM_BYTES || !gc) return;
  pending = 0;
  gc({ type: 'minor' });
}
