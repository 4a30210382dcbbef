/**
 * The prober's self-check (src/probe/self.ts) and its slots (src/probe/round.ts):
 * - a thread held up during a probe's span shows in that probe's self_ms, an idle one does not
 *   add the timer's own jitter; a thread held up as TCP connects shows in self_ms though its last byte was on time;
 * - a thread woken late (its run-queue wait, Linux's /proc/thread-self/schedstat) shows in the stamps of that
 *   wake-up, never more than their interval, and a wait before an interval does not;
 * - the cgroup's throttling counter is found (v1 `cpu` / `cpu,cpuacct`, v2) and read in ms; absent means none;
 * - end to end, every probe line carries self_ms and family, and the metric histogram counts them;
 * - a slow peer holds only its own slot: a fast peer keeps its interval beside one that answers late.
 * (Whether self_ms accounts for the timings' error is the root tier's calibration, test/root/probe-truth.test.ts.)
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createSelfCheck, LATE_SLACK_MS, readThrottledMs, runQueueClock, throttleSource, type SelfCheck } from '../src/probe/self';
import { makeScratch, removeScratch } from '../scripts/scratch';
import { probe } from '../src/probe/check';
import { probeLines, quiet } from './helpers/probe';
import { slowBesideFast, type Proxy } from './helpers/probe-proxy';
import { kill, sleep, startServer, waitFor, type Running } from './helpers/server';

const spin = (ms: number): void => {
  const end = performance.now() + ms;
  while (performance.now() < end) { /* the thread held up, as a busy loop or a throttled CPU holds it */ }
};

describe('probe self-check: the prober\'s own delay', function () {
  this.timeout(60_000);

  it('a stamp taken after the thread was held up is as late as the stall; one taken on time is not late', async () => {
    const self = createSelfCheck({});
    const mark = self.begin();
    await sleep(5);
    const written = performance.now();
    spin(40); // the answer came meanwhile: the event is stamped now, up to 40 ms late
    const late = self.late(written, performance.now());
    assert.ok(late >= 40 - 1 - 2 * LATE_SLACK_MS, `stamped after a 40 ms stall: late ${late} ms`);
    self.end(mark);
  });

  /**
   * A stall in a timer callback, then what an event handled right after it sees: the self-check's tick (due
   * during the stall) runs next in the same timers phase, and a setImmediate runs after a poll that did not wait
   * (an immediate is pending), as an answer that came during the stall is read.
   */
  const afterStall = (self: SelfCheck, stall: (mark: (t: number) => void) => void, since?: number): Promise<number> =>
    new Promise((resolve) => setTimeout(() => {
      let from = since ?? 0;
      stall((t) => { from = t; });
      setImmediate(() => resolve(self.late(from, performance.now())));
    }, 0));

  it('a stall a tick saw end since the interval began counts for an event handled right after it; one before the interval does not', async () => {
    const self = createSelfCheck({});
    const mark = self.begin();
    await sleep(3);
    const held = await afterStall(self, () => spin(30), performance.now());
    assert.ok(held >= 25, `an event read right after a 30 ms stall within its interval: ${held} ms`);
    await sleep(3);
    const after = performance.now();
    // (a loaded machine may hold the thread a few ms now and then: far from the 30 ms stall)
    assert.ok(self.late(after, performance.now()) < 20, `a stall before the interval is not its: ${self.late(after, performance.now())} ms`);
    self.end(mark);
  });

  it('a stall after the stamp is not the stamp\'s (lateness is read at the stamp\'s time)', async () => {
    const self = createSelfCheck({});
    const mark = self.begin();
    await sleep(3);
    const since = performance.now();
    await sleep(2);
    const stamp = performance.now();
    spin(30); // held up after the event was stamped: e.g. the cgroup throttled between the stamp and the reading
    await sleep(3);
    const late = self.late(since, stamp);
    assert.ok(late < 10, `a stall after the stamp: ${late} ms (read now instead: ${self.late(since, performance.now())} ms)`);
    self.end(mark);
  });

  it('a stall that began before the interval counts only from its start (it held the wire too, not just the stamp)', async () => {
    const self = createSelfCheck({});
    const mark = self.begin();
    await sleep(3);
    const late = await afterStall(self, (written) => {
      spin(30); // e.g. a throttled TLS handshake: the request is written as the thread comes back ...
      written(performance.now());
      spin(10); // ... and the answer waits 10 ms more for the thread
    });
    // 10 ms of it after `written`, plus a loaded machine's few ms now and then: far from the whole 40
    assert.ok(late >= 10 - 1 - 2 * LATE_SLACK_MS && late < 25, `the stall's part after the interval began: ${late} ms`);
    self.end(mark);
  });

  describe('a probe line\'s self_ms bounds each of its timings, not only the total', () => {
    let peer: Running | undefined;
    before(async () => { peer = await startServer(); });
    after(() => kill(peer));

    it('the thread held up as TCP connected: connect_ms holds the stall, and so does self_ms (the last byte was not late)', async () => {
      const port = (peer as Running).port;
      const self = createSelfCheck({});
      const running = probe({
        address: '127.0.0.1', port, host: `127.0.0.1:${port}`, uri: '/heartbeat', method: 'GET', size: 1024,
        timeoutMs: 10_000, requestId: randomUUID(), userAgent: 'heartbeat-test', self,
      });
      // queued after the probe's own ticks (the SYN, then its clock's start): loopback connects meanwhile, and
      // the connect event waits for the thread
      process.nextTick(() => spin(40));
      const r = await running.done;
      assert.equal(r.outcome, 'ok');
      assert.ok(r.connectMs >= 40 - 1, `connect_ms holds the 40 ms stall: ${r.connectMs} ms`);
      assert.ok(r.selfMs >= 40 - 1 - 2 * LATE_SLACK_MS, `self_ms ${r.selfMs} ms holds the stall in connect_ms ${r.connectMs} ms (its end stamp: ${r.late.end} ms late)`);
    });
  });

  describe('a thread woken late (its run-queue wait, which no tick sees)', () => {
    // The thread's wait as Linux would count it: set by the test between reads (the real counter: below)
    const clock = (): { read: () => number; wait: (ms: number) => void } => {
      let waited = 0;
      return { read: () => waited, wait: (ms) => { waited += ms; } };
    };

    it('a wait after the interval began counts for its stamp (never more than the interval); one before it does not', async () => {
      const c = clock();
      const self = createSelfCheck({ runQueue: c.read });
      const mark = self.begin(); // its ticks run, as while a probe does
      c.wait(50); // before the request was written: it delayed the writing, and the wire with it
      const since = self.now();
      await sleep(30);
      c.wait(10); // woken by the answer, 10 ms waiting for a CPU
      const late = self.late(since, performance.now());
      assert.ok(late >= 10 && late < 50, `a 10 ms wait in the interval, 50 before it: ${late} ms`);
      const next = self.now();
      assert.ok(self.late(next, performance.now()) < 10, 'no wait since this interval began');
      const short = self.now();
      c.wait(40); // a counter's jump larger than the interval: the event came after the interval began
      const stamp = performance.now();
      assert.ok(self.late(short, stamp) <= stamp - short, 'at most the interval');
      self.end(mark);
    });

    it('every stamp of one wake-up sees its wait, and a stamp the longest wait of its interval (not their sum)', async () => {
      const c = clock();
      const self = createSelfCheck({ runQueue: c.read });
      const mark = self.begin(); // its ticks run, as while a probe does
      const a = self.now();
      const b = self.now();
      await sleep(40);
      c.wait(20); // one wake-up delivers both probes' answers
      const first = self.late(a, performance.now());
      const second = self.late(b, performance.now());
      assert.ok(first >= 20 && second >= 20, `both stamps of the wake-up: ${first}, ${second} ms`);
      c.wait(5); // a later, shorter wait in a's interval
      const again = self.late(a, performance.now());
      assert.ok(again >= 20 && again < 25, `the longest wait, not 20 + 5: ${again} ms`);
      self.end(mark);
    });

    it('a stamp that ends the thread\'s own work (a TLS handshake) counts only its waits for a CPU, not the work', () => {
      const c = clock();
      const self = createSelfCheck({ runQueue: c.read });
      const mark = self.begin();
      const since = self.now();
      spin(30); // the key exchange: the thread busy, its ticks late
      c.wait(3); // and 3 ms waiting for a CPU
      const at = performance.now();
      const waited = self.waited(since, at);
      assert.ok(waited >= 3 && waited < 20, `waits only: ${waited} ms`);
      assert.ok(self.late(since, at) >= 25, 'late() counts the busy thread too');
      self.end(mark);
    });

    it('Linux\'s counter: this thread\'s /proc/thread-self/schedstat, its second field in ms', function () {
      const read = runQueueClock();
      if (process.platform !== 'linux') {
        assert.equal(read, undefined, 'no such file off Linux: the part counts 0');
        return;
      }
      assert.ok(read, 'the file opens on Linux');
      const field = (): number => Number(fs.readFileSync('/proc/thread-self/schedstat', 'latin1').split(' ')[1]) / 1e6;
      const before = field();
      const got = read();
      const after = field();
      assert.ok(got >= before && got <= after, `read ${got} ms between ${before} and ${after}`);
    });

    describe('its parsing', () => {
      let dir = '';
      before(() => { dir = makeScratch('heartbeat-schedstat-'); });
      after(() => removeScratch(dir));

      it('reads the second field in ns, as ms; no file: none', () => {
        const file = path.join(dir, 'schedstat');
        fs.writeFileSync(file, '9123456789 4567890123 812\n');
        assert.equal(runQueueClock(file)?.(), 4567.890123);
        assert.equal(runQueueClock(path.join(dir, 'absent')), undefined);
      });
    });
  });

  describe('the cgroup throttling counter', () => {
    let dir = '';
    before(() => { dir = makeScratch('heartbeat-cgroup-'); });
    after(() => removeScratch(dir));
    const write = (rel: string, text: string): void => {
      fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
      fs.writeFileSync(path.join(dir, rel), text);
    };

    it('cgroup v1, cpu,cpuacct: the process\'s own cgroup, throttled_time in ns', () => {
      write('v1/proc', '12:pids:/kubepods/pod1\n3:cpu,cpuacct:/kubepods/pod1/c1\n0::/\n');
      write('v1/root/cpu,cpuacct/kubepods/pod1/c1/cpu.stat', 'nr_periods 10\nnr_throttled 4\nthrottled_time 123456789\n');
      const s = throttleSource(path.join(dir, 'v1/proc'), path.join(dir, 'v1/root'));
      assert.deepEqual(s, { file: path.join(dir, 'v1/root/cpu,cpuacct/kubepods/pod1/c1/cpu.stat'), key: 'throttled_time' });
      assert.equal(readThrottledMs(s), 123.456789);
    });

    it('cgroup v1 in a container (its own cgroup namespace): the mount\'s root', () => {
      write('ns/proc', '1:cpu:/docker/abc\n');
      write('ns/root/cpu/cpu.stat', 'nr_periods 1\nnr_throttled 1\nthrottled_time 5000000\n');
      const s = throttleSource(path.join(dir, 'ns/proc'), path.join(dir, 'ns/root'));
      assert.equal(s?.file, path.join(dir, 'ns/root/cpu/cpu.stat'));
      assert.equal(readThrottledMs(s), 5);
    });

    it('cgroup v2: throttled_usec in µs', () => {
      write('v2/proc', '0::/system.slice/hb.service\n');
      write('v2/root/system.slice/hb.service/cpu.stat', 'usage_usec 100\nnr_periods 3\nnr_throttled 2\nthrottled_usec 2500\n');
      const s = throttleSource(path.join(dir, 'v2/proc'), path.join(dir, 'v2/root'));
      assert.deepEqual(s, { file: path.join(dir, 'v2/root/system.slice/hb.service/cpu.stat'), key: 'throttled_usec' });
      assert.equal(readThrottledMs(s), 2.5);
    });

    it('no cpu.stat (no controller, or a cpu.stat without throttling): none, and the check counts 0 throttling', () => {
      write('none/proc', '0::/\n');
      write('none/root/cpu.stat', 'usage_usec 100\n');
      assert.equal(throttleSource(path.join(dir, 'none/proc'), path.join(dir, 'none/root')), undefined);
      assert.equal(throttleSource(path.join(dir, 'absent'), dir), undefined);
    });

    it('the throttling during a probe is read at its end (its cause, beside the stamps\' lateness)', () => {
      write('live/proc', '1:cpu:/\n');
      write('live/root/cpu/cpu.stat', 'throttled_time 1000000\n');
      const source = throttleSource(path.join(dir, 'live/proc'), path.join(dir, 'live/root'));
      const self = createSelfCheck({ throttle: source });
      const mark = self.begin();
      write('live/root/cpu/cpu.stat', 'throttled_time 31000000\n'); // 30 ms throttled meanwhile
      assert.equal(self.end(mark), 30);
      assert.equal(self.late(0, performance.now()), 0, 'the timer saw no delay');
    });
  });
});

describe('probe lines: self_ms and family, and a slow peer holds only its own slot', function () {
  this.timeout(60_000);
  let peer: Running | undefined;
  let prober: Running | undefined;
  let proxy: Proxy | undefined;
  afterEach(async () => {
    kill(prober);
    kill(peer);
    await proxy?.close();
  });

  it('every line has self_ms and family, the metrics count self_ms; a slow peer does not slow a fast one\'s interval', async () => {
    peer = await startServer(['--host', '127.0.0.1']);
    const pair = await slowBesideFast(peer.port); // the slow target's answers come after the probe's timeout
    proxy = pair.proxy;
    const { slow, fast } = pair;
    prober = await startServer(['--host', '127.0.0.1', '--metrics', '--probe-targets', `${slow},${fast}`,
      '--probe-interval', '400', '--probe-timeout', '400', '--probe-sizes', '1024,2048,4096', '--probe-mtu-probes', '0']);
    const p = prober;
    await waitFor(() => probeLines(p).filter((l) => l.target === slow).length >= 3, 30_000, 'the slow peer\'s first probes');
    const { lines, metrics } = await quiet(p, p.port);
    const fastLines = lines.filter((l) => l.target === fast);
    const slowLines = lines.filter((l) => l.target === slow);
    // the slow peer takes 3 x 400 ms = 1.2 s a round, 3 intervals: it is skipped while busy; the fast one is not held
    assert.ok(fastLines.length >= 2 * slowLines.length, `fast ${fastLines.length} probes vs slow ${slowLines.length}`);
    for (const l of slowLines) assert.equal(l.outcome, 'timeout');
    for (const l of lines) {
      assert.equal(l.family, 'ipv4');
      assert.ok(Number(l.self_ms) >= 0 && Number.isFinite(Number(l.self_ms)), JSON.stringify(l));
    }
    assert.equal(metrics.get(`heartbeat_probe_self_seconds_count{target="${fast}",family="ipv4"}`), fastLines.length);
    assert.equal(metrics.get(`heartbeat_probe_self_seconds_count{target="${slow}",family="ipv4"}`), slowLines.length);
  });
});
