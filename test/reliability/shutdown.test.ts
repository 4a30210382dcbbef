/**
 * SIGTERM under keep-alive load: /readyz turns 503 on a busy connection, every
 * request the server accepted completes with 200 and its full length, the
 * process exits 0, and every request it served is in the log. Requests it never
 * accepted fail only as "refused" or "closed before any response byte".
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import {
  heartbeatProblem, KeepAliveConnection, RequestFailure, requestBytes, ResponseParser, type FailureKind, type RawResponse,
} from '../helpers/raw-http';
import { kill, startServer, waitFor, type Running } from '../helpers/server';

const KIB = 1024;
const MIB = 1024 * KIB;

/** Pipelines a GET of each size on one connection and reads nothing until the test resumes the socket. */
function pipelineUnread(port: number, sizes: number[]): { sock: net.Socket; parser: ResponseParser; got: RawResponse[]; closed: Promise<void> } {
  const sock = net.connect(port, '127.0.0.1');
  const parser = new ResponseParser({ checkPattern: true });
  const got: RawResponse[] = [];
  sock.on('data', (c: Buffer) => got.push(...parser.push(c)));
  sock.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => { sock.on('close', () => resolve()); });
  sock.pause();
  for (const _ of sizes) parser.expect(false);
  sock.write(Buffer.concat(sizes.map((n) => requestBytes({ method: 'GET', target: `/heartbeat/${n}` }))));
  return { sock, parser, got, closed };
}

/** The load mix: GETs of several sizes and an upload; each as keep-alive and as `Connection: close` bytes. */
const MIX = [
  { spec: { method: 'GET', target: '/heartbeat/1024' }, size: 1024 },
  { spec: { method: 'GET', target: `/heartbeat/${64 * KIB}` }, size: 64 * KIB },
  { spec: { method: 'POST', target: '/heartbeat/1024', body: 64 * KIB }, size: 1024 },
  { spec: { method: 'GET', target: `/heartbeat/${MIB}` }, size: MIB },
  { spec: { method: 'GET', target: `/heartbeat/${4 * MIB}` }, size: 4 * MIB },
].map((m) => ({ ...m, keepAlive: requestBytes(m.spec), close: requestBytes({ ...m.spec, close: true }) }));

interface Tally {
  complete: number;
  /** Complete responses that arrived after SIGTERM was sent. */
  completeAfterSignal: number;
  wrong: string[];
  failures: Partial<Record<FailureKind, number>>;
}

/**
 * A client looping over the mix on keep-alive connections (or a new connection
 * per request with `fresh`), reconnecting when a connection ends, until a
 * connection is refused or `maxRequests` have been sent.
 */
async function loadClient(port: number, fresh: boolean, offset: number, maxRequests: number, t: Tally, signalled: () => boolean): Promise<void> {
  let conn: KeepAliveConnection | undefined;
  for (let i = 0; i < maxRequests; i++) {
    const m = MIX[(offset + i) % MIX.length]!;
    try {
      if (!conn || !conn.reusable) {
        conn?.close();
        conn = await KeepAliveConnection.connect(port);
      }
      const r = await conn.send(fresh ? m.close : m.keepAlive);
      const p = heartbeatProblem(r, m.size);
      if (p) t.wrong.push(p);
      t.complete++;
      if (signalled()) t.completeAfterSignal++;
    } catch (e) {
      if (!(e instanceof RequestFailure)) throw e;
      t.failures[e.kind] = (t.failures[e.kind] ?? 0) + 1;
      if (e.kind !== 'refused' && e.kind !== 'closed-before-response') t.wrong.push(`${m.spec.method} ${m.spec.target}: ${e.message}${fresh ? ' (new connection)' : ''}`);
      conn?.close();
      conn = undefined;
      if (e.kind === 'refused') return;
    }
  }
  conn?.close();
}

describe('reliability: SIGTERM under load', function () {
  this.timeout(90_000);
  let hb: Running | undefined;
  afterEach(() => kill(hb));

  it('finishes every accepted request, turns /readyz 503 on a busy connection, exits 0, and logs all it served', async () => {
    hb = await startServer(['--max', String(16 * MIB), '--log']);
    const { port } = hb;
    const tally: Tally = { complete: 0, completeAfterSignal: 0, wrong: [], failures: {} };
    let signalled = false;

    // A busy connection: a 16 MiB download we hold paused across the signal.
    const busy = net.connect(port, '127.0.0.1');
    const busyParser = new ResponseParser({ checkPattern: true });
    const busyResponses: RawResponse[] = [];
    let busyBytes = 0;
    const busyClosed = new Promise<void>((resolve) => { busy.on('close', () => resolve()); });
    busy.on('error', () => undefined);
    busy.on('data', (c: Buffer) => {
      busyBytes += c.length;
      busyResponses.push(...busyParser.push(c));
      if (!signalled && busyBytes > 256 * KIB) busy.pause();
    });
    busyParser.expect(false);
    busy.write(requestBytes({ method: 'GET', target: `/heartbeat/${16 * MIB}` }));

    // Eight clients: six on keep-alive connections, two with a new connection per request.
    const clients = Array.from({ length: 8 }, (_, i) => loadClient(port, i >= 6, i, 3000, tally, () => signalled));
    await waitFor(() => tally.complete >= 80 && busyBytes > 256 * KIB, 30_000, 'load to get going');

    const exited = hb.stop('SIGTERM');
    signalled = true;
    await waitFor(() => hb!.lines.some((l) => l.includes('\tshutdown begun\t')), 5000, 'shutdown begun');
    // A request on the busy connection, behind the download still in progress.
    busyParser.expect(false);
    busy.write(requestBytes({ method: 'GET', target: '/readyz' }));
    busy.resume();
    await busyClosed;
    await Promise.all(clients);
    assert.equal(await exited, 0, 'exit code');

    // The busy connection: the download complete, then readyz 503 and the connection closed.
    assert.equal(busyResponses.length, 2, `busy connection got ${busyResponses.length} responses`);
    assert.equal(heartbeatProblem(busyResponses[0]!, 16 * MIB), undefined);
    assert.equal(busyResponses[1]!.status, 503);
    assert.equal(busyResponses[1]!.headers.connection, 'close');

    // Clients: no wrong or cut response; failures only for requests never accepted.
    assert.deepEqual(tally.wrong, [], hb.lines.filter((l) => l.includes('\ttrue')).join('\n'));
    const { refused = 0, 'closed-before-response': notAnswered = 0, ...others } = tally.failures;
    assert.deepEqual(others, {}, 'failures other than refused / closed before any response byte');
    assert.ok(refused >= 8, `every client ends on a refused connection (${refused})`);
    assert.ok(tally.completeAfterSignal >= 1, 'requests completed after SIGTERM');

    // The log: one line per response the clients received complete, all 200 (and the 503), none aborted.
    const lines = hb.lines.filter((l) => l.split('\t')[1] === 'request').map((l) => l.split('\t'));
    const served = tally.complete + busyResponses.length;
    assert.equal(lines.length, served, `log lines ${lines.length}; responses received ${served} (${notAnswered} requests were never answered)`);
    assert.deepEqual(lines.filter((c) => c[9] !== 'false').map((c) => c.join(' ')), [], 'aborted requests');
    assert.deepEqual([...new Set(lines.map((c) => c[2]))].sort(), ['200', '503']);
    assert.ok(hb.lines.some((l) => l.includes('\tshutdown done\t')));
  });
  it('does not cut a response still queued in the socket when SIGTERM comes (a client that stopped reading)', async () => {
    hb = await startServer(['--log']);
    // 24 pipelined 1 MiB GETs to a client that does not read: the kernel's buffers fill, and the
    // response being written when the signal comes has bytes still queued in the server.
    const { sock, parser, got, closed } = pipelineUnread(hb.port, Array.from({ length: 24 }, () => MIB));
    // Wait until the server has written what the kernel takes (its request log shows responses done).
    await waitFor(() => hb!.lines.filter((l) => l.includes('\trequest\t')).length >= 1, 10_000, 'the first responses');

    const exited = hb.stop('SIGTERM');
    await waitFor(() => hb!.lines.some((l) => l.includes('\tshutdown begun\t')), 5000, 'shutdown begun');
    sock.resume();
    await closed;
    assert.equal(await exited, 0);
    assert.ok(!parser.midResponse, `the connection ended in the middle of a response: ${parser.progress()}`);
    assert.ok(got.length >= 2, `${got.length} responses`);
    for (const r of got) assert.equal(heartbeatProblem(r, MIB), undefined);
    const logged = hb.lines.filter((l) => l.includes('\trequest\t')).map((l) => l.split('\t'));
    assert.equal(logged.length, got.length, 'one log line per response received');
    assert.deepEqual(logged.filter((c) => c[9] !== 'false'), [], 'no response logged as aborted');
  });

  it('does not cut pipelined responses queued behind one still being streamed when SIGTERM comes (8 x 1 MiB + 8 MiB)', async () => {
    hb = await startServer(['--log', '--max', String(8 * MIB), '--drain-timeout', '30000']);
    // The 1 MiB answers end at once (one write each) and wait in the server behind each other; the last,
    // 8 MiB, is streamed and has not ended: the drain must wait for all of them, not only for the last.
    const sizes = [...Array.from({ length: 8 }, () => MIB), 8 * MIB];
    const { sock, parser, got, closed } = pipelineUnread(hb.port, sizes);
    await waitFor(() => hb!.lines.filter((l) => l.includes('\trequest\t')).length >= 1, 10_000, 'the first response written');

    const exited = hb.stop('SIGTERM');
    await waitFor(() => hb!.lines.some((l) => l.includes('\tshutdown begun\t')), 5000, 'shutdown begun');
    await new Promise((r) => setTimeout(r, 1000)); // what the drain would cut, it cuts now
    sock.resume();
    await closed;
    assert.equal(await exited, 0);
    assert.ok(!parser.midResponse, `the connection ended in the middle of a response: ${parser.progress()}`);
    assert.deepEqual(got.map((r) => r.bodyBytes), sizes, `${got.length} of ${sizes.length} answers`);
    got.forEach((r, i) => assert.equal(heartbeatProblem(r, sizes[i] as number), undefined));
    const logged = hb.lines.filter((l) => l.includes('\trequest\t')).map((l) => l.split('\t'));
    assert.equal(logged.length, sizes.length);
    assert.deepEqual(logged.filter((c) => c[9] !== 'false'), [], 'no response logged as aborted');
  });
});
