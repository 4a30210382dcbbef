/**
 * src/http/tick-shape.ts: nextTick stays fast after a full collection while the server is idle.
 *
 * The real compiled server serves requests over TCP, then, with nothing in flight, V8 runs full
 * collections (the memory reducer does the same on its own after a burst), then it serves again.
 * V8 then prints nextTick's feedback (`%DebugPrint`, node --allow-natives-syntax): the sites that
 * define the keys of its tick record must still be MONOMORPHIC. A MEGAMORPHIC one means every later
 * tick defines them in the runtime, 20–60% more CPU per response (docs/benchmark.md).
 *
 * The control is a bare node:http server (bench/baseline.ts) in the same Node, put through the same:
 * it loses them. Should the control start keeping them, the Node in use no longer needs the keeper.
 *
 * Node 26 builds the record with `new TickObject(...)`: no literal-define site exists, the keeper does
 * nothing there, and both servers are checked to have none. A Node whose nextTick is in neither form
 * fails here: the internal changed, and whether the keeper is needed must be measured again.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort, kill, MAIN, NODE, request, ROOT, startServer, waitFor, type Running, type RunOptions } from './helpers/server';
import { makeScratch, removeScratch } from '../scripts/scratch';

/** On the first SIGUSR2: full collections, with no tick in flight. On the second: print, then exit (flushes stdio). */
const PRELOAD = `
let step = 0;
process.on('SIGUSR2', () => {
  if (step++ === 0) {
    (async () => {
      for (let i = 0; i < 4; i++) { gc(); await new Promise((r) => setTimeout(r, 20)); }
      process.stderr.write('collected\\n');
    })();
  } else {
    // V8 prints through C stdio into fd 1, which Node keeps non-blocking when it is a pipe: make it wait.
    process.stdout._handle.setBlocking(true);
    %DebugPrint(process.nextTick);
    process.exit(0);
  }
});
`;

const BASELINE = path.join(ROOT, 'build', 'bench', 'baseline.js');
const TICK_SHAPE = path.join(path.dirname(MAIN), 'http', 'tick-shape.js');

/** What src/http/tick-shape.ts reads of the Node the server runs on: the record's form, and whether it keeps one. */
function formOnServerNode(): { form: string; keeps: boolean } {
  return JSON.parse(execFileSync(NODE, ['-e', `const t = require(${JSON.stringify(TICK_SHAPE)});
    process.stdout.write(JSON.stringify({ form: t.tickRecordForm(), keeps: t.keepTickShape() }))`], { encoding: 'utf8' })) as { form: string; keeps: boolean };
}

describe('nextTick after an idle full collection (src/http/tick-shape.ts)', function () {
  this.timeout(30_000);
  let dir: string | undefined;
  let preload: string;
  let running: Running | undefined;

  before(() => {
    dir = makeScratch('heartbeat-tick-');
    preload = path.join(dir, 'preload.js');
    fs.writeFileSync(preload, PRELOAD);
  });
  after(() => { if (dir) removeScratch(dir); });
  afterEach(() => kill(running));

  /** Serves, collects while idle, serves again; the states of nextTick's literal-define feedback. */
  async function literalFeedback(args: string[] = [], opts: RunOptions = {}): Promise<string[]> {
    running = await startServer(args, { ...opts, nodeArgs: ['--expose-gc', '--allow-natives-syntax', '-r', preload] });
    const serve = async (n: number): Promise<void> => {
      for (let i = 0; i < n; i++) assert.equal((await request(running!.port, 'GET', '/heartbeat/1024')).status, 200);
    };
    await serve(100);
    running.proc.kill('SIGUSR2');
    await waitFor(() => running!.stderr().includes('collected'), 10_000, 'the collections');
    await serve(20);
    running.proc.kill('SIGUSR2');
    assert.equal(await running.exited, 0, running.stderr());
    const out = running.lines.join('\n');
    const at = out.indexOf('DebugPrint:');
    assert.ok(at >= 0, `no DebugPrint in stdout: ${out.slice(0, 2000)}`);
    const print = out.slice(at);
    // every feedback slot V8 printed (so an empty list of literal sites is a print that has slots, not a format change)
    const slots = [...print.matchAll(/slot #\d+ \w+/g)].length;
    assert.ok(slots > 0, `no feedback slots in nextTick's DebugPrint: ${print.slice(0, 2000)}`);
    return [...print.matchAll(/slot #\d+ DefineKeyedOwnPropertyInLiteral (\w+)/g)].map((m) => m[1] as string);
  }

  it('the Node in use builds its tick record in a form src/http/tick-shape.ts knows, and keeps one only for a literal', () => {
    const { form, keeps } = formOnServerNode();
    assert.ok(form === 'literal' || form === 'class',
      `nextTick on ${execFileSync(NODE, ['-v'], { encoding: 'utf8' }).trim()} builds its record neither as a literal nor as ` +
      'new TickObject: measure whether heartbeat still needs src/http/tick-shape.ts (docs/benchmark.md), then teach it this form');
    assert.equal(keeps, form === 'literal');
  });

  it('heartbeat keeps every key of the tick record monomorphic (Node 26: there is no such key to keep)', async () => {
    const states = await literalFeedback();
    if (formOnServerNode().form === 'class') {
      assert.deepEqual(states, [], `nextTick's literal-define sites on a Node that builds new TickObject: ${states.join(' ')}`);
      return;
    }
    // async id, trigger id, (Node 24: context frame,) callback, args
    assert.ok(states.length >= 4, `nextTick's literal-define sites: ${states.join(' ')}`);
    assert.deepEqual(states.filter((s) => s !== 'MONOMORPHIC'), [], `nextTick's literal-define sites: ${states.join(' ')}`);
  });

  it('a bare node:http server in the same Node loses them (the control; Node 26: has none to lose)', async () => {
    const port = await freePort();
    const states = await literalFeedback([String(port)], { main: BASELINE, noPort: true, port, ready: /^listening \d+/ });
    if (formOnServerNode().form === 'class') {
      // the reason the keeper does nothing on this Node: nothing in nextTick can turn megamorphic
      assert.deepEqual(states, [], `nextTick's literal-define sites on a Node that builds new TickObject: ${states.join(' ')}`);
      return;
    }
    assert.ok(states.includes('MEGAMORPHIC'), `nextTick's literal-define sites: ${states.join(' ')}`);
  });
});
