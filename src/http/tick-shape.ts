/**
 * Keeps one process.nextTick record alive for the life of the process, so
 * that nextTick stays fast after the server has been idle.
 *
 * Every HTTP response schedules several nextTick callbacks, and Node builds
 * each one's record with an object literal keyed by symbols:
 * `{ [async_id_symbol]: …, [trigger_async_id_symbol]: …, callback, args }`
 * (lib/internal/process/task_queues.js, on Node 20 and 24 alike). V8 defines
 * every key from the first computed one on through
 * Runtime_DefineKeyedOwnPropertyInLiteral, whose feedback remembers the map
 * the object had and turns megamorphic for good the first time it meets
 * another (v8/v8 src/runtime/runtime-object.cc); nextTick's optimized code
 * then calls into the runtime for each of those keys, on every tick.
 *
 * The maps a record passes through are held only weakly (the literal map
 * cache is a WeakFixedArray, v8/v8 src/heap/factory.cc
 * ObjectLiteralMapFromCache; transitions and feedback hold maps weakly too).
 * When the server is idle no record is alive, so a full collection then
 * (V8's memory reducer does one after a burst) frees those maps; the next
 * tick builds new ones, the feedback meets a map it has not seen, and
 * nextTick stays slow from then on. Measured on Node 24 (docs/benchmark.md):
 * a bare node:http server given full collections while idle then spent
 * 26–42% more CPU per 1 KiB response than a fresh one beside it; heartbeat,
 * with no forced collection, 20–60% after a thousand short connections.
 *
 * One record that never dies holds its map, and through the maps' back
 * pointers every map before it, so they are never freed and the feedback
 * stays monomorphic. The record is the one Node hands to
 * executionAsyncResource() while a tick runs; nothing else changes.
 */
import { executionAsyncResource } from 'node:async_hooks';

let kept: object | undefined;

/** Keeps the record of the next tick (once per process; later calls do nothing). */
export function keepTickShape(): void {
  if (kept !== undefined) return;
  process.nextTick(() => { kept ??= executionAsyncResource(); });
}
