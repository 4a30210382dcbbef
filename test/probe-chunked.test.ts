/** The chunked decoder on its own (src/probe/chunked.ts): every split of the input, the limits, the bytes after the body. */
import assert from 'node:assert/strict';
import { ChunkedDecoder, type ChunkedState } from '../src/probe/chunked';

function decode(parts: Buffer[]): { state: ChunkedState; data: string; extra: number } {
  const d = new ChunkedDecoder();
  let data = '';
  let state: ChunkedState = 'more';
  for (const p of parts) {
    state = d.push(p, (piece) => { data += piece.toString('latin1'); return true; });
    if (state !== 'more') break;
  }
  return { state, data, extra: d.extra };
}

const BODY = '5;ext=1\r\nHello\r\n1\r\n,\r\nB ; a="b"\r\n world 0123\r\n0\r\nX-Trailer: yes\r\nX-Other: 2\r\n\r\n';

describe('chunked body decoder', () => {
  it('decodes the same body however the input is split in three', () => {
    const all = Buffer.from(BODY, 'latin1');
    for (let i = 0; i <= all.length; i++) {
      for (let j = i; j <= all.length; j++) {
        const r = decode([all.subarray(0, i), all.subarray(i, j), all.subarray(j)]);
        assert.deepEqual(r, { state: 'done', data: 'Hello, world 0123', extra: 0 }, `split at ${i}, ${j}`);
      }
    }
  });

  it('counts bytes after the last chunk (a kept connection must have none)', () => {
    assert.deepEqual(decode([Buffer.from('1\r\nx\r\n0\r\n\r\nHTTP/1.1')]), { state: 'done', data: 'x', extra: 8 });
  });

  it('needs more until the trailers end', () => {
    assert.equal(decode([Buffer.from('1\r\nx\r\n0\r\n')]).state, 'more');
    assert.equal(decode([Buffer.from('1\r\nx\r\n0\r\nA: b\r\n')]).state, 'more');
  });

  const bad: [string, string][] = [
    ['a size that is not hex', 'zz\r\n'],
    ['a size of 16 hex digits', '1000000000000000\r\n'],
    ['data not followed by CRLF', '1\r\nxy\r\n'],
    ['a bare LF', '1\nx\r\n'],
    ['a trailer line without a colon', '0\r\nnonsense\r\n\r\n'],
    ['a size line over 4 KiB', `1;${'e'.repeat(5000)}`],
    ['trailers over 16 KiB', `0\r\n${'X-A: b\r\n'.repeat(3000)}`],
  ];
  for (const [what, input] of bad) {
    it(`refuses ${what}`, () => assert.equal(decode([Buffer.from(input, 'latin1')]).state, 'bad'));
  }

  // D6: the verdict on a size line must not depend on how TCP cut the bytes
  it('refuses a size line over 4 KiB whether it comes in one read or split, and takes one at the limit either way', () => {
    const long = Buffer.from(`1;${'e'.repeat(60_000)}\r\nx\r\n0\r\n\r\n`, 'latin1');
    for (const at of [0, 1, 4000, 4096, 30_000, 60_001, long.length]) {
      assert.equal(decode([long.subarray(0, at), long.subarray(at)]).state, 'bad', `split at ${at}`);
    }
    // a size line of exactly 4096 bytes, CRLF included, is within the limit in any split
    const edge = Buffer.from(`1;${'e'.repeat(4096 - 4)}\r\nx\r\n0\r\n\r\n`, 'latin1');
    for (const at of [0, 100, 4095, 4096, edge.length]) {
      assert.deepEqual(decode([edge.subarray(0, at), edge.subarray(at)]), { state: 'done', data: 'x', extra: 0 }, `split at ${at}`);
    }
  });

  it('stops when the data callback says so', () => {
    const d = new ChunkedDecoder();
    assert.equal(d.push(Buffer.from('3\r\nabc\r\n0\r\n\r\n'), () => false), 'stopped');
  });
});
