/**
 * Every exchange answered and logged once, its own, over raw sockets (issue 18, items 1-4):
 * a request whose headers are still arriving when SIGTERM comes is answered; pipelined responses
 * cut by a disconnect are each logged and counted (Node 20 too); requests the parser rejects are
 * logged with their own method and target, never a header's; a body cut by the request timeout
 * gets a 408 with the common headers, logged as a 408.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { ResponseParser, requestBytes, type RawResponse } from '../helpers/raw-http';
import { kill, request, sleep, startServer, waitFor, type Running } from '../helpers/server';

const MIB = 1024 * 1024;

/** The request lines of the log, split into columns. */
const requestLines = (hb: Running): string[][] => hb.lines.filter((l) => l.split('\t')[1] === 'request').map((l) => l.split('\t'));

interface Conn {
  sock: net.Socket;
  responses: RawResponse[];
  parser: ResponseParser;
  /** Resolves when the server has closed the connection (or it was reset). */
  closed: Promise<void>;
  /** Resolves once `n` responses have arrived. */
  responsesArrived(n: number): Promise<void>;
}

function connect(port: number): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const parser = new ResponseParser({ keepBody: true });
    const responses: RawResponse[] = [];
    const waiters: Array<{ n: number; done: () => void }> = [];
    const closed = new Promise<void>((r) => sock.on('close', () => r()));
    sock.on('data', (c: Buffer) => {
      responses.push(...parser.push(c));
      for (const w of waiters) if (responses.length >= w.n) w.done();
    });
    sock.on('error', () => undefined);
    sock.once('connect', () => resolve({
      sock, responses, parser, closed,
      responsesArrived: (n) => new Promise<void>((done, fail) => {
        if (responses.length >= n) return done();
        waiters.push({ n, done });
        void closed.then(() => (responses.length >= n ? done() : fail(new Error(`closed after ${responses.length} of ${n} responses`))));
      }),
    }));
    sock.once('error', reject);
  });
}

/** A response carries the headers every heartbeat answer carries. */
function assertCommonHeaders(r: RawResponse): void {
  assert.equal(r.headers['cache-control'], 'no-cache');
  assert.equal(r.headers['x-content-type-options'], 'nosniff');
  assert.match(r.headers['content-type'] ?? '', /^text\/plain/);
  assert.equal(r.headers.connection, 'close');
}

describe('reliability: every exchange answered and logged once, its own', function () {
  this.timeout(60_000);
  let hb: Running | undefined;
  afterEach(() => kill(hb));

  describe('SIGTERM', () => {
    it('answers a request whose headers were still arriving when the signal came, and logs it', async () => {
      // headersTimeout is not checked once the drain has begun: drainTimeout bounds it.
      hb = await startServer(['--log', '--drain-timeout', '30000', '--headers-timeout', '600']);
      const c = await connect(hb.port);
      c.parser.expect(false);
      c.sock.write('GET /heartbeat/17 HTTP/1.1\r\nHost: x\r\n');
      // The bytes reach the server before the signal (a request Node has begun to parse).
      await sleep(200);
      const exited = hb.stop('SIGTERM');
      await waitFor(() => hb!.lines.some((l) => l.includes('\tshutdown begun\t')), 5000, 'shutdown begun');
      await sleep(1000);
      c.sock.write('\r\n');
      await c.responsesArrived(1);
      await c.closed;
      assert.equal(await exited, 0);
      const [r] = c.responses;
      assert.equal(r?.status, 200);
      assert.equal(r.bodyBytes, 17);
      assert.equal(r.headers.connection, 'close', 'the drain closes the connection after it');
      const lines = requestLines(hb);
      assert.deepEqual(lines.map((l) => [l[2], l[6], l[7], l[9]]), [['200', 'GET', '/heartbeat/17', 'false']]);
    });

    it('closes an idle keep-alive connection; one that just connected gets 0.5 s for its request (answered), then is closed', async () => {
      hb = await startServer(['--log', '--drain-timeout', '30000']);
      const idle = await connect(hb.port);
      idle.parser.expect(false);
      idle.sock.write(requestBytes({ method: 'GET', target: '/heartbeat/17' }));
      await idle.responsesArrived(1);
      const fresh = await connect(hb.port);
      const silent = await connect(hb.port);
      await sleep(100); // the server has accepted them
      const signalled = Date.now();
      const exited = hb.stop('SIGTERM');
      await waitFor(() => hb!.lines.some((l) => l.includes('\tshutdown begun\t')), 5000, 'shutdown begun');
      // A connection that has sent nothing yet may be about to (Node 26 would close it at once; Node 20 keeps it)
      fresh.parser.expect(false);
      fresh.sock.write(requestBytes({ method: 'GET', target: '/heartbeat/5' }));
      await fresh.responsesArrived(1);
      await fresh.closed;
      assert.equal(fresh.responses[0]?.status, 200);
      assert.equal(fresh.responses[0]?.headers.connection, 'close');
      // closed by the server, not by the drain timeout (30 s)
      await idle.closed;
      assert.equal(idle.responses.length, 1);
      await silent.closed;
      assert.equal(silent.responses.length, 0);
      assert.ok(Date.now() - signalled < 10_000, 'closed long before the drain timeout');
      assert.equal(await exited, 0);
      // the silent one sent no request: nothing to log
      assert.deepEqual(requestLines(hb).map((l) => l[7]), ['/heartbeat/17', '/heartbeat/5']);
    });
  });

  it('logs and counts each of 20 pipelined responses cut by a disconnect, and in-flight returns to 0', async () => {
    hb = await startServer(['--log', '--metrics']);
    const sock = net.connect(hb.port, '127.0.0.1');
    sock.on('error', () => undefined);
    await new Promise<void>((r) => sock.once('connect', () => r()));
    sock.pause(); // a client that does not read: most responses stay queued in the server
    sock.write(Buffer.concat(Array.from({ length: 20 }, () => requestBytes({ method: 'GET', target: `/heartbeat/${MIB}` }))));
    await sleep(500);
    sock.destroy();

    await waitFor(() => requestLines(hb!).length >= 20, 10_000, '20 request lines');
    const lines = requestLines(hb);
    assert.equal(lines.length, 20);
    assert.ok(lines.every((l) => l[2] === '200' && l[7] === `/heartbeat/${MIB}`), lines.map((l) => l.join(' ')).join('\n'));
    assert.ok(lines.some((l) => l[9] === 'true'), 'the cut ones are logged as aborted');

    const metrics = (await request(hb.port, 'GET', '/metrics')).body.toString();
    const sample = (name: string, labels = ''): number => {
      const m = new RegExp(`^${name}${labels ? `\\{[^}]*${labels}[^}]*\\}` : '(?:\\{[^}]*\\})?'} (\\S+)$`, 'm').exec(metrics);
      return m ? Number(m[1]) : NaN;
    };
    assert.equal(sample('heartbeat_http_requests_total', 'route="heartbeat"'), 20, metrics);
    assert.equal(sample('heartbeat_http_requests_in_flight'), 1, 'only the scrape itself is in flight');
  });

  describe('requests the parser rejects', () => {
    /** A heartbeat logging requests, and a connection that sent it `POST /heartbeat/5` (body `abc`) and then `tail` in one write. */
    const postThen = async (tail: string): Promise<Awaited<ReturnType<typeof connect>>> => {
      hb = await startServer(['--log']);
      const c = await connect(hb.port);
      c.parser.expect(false);
      c.parser.expect(false);
      c.sock.write(Buffer.concat([
        requestBytes({ method: 'POST', target: '/heartbeat/5', body: Buffer.from('abc'), headers: ['Content-Length: 3'] }),
        Buffer.from(tail),
      ]));
      return c;
    };
    /** The connection ends after a 200 then a 400, each logged as its own line with these method and path. */
    const answeredThenRejected = async (c: Awaited<ReturnType<typeof connect>>, ok: string[], rejected: string[]): Promise<void> => {
      await c.closed;
      assert.deepEqual(c.responses.map((r) => r.status), [200, 400]);
      await waitFor(() => requestLines(hb!).length >= 2, 5000, 'two request lines');
      assert.deepEqual(requestLines(hb!).map((l) => [l[2], l[6], l[7]]), [['200', ...ok], ['400', ...rejected]]);
    };

    it('logs `-` for a bad header in a later read than the start line (its place is not certain), never the header as the target', async () => {
      hb = await startServer(['--log']);
      const c = await connect(hb.port);
      c.parser.expect(false);
      c.sock.write('GET /heartbeat/17 HTTP/1.1\r\nHost: x\r\n');
      await sleep(200);
      c.sock.write('X-Forwarded-For: 10.0.0.1\r\n');
      await sleep(200);
      c.sock.write('Bad Header\r\n\r\n');
      await c.closed;
      assert.equal(c.responses[0]?.status, 400);
      assertCommonHeaders(c.responses[0]);
      await waitFor(() => requestLines(hb!).length >= 1, 5000, 'the request line');
      const [l] = requestLines(hb);
      assert.deepEqual([l?.[2], l?.[6], l?.[7]], ['400', '-', '-']);
    });

    it('logs the start line of a bad request in the connection\'s first read, also behind requests pipelined with it', async () => {
      hb = await startServer(['--log']);
      const c = await connect(hb.port);
      for (const head of [false, true, false]) c.parser.expect(head);
      c.sock.write('GET /heartbeat/3 HTTP/1.1\r\nHost: x\r\n\r\n\r\nHEAD /heartbeat/4 HTTP/1.1\r\nHost: x\r\nX-A: b\r\n\r\n' +
        'GET /heartbeat/5 HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n');
      await c.closed;
      assert.deepEqual(c.responses.map((r) => r.status), [200, 200, 400]);
      await waitFor(() => requestLines(hb!).length >= 3, 5000, 'three request lines');
      assert.deepEqual(requestLines(hb).map((l) => [l[2], l[6], l[7]]).sort(),
        [['200', 'GET', '/heartbeat/3'], ['200', 'HEAD', '/heartbeat/4'], ['400', 'GET', '/heartbeat/5']]);
    });

    it('logs `-` for a start line sent in pieces, behind a request answered on the same connection', async () => {
      hb = await startServer(['--log']);
      const c = await connect(hb.port);
      c.parser.expect(false);
      c.parser.expect(false);
      c.sock.write(requestBytes({ method: 'GET', target: '/heartbeat/3' }));
      await c.responsesArrived(1);
      for (const piece of ['GET /heart', 'beat/4', ' HTTP/1.1\r\nHo', 'st: x\r\n', 'Bad Header\r\n\r\n']) {
        c.sock.write(piece);
        await sleep(100);
      }
      await answeredThenRejected(c, ['GET', '/heartbeat/3'], ['-', '-']);
    });

    it('logs `-` for a head begun in the read that ended the request before it, then split', async () => {
      const c = await postThen('GET /x HT');
      await c.responsesArrived(1);
      c.sock.write('TP/1.1\r\nBad Header\r\n\r\n');
      await answeredThenRejected(c, ['POST', '/heartbeat/5'], ['-', '-']);
    });

    it('logs a 431 whose head came in several reads as `-`, not kilobytes of a header', async () => {
      hb = await startServer(['--log']);
      const huge = 'a'.repeat(20 * 1024);
      const c = await connect(hb.port);
      c.parser.expect(false);
      c.sock.write('GET /heartbeat/9 HTTP/1.1\r\nHost: x\r\nX-Big: ');
      await sleep(100);
      c.sock.write(`${huge}\r\n\r\n`);
      await c.closed;
      assert.equal(c.responses[0]?.status, 431);
      assertCommonHeaders(c.responses[0]);
      await waitFor(() => requestLines(hb!).length >= 1, 5000, 'the request line');
      const [l] = requestLines(hb);
      assert.equal(l?.[2], '431');
      // The head arrives in several reads: the failing read does not begin with the start line.
      assert.deepEqual([l[6], l[7]], ['-', '-']);
      assert.ok(l.join('\t').length < 1000, 'the line holds no header value');
    });

    it('charges a malformed pipelined request to itself, after the valid one before it is answered', async () => {
      const c = await postThen('GET /x HTTP/1.1\r\nBad Header\r\n\r\n');
      await c.closed;
      assert.deepEqual(c.responses.map((r) => r.status), [200, 400]);
      assert.equal(c.responses[0]?.body?.toString(), '01234');
      assertCommonHeaders(c.responses[1]!);
      await waitFor(() => requestLines(hb!).length >= 2, 5000, 'two request lines');
      const lines = requestLines(hb!).map((l) => [l[2], l[6], l[7], l[5]]);
      assert.deepEqual(lines.sort(), [['200', 'POST', '/heartbeat/5', '3'], ['400', 'GET', '/x', '0']]);
    });
  });

  it('answers headers not complete within headersTimeout with 408 and the common headers, logged as 408', async () => {
    hb = await startServer(['--log', '--headers-timeout', '500']);
    const c = await connect(hb.port);
    c.parser.expect(false);
    c.sock.write('GET /heartbeat/17 HTTP/1.1\r\nHost: x\r\n');
    await c.responsesArrived(1);
    await c.closed;
    assert.equal(c.responses[0]?.status, 408);
    assertCommonHeaders(c.responses[0]);
    await waitFor(() => requestLines(hb!).length >= 1, 5000, 'the request line');
    // The parser's timeout carries no bytes: where the start line was is not certain.
    assert.deepEqual(requestLines(hb).map((l) => [l[2], l[6], l[7]]), [['408', '-', '-']]);
  });

  it('answers a body cut by the request timeout with 408 and the common headers, logged as 408', async () => {
    hb = await startServer(['--log', '--request-timeout', '1000', '--headers-timeout', '500']);
    const c = await connect(hb.port);
    c.parser.expect(false);
    c.sock.write('POST /heartbeat/17 HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789');
    await c.responsesArrived(1);
    await c.closed;
    const [r] = c.responses;
    assert.equal(r?.status, 408);
    assertCommonHeaders(r);
    await waitFor(() => requestLines(hb!).length >= 1, 5000, 'the request line');
    const lines = requestLines(hb).map((l) => [l[2], l[5], l[6], l[7], l[9]]);
    assert.deepEqual(lines, [['408', '10', 'POST', '/heartbeat/17', 'false']]);
  });
});
