/** The HTTP contract of the Go heartbeat, row by row, against the real server object (supertest). */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { PATTERN } from '../src/http/payload';
import { inProcess, type InProcess } from './helpers/inprocess';

function expected(size: number): string {
  return PATTERN.repeat(Math.ceil(size / PATTERN.length)).slice(0, size);
}

const binary = (res: request.Response, cb: (err: Error | null, body: Buffer) => void): void => {
  const chunks: Buffer[] = [];
  res.on('data', (c: Buffer) => chunks.push(c));
  res.on('end', () => cb(null, Buffer.concat(chunks)));
};

function assertCommon(res: request.Response): void {
  assert.equal(res.headers['content-type'], 'text/plain; charset=utf-8');
  assert.equal(res.headers['cache-control'], 'no-cache');
  assert.equal(res.headers['x-content-type-options'], 'nosniff');
  assert.equal(res.headers['x-powered-by'], undefined);
  assert.equal(res.headers.etag, undefined);
}

describe('HTTP contract', () => {
  let s: InProcess;
  before(() => { s = inProcess(); });
  after(async () => { await s.hb.shutdown(); });

  describe('GET {uri}/{size}', () => {
    it('answers /heartbeat/17 with exactly 0123456789ABCDEF0', async () => {
      const res = await request(s.hb.server).get('/heartbeat/17').buffer(true).parse(binary);
      assert.equal(res.status, 200);
      assertCommon(res);
      assert.equal(res.headers['content-length'], '17');
      assert.equal((res.body as Buffer).toString('latin1'), '0123456789ABCDEF0');
    });

    it('answers /heartbeat/1025 with 1025 bytes ending in 0 and no newline', async () => {
      const res = await request(s.hb.server).get('/heartbeat/1025').buffer(true).parse(binary);
      const body = res.body as Buffer;
      assert.equal(body.length, 1025);
      assert.equal(body.toString('latin1'), expected(1025));
      assert.equal(body.at(-1), '0'.charCodeAt(0));
    });

    for (const size of [1, 15, 16, 64 * 1024, 1048575, 1048576]) {
      it(`answers exactly ${size} bytes of the pattern`, async () => {
        const res = await request(s.hb.server).get(`/heartbeat/${size}`).buffer(true).parse(binary);
        assert.equal(res.status, 200);
        assert.equal(res.headers['content-length'], String(size));
        assert.ok((res.body as Buffer).equals(Buffer.from(expected(size), 'latin1')));
      });
    }

    it('reads leading zeros, percent-encoded digits and ignores a query string', async () => {
      for (const p of ['/heartbeat/017', '/heartbeat/%31%37', '/heartbeat/17?x=1']) {
        const res = await request(s.hb.server).get(p).buffer(true).parse(binary);
        assert.equal(res.status, 200, p);
        assert.equal((res.body as Buffer).toString('latin1'), expected(17), p);
      }
    });

    const bad = ['0', '1048577', '-1', '+5', '1.5', '1e3', '0x10', '%205', '5%20', 'abc', '', '9007199254740993',
      '12345678901234567890', '%2F5', '١٧'];
    for (const size of bad) {
      it(`answers 400 naming the range for size ${JSON.stringify(size)}`, async () => {
        const res = await request(s.hb.server).get(`/heartbeat/${encodeURI(size).replace(/%25/g, '%')}`);
        assert.equal(res.status, 400);
        assertCommon(res);
        assert.equal(res.text, 'size must be a whole number of bytes from 1 to 1048576\n');
      });
    }

    it('answers 400 for the bare uri', async () => {
      assert.equal((await request(s.hb.server).get('/heartbeat')).status, 400);
      assert.equal((await request(s.hb.server).get('/heartbeat/')).status, 400);
    });

    it('answers 400 for malformed percent-encoding, in the size and elsewhere', async () => {
      for (const p of ['/heartbeat/%ZZ', '/heartbeat/1%', '/heartbeat/%FF', '/healthz%G1', '/x%2']) {
        const res = await request(s.hb.server).get(p);
        assert.equal(res.status, 400, p);
        assert.match(res.text, /percent-encoding/, p);
      }
    });

    it('answers 404 below a size', async () => {
      assert.equal((await request(s.hb.server).get('/heartbeat/17/')).status, 404);
      assert.equal((await request(s.hb.server).get('/heartbeat/1/7')).status, 404);
    });
  });

  describe('HEAD {uri}/{size}', () => {
    it('sends the same status and headers as GET, and no body', async () => {
      const res = await request(s.hb.server).head('/heartbeat/1025');
      assert.equal(res.status, 200);
      assertCommon(res);
      assert.equal(res.headers['content-length'], '1025');
      assert.deepEqual(res.body, {});
      assert.equal((await request(s.hb.server).head('/heartbeat/0')).status, 400);
    });
  });

  describe('POST {uri}/{size} (upload)', () => {
    it('reads the body, reports its length, and answers as GET', async () => {
      const body = Buffer.alloc(300_000, 7);
      const res = await request(s.hb.server).post('/heartbeat/33').set('Content-Type', 'application/octet-stream')
        .send(body).buffer(true).parse(binary);
      assert.equal(res.status, 200);
      assertCommon(res);
      assert.equal(res.headers['x-received-bytes'], '300000');
      assert.equal((res.body as Buffer).toString('latin1'), expected(33));
    });

    it('takes a chunked body of any type', async () => {
      const req = request(s.hb.server).post('/heartbeat/5').set('Content-Type', 'application/json');
      req.write('{"a":');
      req.write('1}');
      const res = await req;
      assert.equal(res.status, 200);
      assert.equal(res.headers['x-received-bytes'], '7');
      assert.equal(res.text, '01234');
    });

    it('takes an empty body', async () => {
      const res = await request(s.hb.server).post('/heartbeat/3');
      assert.equal(res.status, 200);
      assert.equal(res.headers['x-received-bytes'], '0');
    });
  });

  describe('upload limit', () => {
    let small: InProcess;
    before(() => { small = inProcess({ uploadLimit: 1000 }); });
    after(async () => { await small.hb.shutdown(); });

    it('answers 413 to a declared length over the limit, and closes the connection', async () => {
      const res = await request(small.hb.server).post('/heartbeat/3').send(Buffer.alloc(1001));
      assert.equal(res.status, 413);
      assert.equal(res.headers.connection, 'close');
      assert.match(res.text, /limit of 1000 bytes/);
    });

    it('answers 413 to a chunked body that grows over the limit', async () => {
      const req = request(small.hb.server).post('/heartbeat/3');
      req.write(Buffer.alloc(600));
      req.write(Buffer.alloc(600));
      const res = await req;
      assert.equal(res.status, 413);
    });

    it('takes a body of exactly the limit', async () => {
      const res = await request(small.hb.server).post('/heartbeat/3').send(Buffer.alloc(1000));
      assert.equal(res.status, 200);
      assert.equal(res.headers['x-received-bytes'], '1000');
    });
  });

  describe('probes and version', () => {
    for (const [p, body] of [['/healthz', 'Pass\n'], ['/readyz', 'Ready\n'], ['/version', '9.9.9-test\n']] as const) {
      it(`GET ${p} answers 200 ${JSON.stringify(body)}`, async () => {
        const res = await request(s.hb.server).get(p);
        assert.equal(res.status, 200);
        assertCommon(res);
        assert.equal(res.text, body);
        const head = await request(s.hb.server).head(p);
        assert.equal(head.status, 200);
      });
    }
  });

  describe('everything else', () => {
    it('redirects / to {uri}/17', async () => {
      const res = await request(s.hb.server).get('/');
      assert.equal(res.status, 301);
      assert.equal(res.headers.location, '/heartbeat/17');
    });

    it('answers 404 to unknown paths', async () => {
      for (const p of ['/nope', '/HEARTBEAT/17', '/healthz/', '/heartbeatx/17', '//heartbeat/17']) {
        const res = await request(s.hb.server).get(p);
        assert.equal(res.status, 404, p);
        assertCommon(res);
      }
    });

    it('answers 405 with Allow to a known path with a wrong method', async () => {
      const cases = [['delete', '/heartbeat/5', 'GET, HEAD, POST'], ['put', '/heartbeat/5', 'GET, HEAD, POST'],
        ['post', '/healthz', 'GET, HEAD'], ['delete', '/readyz', 'GET, HEAD'], ['patch', '/version', 'GET, HEAD'],
        ['post', '/', 'GET, HEAD']] as const;
      for (const [method, p, allow] of cases) {
        const res = await request(s.hb.server)[method](p);
        assert.equal(res.status, 405, `${method} ${p}`);
        assert.equal(res.headers.allow, allow);
      }
    });

    it('never serves the process environment', async () => {
      // The real command, started with secrets in its environment (one with heartbeat's own prefix).
      const { kill, request: get, startServer } = await import('./helpers/server');
      const hb = await startServer(['--log'], { env: { API_TOKEN: 'do-not-leak-4b1d', HEARTBEAT_SECRET: 'do-not-leak-9c2e' } });
      try {
        for (const p of ['/', '/version', '/healthz', '/readyz', '/heartbeat/17', '/nope', '/heartbeat/0', '/env', '/metrics', '/debug']) {
          for (const method of ['GET', 'POST', 'OPTIONS']) {
            const res = await get(hb.port, method, p);
            assert.ok(!res.body.toString('latin1').includes('do-not-leak'), `${method} ${p}`);
            assert.ok(!JSON.stringify(res.headers).includes('do-not-leak'), `${method} ${p}`);
          }
        }
      } finally {
        kill(hb);
      }
    });
  });

  describe('a custom uri', () => {
    let custom: InProcess;
    before(() => { custom = inProcess({ uri: '/hb', min: 10, max: 20 }); });
    after(async () => { await custom.hb.shutdown(); });

    it('serves {uri}/{size} within [min, max] only', async () => {
      assert.equal((await request(custom.hb.server).get('/hb/10')).text, expected(10));
      const low = await request(custom.hb.server).get('/hb/9');
      assert.equal(low.status, 400);
      assert.equal(low.text, 'size must be a whole number of bytes from 10 to 20\n');
      assert.equal((await request(custom.hb.server).get('/heartbeat/10')).status, 404);
      assert.equal((await request(custom.hb.server).get('/')).headers.location, '/hb/17');
    });
  });
});

describe('HTTP contract on the wire', () => {
  let s: InProcess;
  let port: number;
  before(async () => {
    s = inProcess();
    await new Promise<void>((r) => s.hb.server.listen(0, '127.0.0.1', r));
    port = (s.hb.server.address() as AddressInfo).port;
  });
  after(async () => { await s.hb.shutdown(); });

  const raw = async (text: string): Promise<string> => {
    const { rawExchange } = await import('./helpers/server');
    return rawExchange(port, text, 1500);
  };

  it('HEAD sends headers only: nothing after the blank line', async () => {
    const reply = await raw('HEAD /heartbeat/1025 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.match(reply, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(reply, /\r\nContent-Length: 1025\r\n/);
    assert.ok(reply.endsWith('\r\n\r\n'), JSON.stringify(reply.slice(-40)));
  });

  it('answers a refused request with a body it will not read by closing the connection', async () => {
    const reply = await raw('PUT /heartbeat/17 HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\nabc');
    assert.match(reply, /^HTTP\/1\.1 405 /);
    assert.match(reply, /\r\nConnection: close\r\n/);
    const probe = await raw('POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n');
    assert.match(probe, /^HTTP\/1\.1 405 /);
    assert.match(probe, /\r\nConnection: close\r\n/);
  });

  it('sends 100 Continue only for an upload it will read', async () => {
    const bad = await raw('POST /heartbeat/0 HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n');
    assert.match(bad, /^HTTP\/1\.1 400 /);
    assert.doesNotMatch(bad, /100 Continue/);
    const elsewhere = await raw('PUT /nothing HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n');
    assert.match(elsewhere, /^HTTP\/1\.1 404 /);
    const good = await raw('POST /heartbeat/3 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\nConnection: close\r\n\r\nhi');
    assert.match(good, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
    assert.match(good, /\r\nX-Received-Bytes: 2\r\n/);
    assert.ok(good.endsWith('\r\n\r\n012'));
  });

  it('answers 417, with the common headers, to an expectation other than 100-continue', async () => {
    const reply = await raw('GET /heartbeat/17 HTTP/1.1\r\nHost: x\r\nExpect: coffee\r\nConnection: close\r\n\r\n');
    assert.match(reply, /^HTTP\/1\.1 417 /);
    assert.match(reply, /\r\nX-Content-Type-Options: nosniff\r\n/);
  });

  it('ignores a query string, malformed or not, on every route', async () => {
    for (const p of ['/healthz?a=%', '/heartbeat/17?%ZZ', '/version?%']) {
      assert.equal((await request(s.hb.server).get(p)).status, 200, p);
    }
  });
});
