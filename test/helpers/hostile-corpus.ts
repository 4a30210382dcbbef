/**
 * The hostile request corpus: request shapes a client may send, as raw bytes,
 * each with the answer docs/endpoints.md's "What every other request gets" table
 * documents for the default settings (uri /heartbeat, sizes 1..1048576,
 * upload limit 1 GiB). Most carry `Connection: close` so each exchange ends
 * when the server closes; shapes the server must close on its own do not.
 */
import { requestBytes, type RequestSpec } from './raw-http';

export interface LogEntry {
  /** null: whatever the parser saw of the request line (it may have rejected it). */
  method: string | null;
  /** The request target as the client sent it (the log escapes it); null as for method. */
  path: string | null;
  /** The status logged; 'any' where Node's parser cut a request the server had begun (logged as aborted). */
  status: number | 'any';
  aborted: boolean;
}

export interface Shape {
  name: string;
  bytes: Buffer;
  /** The final statuses expected on this connection, in order. */
  statuses: number[];
  /** Interim (1xx) statuses expected before them. */
  interim?: number[];
  /** The server must close the connection itself (the request did not ask it to). */
  serverCloses?: boolean;
  /** `Allow` header expected on the 405. */
  allow?: string;
  /** `Content-Length` expected on the first response (200s: the size asked for). */
  length?: number;
  /** HEAD requests on this connection, in order (their responses have no body). */
  heads?: boolean[];
  /** The request log lines this shape produces with --log. */
  log: LogEntry[];
}

const HB = '/heartbeat';
const HB_METHODS = 'GET, HEAD, POST';
const READ_ONLY_METHODS = 'GET, HEAD';
const GIB = 1024 * 1024 * 1024;

/** A well-formed request with `Connection: close`, answered by heartbeat itself (so it is logged). */
function served(name: string, spec: Omit<RequestSpec, 'close'>, status: number, extra: Partial<Shape> = {}): Shape {
  const bytes = requestBytes({ ...spec, close: true });
  return {
    name,
    bytes,
    statuses: [status],
    heads: [spec.method === 'HEAD'],
    log: [{ method: spec.method, path: spec.target, status, aborted: false }],
    ...extra,
  };
}

const get = (target: string, status: number, extra: Partial<Shape> = {}): Shape =>
  served(`GET ${target}`, { method: 'GET', target }, status, extra);

/**
 * Rejected by Node's HTTP parser before heartbeat sees a request: 400 (or 431), connection
 * closed, and one log line with that status (method and target as far as the parser read them).
 */
function malformed(name: string, bytes: Buffer | string, status = 400): Shape {
  return {
    name,
    bytes: typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes,
    statuses: [status],
    serverCloses: true,
    log: [{ method: null, path: null, status, aborted: false }],
  };
}

const CRLF = '\r\n';
const line = (method: string, target: string | Buffer, version = 'HTTP/1.1'): Buffer =>
  Buffer.concat([Buffer.from(`${method} `, 'latin1'), Buffer.from(target as string), Buffer.from(` ${version}${CRLF}`, 'latin1')]);
const withHeaders = (first: Buffer, ...headers: string[]): Buffer =>
  Buffer.concat([first, Buffer.from(['Host: 127.0.0.1', 'Connection: close', ...headers].join(CRLF) + CRLF + CRLF, 'latin1')]);

export function hostileCorpus(): Shape[] {
  const shapes: Shape[] = [];
  const add = (...s: Shape[]): void => { shapes.push(...s); };

  // --- sizes that are served: decimal digits in [1, 1048576], however written ---
  for (const [size, n] of [
    ['1', 1], ['17', 17], ['017', 17], ['0017', 17], ['000000000000017', 17], ['1048576', 1048576],
    ['%31%37', 17], ['1%37', 17], ['%30%31%37', 17], ['17?x=1', 17], ['17?', 17], ['17?%ZZ', 17], ['17?a=%FF&b', 17],
  ] as const) {
    add(get(`${HB}/${size}`, 200, { length: n }));
  }
  // --- sizes that are not: 400 naming the range ---
  for (const size of [
    '0', '00', '-0', '-1', '+5', '1.5', '17.0', '1e3', '1e400', '0x10', '0b11', '0o17', '1,000', '1_000',
    'Infinity', 'NaN', 'abc', '17;x', '17#frag', '1048577', '9007199254740991', '9007199254740992' /* 2^53 */,
    '9007199254740993', '12345678901234567890' /* 20 digits */, '0000000000000017' /* 16 digits */,
    '9'.repeat(400), '', '%20', '%2017', '17%20', '1%2017', '%0917', '17%00', '%00', '%2B5', '%2D1',
    '%D9%A1%D9%A7' /* Arabic-Indic 17 */, '%EF%BC%91%EF%BC%97' /* fullwidth 17 */, '%C2%B9%E2%81%B7' /* superscript 17 */,
    '%2F5', '%2f5', '1%2F7', '%2E', '%u0031',
  ]) {
    add(get(`${HB}/${size}`, 400));
  }
  add(get(HB, 400), get(`${HB}?size=17`, 400), get(`${HB}/?17`, 400));
  add(served('HEAD {uri}/0: 400 without a body', { method: 'HEAD', target: `${HB}/0` }, 400));
  add(served('HEAD {uri}/17: the headers, no body', { method: 'HEAD', target: `${HB}/17` }, 200, { length: 17 }));

  // --- anything below a size, or a path that only looks like the heartbeat: 404 ---
  for (const target of [
    `${HB}/17/`, `${HB}/1/7`, `${HB}//17`, `/${HB}/17`, `${HB}/17/x`, `${HB}/../heartbeat/17`, `${HB}/./17`,
    `${HB}/%2E%2E/17`, '/HEARTBEAT/17', '/Heartbeat/17', `${HB}17`, `${HB}z/17`, `${HB}%2F17`,
    '/healthz/', '/HEALTHZ', '/readyz/', '/version/x', '/nope', '/favicon.ico', '/.env', '/..%2F..%2Fetc%2Fpasswd',
  ]) {
    add(get(target, 404));
  }

  // --- malformed percent-encoding: 400 ---
  for (const target of [
    `${HB}/%ZZ`, `${HB}/%`, `${HB}/%1`, `${HB}/1%`, `${HB}/%FF`, `${HB}/%C3%28`, `${HB}/%E0%A4%A`,
    '/healthz%ZZ', '/%', '/nope/%G0', '/readyz/%',
  ]) {
    add(get(target, 400));
  }
  // ... but only in the path: a query string is ignored, malformed or not.
  add(get('/version?%', 200), get(`${HB}/17?%ZZ`, 200));

  // --- the probes and the root, and the methods they refuse ---
  add(get('/healthz', 200), get('/healthz?probe=1', 200), get('/readyz', 200), get('/version', 200), get('/', 301));
  add(served('HEAD /healthz', { method: 'HEAD', target: '/healthz' }, 200));
  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'PROPFIND']) {
    add(served(`${method} /healthz`, { method, target: '/healthz' }, 405, { allow: READ_ONLY_METHODS }));
  }
  for (const target of ['/readyz', '/version', '/']) {
    for (const method of ['POST', 'DELETE']) add(served(`${method} ${target}`, { method, target }, 405, { allow: READ_ONLY_METHODS }));
  }

  // --- other methods on the heartbeat: 405 with Allow (404 below a size) ---
  for (const method of ['PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE']) {
    add(served(`${method} {uri}/17`, { method, target: `${HB}/17` }, 405, { allow: HB_METHODS }));
  }
  add(served('PUT {uri}/abc', { method: 'PUT', target: `${HB}/abc` }, 405, { allow: HB_METHODS }));
  add(served('DELETE {uri}/17/', { method: 'DELETE', target: `${HB}/17/` }, 404));
  add(served('PUT {uri}/17 with a body', { method: 'PUT', target: `${HB}/17`, body: 5 }, 405, { allow: HB_METHODS }));

  // --- CONNECT: 405 and the connection closed ---
  for (const target of ['127.0.0.1:443', `${HB}/17`]) {
    add({
      name: `CONNECT ${target}`,
      bytes: requestBytes({ method: 'CONNECT', target }),
      statuses: [405],
      serverCloses: true,
      allow: HB_METHODS,
      log: [{ method: 'CONNECT', path: target, status: 405, aborted: false }],
    });
  }

  // --- method tokens Node's parser refuses: 400, closed ---
  for (const method of ['get', 'Get', 'post', 'FOO', 'GETX', 'G@T', 'BREW']) {
    add(malformed(`method ${method}`, withHeaders(line(method, `${HB}/17`))));
  }

  // --- absolute-form targets are served as their path; `*` is 404 ---
  for (const [target, status, length] of [
    [`http://127.0.0.1${HB}/17`, 200, 17], [`https://example.com:8443${HB}/17?x`, 200, 17], [`HTTP://X${HB}/17`, 200, 17],
    ['http://x/healthz', 200, undefined], ['http://x', 301, undefined], ['http://x/nope', 404, undefined],
    [`http://x${HB}/0`, 400, undefined], [`http://x${HB}/17/`, 404, undefined],
  ] as const) {
    add(get(target, status, length === undefined ? {} : { length }));
  }
  add(served('OPTIONS *', { method: 'OPTIONS', target: '*' }, 404));
  add(get('*', 404));
  add(served('HEAD *', { method: 'HEAD', target: '*' }, 404));

  // --- uploads: served, refused over the limit, and framing Node refuses ---
  const post = (headers: string[], body = ''): Buffer =>
    Buffer.from([`POST ${HB}/17 HTTP/1.1`, 'Host: 127.0.0.1', ...headers].join(CRLF) + CRLF + CRLF + body, 'latin1');
  add(served('POST {uri}/17 with a body', { method: 'POST', target: `${HB}/17`, body: 3 }, 200, { length: 17 }));
  add({
    name: 'POST chunked, with a chunk extension',
    bytes: post(['Transfer-Encoding: chunked', 'Connection: close'], '3;x=y\r\nabc\r\n2\r\nde\r\n0\r\n\r\n'),
    statuses: [200], length: 17,
    log: [{ method: 'POST', path: `${HB}/17`, status: 200, aborted: false }],
  });
  add({
    name: 'POST with Expect: 100-continue and a small body',
    bytes: post(['Content-Length: 3', 'Expect: 100-continue', 'Connection: close'], 'abc'),
    interim: [100], statuses: [200], length: 17,
    log: [{ method: 'POST', path: `${HB}/17`, status: 200, aborted: false }],
  });
  add({
    name: 'POST declaring 2 GiB (over the limit), a few bytes sent',
    bytes: post([`Content-Length: ${2 * GIB}`], 'abc'),
    statuses: [413], serverCloses: true,
    log: [{ method: 'POST', path: `${HB}/17`, status: 413, aborted: false }],
  });
  add({
    name: 'POST declaring 2 GiB with Expect: 100-continue',
    bytes: post([`Content-Length: ${2 * GIB}`, 'Expect: 100-continue']),
    statuses: [413], serverCloses: true,
    log: [{ method: 'POST', path: `${HB}/17`, status: 413, aborted: false }],
  });
  add({
    name: 'POST {uri}/0 with a body: 400, closed rather than read',
    bytes: requestBytes({ method: 'POST', target: `${HB}/0`, body: 3 }),
    statuses: [400], serverCloses: true,
    log: [{ method: 'POST', path: `${HB}/0`, status: 400, aborted: false }],
  });
  for (const [name, headers] of [
    ['two different Content-Lengths', ['Content-Length: 3', 'Content-Length: 4']],
    ['two equal Content-Lengths', ['Content-Length: 3', 'Content-Length: 3']],
    ['a Content-Length list', ['Content-Length: 3, 3']],
    ['Content-Length and Transfer-Encoding', ['Content-Length: 3', 'Transfer-Encoding: chunked']],
    ['Transfer-Encoding and Content-Length', ['Transfer-Encoding: chunked', 'Content-Length: 3']],
    ['Transfer-Encoding chunked twice', ['Transfer-Encoding: chunked', 'Transfer-Encoding: chunked']],
    ['Transfer-Encoding chunked, identity', ['Transfer-Encoding: chunked, identity']],
    ['Content-Length -1', ['Content-Length: -1']],
    ['Content-Length +3', ['Content-Length: +3']],
    ['Content-Length 0x3', ['Content-Length: 0x3']],
    ['Content-Length 1.5', ['Content-Length: 1.5']],
    ['Content-Length abc', ['Content-Length: abc']],
    ['Content-Length of 20 digits', ['Content-Length: 99999999999999999999']],
    ['a space before the colon', ['Content-Length : 3']],
    ['an obsolete folded header', ['X-A: a', ' Transfer-Encoding: chunked']],
  ] as const) {
    add(malformed(`POST with ${name}`, post([...headers], 'abc')));
  }
  // Framing errors in the body come after heartbeat has begun the request: 400 and the
  // connection is cut; the log has the request with that 400.
  for (const [name, headers, body] of [
    ['Transfer-Encoding identity', ['Transfer-Encoding: identity'], ''],
    ['Transfer-Encoding gzip', ['Transfer-Encoding: gzip'], 'abc'],
    ['a chunk size that is not hex', ['Transfer-Encoding: chunked'], 'zz\r\nabc\r\n0\r\n\r\n'],
    ['a chunk longer than its size', ['Transfer-Encoding: chunked'], '3\r\nabcdef\r\n0\r\n\r\n'],
  ] as const) {
    add({
      name: `POST with ${name}`,
      bytes: post([...headers], body),
      statuses: [400], serverCloses: true,
      log: [{ method: 'POST', path: `${HB}/17`, status: 400, aborted: false }],
    });
  }

  // --- headers: the 16 KiB limit, many headers, bytes HTTP allows and forbids ---
  add(malformed('one 17 KiB header', withHeaders(line('GET', `${HB}/17`), `X-Big: ${'a'.repeat(17 * 1024)}`), 431));
  add(malformed('a 17 KiB request target', withHeaders(line('GET', `${HB}/17?${'a'.repeat(17 * 1024)}`)), 431));
  add(malformed('a 17 KiB header name', withHeaders(line('GET', `${HB}/17`), `${'X'.repeat(17 * 1024)}: a`), 431));
  add(malformed('10,000 headers (20 KB of names and values)', withHeaders(line('GET', `${HB}/17`), ...Array<string>(10_000).fill('a:b')), 431));
  // Inside the limits of every Node we run on: 16 KiB of headers, and (Node 24) under 1,000 of them.
  add(served('500 short headers within the limit', { method: 'GET', target: `${HB}/17`, headers: Array<string>(500).fill('a:b') }, 200, { length: 17 }));
  add(served('500 distinct headers', { method: 'GET', target: `${HB}/17`, headers: Array.from({ length: 500 }, (_, i) => `x-${i}: v`) }, 200, { length: 17 }));
  add(served('a header value with bytes above 0x7F', { method: 'GET', target: `${HB}/17`, headers: ['X-A: caf\xe9 \xff'] }, 200, { length: 17 }));
  add(served('an Upgrade request (no upgrade is served)', { method: 'GET', target: `${HB}/17`, headers: ['Upgrade: websocket', 'Connection: Upgrade'] }, 200, { length: 17 }));
  add(served('HTTP/1.0 without Host', { method: 'GET', target: `${HB}/17`, noHost: true }, 200, { length: 17, bytes: Buffer.from(`GET ${HB}/17 HTTP/1.0\r\n\r\n`) }));
  // Refused by heartbeat (src/http/framing.ts), not the parser: logged with its start line.
  add({ ...malformed('HTTP/1.1 without Host', `GET ${HB}/17 HTTP/1.1\r\nConnection: close\r\n\r\n`), log: [{ method: 'GET', path: `${HB}/17`, status: 400, aborted: false }] });
  add({
    ...malformed('GET with Transfer-Encoding gzip, a GET pipelined behind it',
      `GET ${HB}/17 HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: gzip\r\n\r\nGET ${HB}/18 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`),
    log: [{ method: 'GET', path: `${HB}/17`, status: 400, aborted: false }],
  });
  add(malformed('a control byte in a header value', withHeaders(line('GET', `${HB}/17`), 'X-A: a\x01b')));
  add(malformed('NUL in a header value', withHeaders(line('GET', `${HB}/17`), 'X-A: a\x00b')));
  add(malformed('a space in a header name', withHeaders(line('GET', `${HB}/17`), 'Bad Header: x')));
  add(malformed('a header line without a colon', withHeaders(line('GET', `${HB}/17`), 'NoColon')));
  add(malformed('bare LF line endings', `GET ${HB}/17 HTTP/1.1\nHost: 127.0.0.1\nConnection: close\n\n`));
  add(malformed('HTTP/9.9', withHeaders(line('GET', `${HB}/17`, 'HTTP/9.9'))));
  add(malformed('a lower-case version', withHeaders(line('GET', `${HB}/17`, 'http/1.1'))));
  add(malformed('text after the version', withHeaders(line('GET', `${HB}/17`, 'HTTP/1.1 extra'))));
  add(malformed('a tab between method and target', withHeaders(Buffer.from(`GET\t${HB}/17 HTTP/1.1\r\n`))));
  add(malformed('a space inside the target', withHeaders(line('GET', `${HB}/ 17`))));

  // --- raw bytes HTTP forbids in the request target (non-UTF-8, non-ASCII, controls) ---
  for (const [name, bytes] of [
    ['0xFF 0xFE', [0xff, 0xfe]], ['0x80', [0x80]], ['invalid UTF-8 0xC3 0x28', [0xc3, 0x28]],
    ['UTF-8 é', [0xc3, 0xa9]], ['UTF-8 Arabic-Indic 17', [0xd9, 0xa1, 0xd9, 0xa7]], ['NUL', [0x00]], ['0x01', [0x01]], ['DEL', [0x7f]],
  ] as const) {
    add(malformed(`target with raw ${name}`, withHeaders(line('GET', Buffer.concat([Buffer.from(`${HB}/1`), Buffer.from(bytes)])))));
  }
  add(malformed('raw 0xFF in a health path', withHeaders(line('GET', Buffer.concat([Buffer.from('/healthz'), Buffer.from([0xff])])))));

  // --- several requests on one keep-alive connection ---
  const ka = (method: string, target: string): Buffer => requestBytes({ method, target });
  add({
    name: 'pipelined: 200, malformed percent, 404',
    bytes: Buffer.concat([ka('GET', `${HB}/17`), ka('GET', `${HB}/%ZZ`), requestBytes({ method: 'GET', target: '/nope', close: true })]),
    statuses: [200, 400, 404], length: 17,
    log: [
      { method: 'GET', path: `${HB}/17`, status: 200, aborted: false },
      { method: 'GET', path: `${HB}/%ZZ`, status: 400, aborted: false },
      { method: 'GET', path: '/nope', status: 404, aborted: false },
    ],
  });
  add({
    name: 'pipelined: HEAD then GET',
    bytes: Buffer.concat([ka('HEAD', `${HB}/17`), requestBytes({ method: 'GET', target: `${HB}/17`, close: true })]),
    statuses: [200, 200], length: 17, heads: [true, false],
    log: [
      { method: 'HEAD', path: `${HB}/17`, status: 200, aborted: false },
      { method: 'GET', path: `${HB}/17`, status: 200, aborted: false },
    ],
  });
  add({
    name: 'pipelined: 200 then a request Node refuses (its own 400 after the 200, then closed)',
    bytes: Buffer.concat([ka('GET', `${HB}/17`), withHeaders(line('get', '/x'))]),
    statuses: [200, 400], length: 17, serverCloses: true,
    log: [
      { method: 'GET', path: `${HB}/17`, status: 200, aborted: false },
      { method: 'get', path: '/x', status: 400, aborted: false },
    ],
  });
  add({
    name: 'empty lines before the request',
    bytes: Buffer.concat([Buffer.from('\r\n\r\n'), requestBytes({ method: 'GET', target: `${HB}/17`, close: true })]),
    statuses: [200], length: 17,
    log: [{ method: 'GET', path: `${HB}/17`, status: 200, aborted: false }],
  });

  return shapes;
}
