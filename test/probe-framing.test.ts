/**
 * Bodies as proxies send them: a real heartbeat behind a proxy on loopback that re-frames
 * its answers (test/helpers/rechunk-proxy.ts), chunked or close-delimited, correctly or
 * spoiled one way; and peers that answer something that is not HTTP and hold the
 * connection open. The verdict is on the bytes (docs/probe.md, What one probe measures).
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { probeLines, type ProbeLine } from './helpers/probe';
import { startRechunkProxy, type Reframe, type RechunkProxy } from './helpers/rechunk-proxy';
import { kill, startServer, waitFor, type Running } from './helpers/server';

// Generous on purpose: outcomes are checked here, not speed; on a loaded machine a re-chunked 64 KiB probe has taken
// over the 2 s this was, and failed as timeout.
const TIMEOUT_MS = 4000;

describe('probe body framing', function () {
  this.timeout(60_000);
  let peer: Running | undefined;
  let prober: Running | undefined;
  let proxy: RechunkProxy | undefined;
  before(async () => { peer = await startServer(['--host', '127.0.0.1']); });
  after(() => kill(peer));
  afterEach(async () => {
    kill(prober);
    prober = undefined;
    await proxy?.close();
    proxy = undefined;
  });

  async function probeOf(target: string, args: string[], n: number): Promise<ProbeLine[]> {
    prober = await startServer(['--host', '127.0.0.1', '--probe-targets', target, '--probe-interval', String(TIMEOUT_MS),
      '--probe-timeout', String(TIMEOUT_MS), ...args]);
    const p = prober;
    await waitFor(() => probeLines(p).length >= n, 60_000, `${n} probe lines`);
    return probeLines(p).slice(0, n);
  }

  it('a body re-chunked by a proxy (sizes 1 to 64 KiB, extensions, a trailer) is ok, GET and upload, and reuse keeps the connection', async () => {
    proxy = await startRechunkProxy(peer!.port, 'chunked');
    const lines = await probeOf(`http://127.0.0.1:${proxy.port}`,
      ['--probe-sizes', '1,1024,200000', '--probe-upload', '3000', '--probe-connection', 'reuse'], 8);
    for (const l of lines) assert.equal(l.outcome, 'ok', JSON.stringify(l));
    assert.deepEqual(lines.slice(0, 4).map((l) => [l.method, l.size, l.bytes]),
      [['GET', '1', '1'], ['GET', '1024', '1024'], ['GET', '200000', '200000'], ['POST', '3000', '3000']]);
    assert.equal(proxy.connections, 1, 'one kept connection through the re-chunking proxy for two rounds');
  });

  const spoiled: [Reframe, string, string][] = [
    ['chunked-flip', 'corrupt', 'one flipped byte in a chunk'],
    ['chunked-cut', 'short', 'closed before the last chunk'],
    ['chunked-bad', 'corrupt', 'a chunk size that is not hex'],
    ['close-cut', 'short', 'closed 10 bytes before the end'],
    ['close-extra', 'corrupt', '5 bytes more than asked before the close'],
  ];
  for (const [mode, outcome, what] of spoiled) {
    it(`${what} (${mode}): ${outcome}`, async () => {
      proxy = await startRechunkProxy(peer!.port, mode);
      const [l] = await probeOf(`http://127.0.0.1:${proxy.port}`, ['--probe-sizes', '1024'], 1) as [ProbeLine];
      assert.equal(l.outcome, outcome, JSON.stringify(l));
      assert.equal(l.status, '200');
      if (mode === 'close-cut') assert.equal(l.bytes, '1014');
    });
  }

  it('a close-delimited body (no length, the close ends it) is ok; reuse cannot keep such a connection', async () => {
    proxy = await startRechunkProxy(peer!.port, 'close');
    const lines = await probeOf(`http://127.0.0.1:${proxy.port}`, ['--probe-sizes', '1024,65536', '--probe-connection', 'reuse'], 4);
    for (const l of lines) assert.equal(l.outcome, 'ok', JSON.stringify(l));
    assert.deepEqual(lines.map((l) => l.bytes), ['1024', '65536', '1024', '65536']);
    assert.equal(proxy.connections, 4, 'a connection per probe');
  });

  /** A peer that writes `banner` (on connect, or after the request) and then holds the connection open. */
  async function holdOpen(banner: Buffer, afterRequest: boolean): Promise<{ port: number; close(): void }> {
    const held = new Set<net.Socket>();
    const server = net.createServer((s) => {
      held.add(s);
      s.on('error', () => undefined);
      if (afterRequest) s.once('data', () => s.write(banner));
      else s.write(banner);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return { port: (server.address() as net.AddressInfo).port, close: () => { for (const s of held) s.destroy(); server.close(); } };
  }

  /** A peer that answers `answer` to the first request, then `close`s or holds the connection open. */
  async function answers(answer: string, close: boolean): Promise<{ port: number; close(): void }> {
    const held = new Set<net.Socket>();
    const server = net.createServer((s) => {
      held.add(s);
      s.on('error', () => undefined);
      s.once('data', () => (close ? s.end(answer, 'latin1') : s.write(answer, 'latin1')));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return { port: (server.address() as net.AddressInfo).port, close: () => { for (const s of held) s.destroy(); server.close(); } };
  }

  const PATTERN_16 = '0123456789ABCDEF';
  const raw: [string, string, boolean, string][] = [
    ['an interim 103 Early Hints before the 200', `HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\n${PATTERN_16}`, false, 'ok'],
    ['a Transfer-Encoding that does not end in chunked: read until the close', `HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\n${PATTERN_16}`, true, 'ok'],
    ['chunked and a Content-Length: the chunks win', `HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n${PATTERN_16}\r\n0\r\n\r\n`, false, 'ok'],
    ['a Content-Length above the size asked', `HTTP/1.1 200 OK\r\nContent-Length: 32\r\n\r\n${PATTERN_16}${PATTERN_16}`, false, 'corrupt'],
    ['chunks with more data than asked', `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n11\r\n${PATTERN_16}0\r\n0\r\n\r\n`, false, 'corrupt'],
    ['a Content-Length below the size asked', `HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n01234567`, false, 'short'],
  ];
  for (const [what, answer, close, outcome] of raw) {
    it(`${what}: ${outcome}`, async () => {
      const peer1 = await answers(answer, close);
      try {
        const [l] = await probeOf(`http://127.0.0.1:${peer1.port}`, ['--probe-sizes', '16'], 1) as [ProbeLine];
        assert.equal(l.outcome, outcome, JSON.stringify(l));
        assert.equal(l.status, '200');
      } finally {
        peer1.close();
      }
    });
  }

  const notHttp: [string, Buffer, boolean][] = [
    ['an SSH banner on connect', Buffer.from('SSH-2.0-OpenSSH_9.6\r\n'), false],
    ['a TLS alert after the request', Buffer.from([0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x46]), true],
    ['HTTP/2 after the request', Buffer.from('HTTP/2 200\r\n'), true],
    ['a status line with a two-digit code', Buffer.from('HTTP/1.1 20 OK\r\n'), true],
  ];
  for (const [what, banner, afterRequest] of notHttp) {
    it(`${what}, the connection held open: status 0, not timeout`, async () => {
      const hold = await holdOpen(banner, afterRequest);
      try {
        const [l] = await probeOf(`http://127.0.0.1:${hold.port}`, ['--probe-sizes', '1024'], 1) as [ProbeLine];
        assert.equal(l.outcome, 'status', JSON.stringify(l));
        assert.equal(l.status, '0');
      } finally {
        hold.close();
      }
    });
  }
});
