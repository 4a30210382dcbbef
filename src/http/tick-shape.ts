/**
 * On a Node whose nextTick builds its record with an object literal (Node 20
 * and 24), keeps one such record alive for the life of the process, so that
 * nextTick stays fast after the server has been idle. Node 26 builds it with
 * `new TickObject(…)`: nothing to keep there, and nothing is done.
 *
 * Every HTTP response schedules several nextTick callbacks, and Node 20 and
 * 24 build each one's record with an object literal keyed by symbols:
 * `{ [async_id_symbol]: …, [trigger_async_id_symbol]: …, callback, args }`
 * (lib/internal/process/task_queues.js). V8 defines
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
 *
 * Which form a Node uses is read from nextTick's own source (Function.prototype.toString,
 * public API). On Node 26 the record is an instance of a class whose map hangs off its
 * constructor, which is alive as long as the module is: measured with the test below, a bare
 * node:http server on 26.12.1 has no literal-define site in nextTick at all, before and
 * after idle full collections. test/tick-shape.test.ts fails when a Node's nextTick is
 * neither form (the internal changed again) and checks each form's claim on the real server.
 */
import { executionAsyncResource } from 'node:async_hooks';

/** How this Node's nextTick builds its record: 'literal' (Node 20, 24), 'class' (`new TickObject`, Node 26), or neither. */
export type TickRecordForm = 'literal' | 'class' | 'unknown';

/** `source`: nextTick's source text (the default: this process's, read with Function.prototype.toString). */
// eslint-disable-next-line @typescript-eslint/unbound-method -- only its source text is read, it is never called
export function tickRecordForm(source: string = Function.prototype.toString.call(process.nextTick)): TickRecordForm {
  if (/=\s*\{\s*\[async_id_symbol\]\s*:/.test(source)) return 'literal';
  if (/\bnew TickObject\(/.test(source)) return 'class';
  return 'unknown';
}

let kept: object | undefined;

/**
 * Keeps the record of the next tick where the record is a literal (once per process; later calls
 * do nothing). Returns whether it keeps one.
 */
export function keepTickShape(): boolean {
  if (tickRecordForm() !== 'literal') return false;
  if (kept === undefined) process.nextTick(() => { kept ??= executionAsyncResource(); });
  return true;
}
