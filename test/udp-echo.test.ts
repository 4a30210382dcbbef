/**
 * The UDP echo responder (src/udp/), hostile input: the compiled heartbeat spawned on 127.0.0.1 and
 * spoken to over real UDP from loopback addresses. It answers well-formed questions only, with an
 * answer exactly the question's size, carries the counts the prober attributes loss with, drops
 * everything else silently (and counts it by reason), keeps within its per-source and total rate
 * limits under a flood, and its memory stays flat while the flood churns its tables.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { DATAGRAM_BYTES, OFFSET, TYPE, writeQuestion } from '../src/udp/datagram';
import { PER_SOURCE, SOURCE_SLOTS, SourceBuckets, TokenBucket, TOTAL } from '../src/udp/limits';
import { refusedSources } from '../src/udp/sources';
import { rssKiB } from './helpers/proc';
import { scrape } from './helpers/probe';
import { kill, request, sleep, startServer, type Running } from './helpers/server';

interface Client {
  socket: dgram.Socket;
  answers: Buffer[];
  send(b: Buffer): Promise<void>;
  close(): void;
}

/** A UDP socket bound to `address` (a loopback address), keeping every datagram it receives. */
function client(address: string): Promise<Client> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4');
    const answers: Buffer[] = [];
    socket.on('message', (m: Buffer) => answers.push(m));
    socket.once('error', reject);
    socket.bind(0, address, () => resolve({
      socket,
      answers,
      send: (b) => new Promise((r, j) => socket.send(b, port, '127.0.0.1', (e) => (e ? j(e) : r()))),
      close: () => socket.close(),
    }));
  });
}

let port = 0;
const question = (type: typeof TYPE.echo | typeof TYPE.count, id: Buffer, seq: number): Buffer =>
  writeQuestion(Buffer.alloc(DATAGRAM_BYTES), type, id, seq, 1234.5);

describe('UDP echo responder: hostile input over real UDP', function () {
  this.timeout(60_000);
  let server: Running | undefined;

  const counters = async (): Promise<Map<string, number>> => scrape((await request(port, 'GET', '/metrics')).body.toString());
  const dropped = async (reason: string): Promise<number> => (await counters()).get(`heartbeat_udp_echo_dropped_total{reason="${reason}"}`) ?? NaN;
  const answered = async (): Promise<number> => (await counters()).get('heartbeat_udp_echo_answered_total') ?? NaN;

  before(async () => {
    server = await startServer(['--host', '127.0.0.1', '--metrics']);
    port = server.port;
    assert.ok(server.lines.some((l) => l.includes('"listener":"udp"') && l.includes(`"port":${port}`)), 'the udp listening line');
  });
  after(() => kill(server));

  it('answers a well-formed echo with the question\'s own size, its sequence, send time and the counts so far', async () => {
    const c = await client('127.0.0.1');
    const id = randomBytes(8);
    for (let seq = 0; seq < 3; seq++) await c.send(question(TYPE.echo, id, seq));
    await c.send(question(TYPE.count, id, 0));
    await sleep(300);
    c.close();
    assert.equal(c.answers.length, 4);
    for (const a of c.answers) {
      assert.equal(a.length, DATAGRAM_BYTES, 'never larger than the question');
      assert.ok(a.subarray(OFFSET.id, OFFSET.id + 8).equals(id));
    }
    const echoes = c.answers.filter((a) => a[OFFSET.type] === TYPE.echoAnswer).sort((a, b) => a.readUInt32BE(OFFSET.seq) - b.readUInt32BE(OFFSET.seq));
    assert.deepEqual(echoes.map((a) => a.readUInt32BE(OFFSET.seq)), [0, 1, 2]);
    assert.deepEqual(echoes.map((a) => a.readDoubleBE(OFFSET.sentAt)), [1234.5, 1234.5, 1234.5]);
    assert.deepEqual(echoes.map((a) => a.readUInt32BE(OFFSET.received)).sort(), [1, 2, 3]);
    const count = c.answers.find((a) => a[OFFSET.type] === TYPE.countAnswer) as Buffer;
    assert.equal(count.readUInt32BE(OFFSET.received), 3, 'the count answer: 3 echoes received');
    assert.equal(count.readUInt32BE(OFFSET.highest), 2, 'highest sequence 2');
  });

  it('drops malformed, short, oversized, wrong magic/version/type and answers (no loops) silently, counting each', async () => {
    const before = await dropped('malformed');
    const c = await client('127.0.0.1');
    const id = randomBytes(8);
    const good = question(TYPE.echo, id, 7);
    const bad: Buffer[] = [
      Buffer.alloc(0),
      good.subarray(0, DATAGRAM_BYTES - 1), // short
      Buffer.concat([good, Buffer.alloc(1)]), // one byte over
      Buffer.concat([good, Buffer.alloc(1400 - DATAGRAM_BYTES)]), // oversized: amplification bait
      Buffer.concat([good, Buffer.alloc(60_000)]),
      randomBytes(DATAGRAM_BYTES),
      Buffer.from('GET /heartbeat/1 HTTP/1.1\r\nHost: x\r\n\r\n'),
    ];
    const mutate = (at: number, value: number): Buffer => { const b = Buffer.from(good); b[at] = value; return b; };
    bad.push(mutate(0, 0x47)); // magic
    bad.push(mutate(OFFSET.version, 2)); // version
    for (const type of [0, TYPE.echoAnswer, TYPE.countAnswer, 5, 255]) bad.push(mutate(OFFSET.type, type));
    bad.push(mutate(6, 1)); // reserved
    bad.push(mutate(OFFSET.received, 1)); // a count filled in by the sender
    bad.push(mutate(OFFSET.highest + 3, 1));
    bad.push(mutate(29, 1));
    for (const b of bad) await c.send(b);
    await sleep(300);
    c.close();
    assert.deepEqual(c.answers, [], 'nothing answered');
    assert.equal(await dropped('malformed'), before + bad.length);
  });

  it('refuses port 0, multicast, broadcast, unspecified and its own address:port as sources; answers others', () => {
    const s = refusedSources(8080, '10.1.2.3');
    for (const [a, p] of [
      ['10.9.9.9', 0], ['224.0.0.1', 5000], ['239.255.255.250', 1900], ['255.255.255.255', 68], ['0.0.0.0', 5000],
      ['ff02::1', 5000], ['FF05::1:3', 547], ['::', 5000], ['::ffff:224.0.0.251', 5353], ['10.1.2.3', 8080], ['::ffff:10.1.2.3', 8080],
      ['127.0.0.1', 8080],
    ] as const) assert.equal(s.refused(a, p), true, `${a}:${p}`);
    for (const [a, p] of [
      ['10.1.2.3', 40000], ['10.9.9.9', 8080], ['127.0.0.2', 8080], ['fe80::1', 5000], ['2001:db8::1', 5000], ['f00::1', 5000], ['::ffff:10.9.9.9', 5000],
    ] as const) assert.equal(s.refused(a, p), false, `${a}:${p}`);
  });

  it('answers another loopback source, each source in its own bucket: a flood from one does not starve the other', async () => {
    const flooder = await client('127.0.0.1');
    const other = await client('127.0.0.2');
    const before = { answered: await answered(), limited: await dropped('rate_source') };
    const id = randomBytes(8);
    const flood = 3 * PER_SOURCE.burst;
    const t0 = Date.now();
    for (let i = 0; i < flood; i++) {
      flooder.socket.send(question(TYPE.echo, id, i), port, '127.0.0.1');
      // paced in bursts of 50, so the kernel's receive buffer does not drop the flood before the responder sees it
      if (i % 50 === 49) await sleep(2);
    }
    await sleep(50);
    const otherId = randomBytes(8);
    for (let i = 0; i < 5; i++) await other.send(question(TYPE.echo, otherId, i));
    await sleep(500);
    const elapsed = (Date.now() - t0) / 1000;
    flooder.close();
    other.close();
    assert.equal(other.answers.length, 5, `the other source is answered in full (the flood: ${flooder.answers.length} answers)`);
    const got = (await answered()) - before.answered - 5;
    const limited = (await dropped('rate_source')) - before.limited;
    assert.ok(got <= PER_SOURCE.burst + PER_SOURCE.rate * elapsed, `answered ${got} of ${flood} within the burst ${PER_SOURCE.burst} + ${PER_SOURCE.rate}/s over ${elapsed} s`);
    assert.ok(got >= PER_SOURCE.burst, `the burst is answered: ${got}`);
    // the kernel may drop some of the flood before the responder reads it (its socket buffer): at most `flood` seen
    assert.ok(limited > 0 && got + limited <= flood, `the flood answered (${got}) or dropped as rate_source (${limited}), of ${flood}`);
    assert.ok(flooder.answers.length <= got && flooder.answers.every((a) => a.length === DATAGRAM_BYTES));
  });

  it('a flood from many sources stays within the total limit, and memory stays flat while it churns the tables', async function () {
    const pid = server?.proc.pid as number;
    // 200 loopback sources, each under its own burst, together past the total's
    const sources = await Promise.all(Array.from({ length: 200 }, (_v, i) => client(`127.0.${1 + (i >> 8)}.${(i & 255) + 10}`)));
    const per = Math.floor(PER_SOURCE.burst * 0.9);
    const before = { answered: await answered(), total: await dropped('rate_total'), source: await dropped('rate_source') };
    const rss0 = rssKiB(pid);
    const t0 = Date.now();
    let sent = 0;
    for (let round = 0; round < 3; round++) {
      for (const s of sources) {
        // a fresh probe id per datagram: the count table churns
        for (let i = 0; i < per / 3; i++) { s.socket.send(question(TYPE.echo, randomBytes(8), i), port, '127.0.0.1'); sent++; }
        if (sent % 2000 < per) await sleep(1); // let the sockets drain so the kernel does not drop the flood before the responder sees it
      }
    }
    await sleep(1000);
    const elapsed = (Date.now() - t0) / 1000;
    const got = (await answered()) - before.answered;
    const overTotal = (await dropped('rate_total')) - before.total;
    const overSource = (await dropped('rate_source')) - before.source;
    const rss1 = rssKiB(pid);
    for (const s of sources) s.close();
    assert.ok(sent > TOTAL.burst, `the flood (${sent}) exceeds the total burst`);
    assert.ok(got <= TOTAL.burst + TOTAL.rate * elapsed, `answered ${got} within ${TOTAL.burst} + ${TOTAL.rate}/s over ${elapsed} s`);
    assert.ok(got + overTotal + overSource <= sent, 'nothing answered twice');
    // whether the flood outran the total limit depends on how fast this machine sent it: when the responder saw
    // more than the limit allows, the total bucket dropped the rest (its exact arithmetic: the unit tests below)
    if (got + overTotal > TOTAL.burst + TOTAL.rate * elapsed) assert.ok(overTotal > 0);
    assert.ok(rss1 - rss0 < 24 * 1024, `RSS grew ${rss1 - rss0} KiB over ${sent} datagrams from 200 sources (from ${rss0} KiB)`);
  });
});

describe('UDP echo responder: the udpEcho setting and its port', function () {
  this.timeout(30_000);
  let server: Running | undefined;
  afterEach(() => kill(server));

  it('--udp-echo=false: no UDP listener, a question goes unanswered', async () => {
    server = await startServer(['--host', '127.0.0.1', '--udp-echo=false']);
    port = server.port;
    const c = await client('127.0.0.1');
    await c.send(question(TYPE.echo, randomBytes(8), 0));
    await sleep(300);
    c.close();
    assert.deepEqual(c.answers, []);
    assert.ok(!server.lines.some((l) => l.includes('"listener":"udp"')));
  });

  it('HEARTBEAT_UDP_ECHO=off turns it off too; on by default', async () => {
    server = await startServer(['--host', '127.0.0.1'], { env: { HEARTBEAT_UDP_ECHO: 'off' } });
    assert.ok(!server.lines.some((l) => l.includes('"listener":"udp"')));
    await server.stop();
    server = await startServer(['--host', '127.0.0.1']);
    assert.ok(server.lines.some((l) => l.includes('"listener":"udp"')));
  });

  it('the UDP port taken: exits 1 naming UDP and the setting that turns it off', async () => {
    const taken = dgram.createSocket('udp4');
    await new Promise<void>((r) => taken.bind(0, '127.0.0.1', () => r()));
    const busy = taken.address().port;
    try {
      const r = await import('./helpers/server').then((m) => m.runCli(['--port', String(busy), '--host', '127.0.0.1']));
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`cannot listen on UDP 127\\.0\\.0\\.1:${busy} \\(UDP echo on the --port number; --udp-echo=false turns it off\\): EADDRINUSE`));
    } finally {
      taken.close();
    }
  });
});

describe('UDP echo responder: the token buckets (a clock of our own)', () => {
  it('a bucket gives its burst at once, then its rate, never more than its burst after an idle spell', () => {
    const b = new TokenBucket(TOTAL.rate, TOTAL.burst);
    let given = 0;
    for (let i = 0; i < TOTAL.burst + 100; i++) if (b.take(0)) given++;
    assert.equal(given, TOTAL.burst);
    given = 0;
    for (let i = 0; i < 1000; i++) if (b.take(50)) given++; // 50 ms later: 500 more
    assert.equal(given, TOTAL.rate / 20);
    given = 0;
    for (let i = 0; i < 3 * TOTAL.burst; i++) if (b.take(3_600_000)) given++; // an hour idle: still one burst
    assert.equal(given, TOTAL.burst);
  });

  it('per source: each address its own burst and rate; a new address in a taken slot starts afresh; the table never grows', () => {
    const b = new SourceBuckets();
    const count = (address: string, at: number, n: number): number => {
      let given = 0;
      for (let i = 0; i < n; i++) if (b.take(address, at)) given++;
      return given;
    };
    assert.equal(count('10.0.0.1', 0, 1000), PER_SOURCE.burst);
    assert.equal(count('10.0.0.2', 0, 1000), PER_SOURCE.burst, 'another source is not starved by the first');
    assert.equal(count('10.0.0.1', 1000, 1000), PER_SOURCE.rate, 'one second later: its rate');
    // many more sources than slots: each is limited, and memory is the fixed table
    let given = 0;
    for (let i = 0; i < 4 * SOURCE_SLOTS; i++) given += count(`10.1.${i >> 8}.${i & 255}`, 2000, 2);
    assert.equal(given, 8 * SOURCE_SLOTS);
  });
});
