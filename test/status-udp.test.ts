/**
 * The status page's UDP view (src/status/udp.ts): rows summed over each neighbour's last WINDOW
 * rounds, loss by direction as a share of what was sent, worst first, memory bounded by the row
 * limit; the page's table with a column per direction, its text escaped.
 */
import assert from 'node:assert/strict';
import { defaults } from '../src/config/schema';
import type { UdpRecord } from '../src/log/format';
import { statusPage } from '../src/status/page';
import { createProbeBook, WINDOW } from '../src/status/probes';
import { statusDocument } from '../src/status/report';
import { createUdpBook } from '../src/status/udp';
import type { Identity } from '../src/status/identity';

/** This instance, as the status knows itself. */
const me: Identity = { id: '0123456789abcdef', pod: null, namespace: null, node: null, podIP: null, address: '127.0.0.1', port: 8080, statusPort: 8080 };

const line = (o: Partial<UdpRecord>): UdpRecord => ({
  time: '2026-12-05T03:30:00.000Z', target: 'http://peers:8080', peer: '10.0.0.1:8080', family: 'ipv4', sent: 20, lost_out: 0, lost_back: 0,
  lost_unknown: 0, duplicates: 0, reordered: 0, rtt_p50_ms: 0.5, rtt_p99_ms: 1.5, jitter_ms: 0.1, self_ms: 0, ...o,
});

describe('status page: UDP loss by direction', () => {
  it('sums the last WINDOW rounds per neighbour: loss out, back and unknown as percent of sent', () => {
    const book = createUdpBook(1000, 100);
    for (let i = 0; i < WINDOW + 10; i++) book.record(line({ lost_out: i < 10 ? 20 : 1, lost_back: 2 }));
    const [r] = book.rows();
    assert.equal(r?.rounds, WINDOW, 'the oldest 10 rounds (all lost) have left the window');
    assert.equal(r?.sent, 20 * WINDOW);
    assert.deepEqual([r?.lostOut, r?.lostBack, r?.lostUnknown], [WINDOW, 2 * WINDOW, 0]);
    assert.deepEqual([r?.lossOutPct, r?.lossBackPct, r?.lossUnknownPct], [5, 10, 0]);
  });

  it('worst loss in either direction first; bounded rows; unfed rows forgotten', () => {
    const book = createUdpBook(1000, 3);
    book.record(line({ peer: 'a:1', lost_out: 1 }));
    book.record(line({ peer: 'b:1', lost_back: 4 }));
    book.record(line({ peer: 'c:1' }));
    assert.deepEqual(book.rows().map((r) => r.peer), ['b:1', 'a:1', 'c:1']);
    book.record(line({ peer: 'd:1', lost_unknown: 20 }));
    assert.deepEqual(book.rows().map((r) => r.peer), ['d:1', 'b:1', 'c:1'], 'the row fed longest ago made room');
    assert.deepEqual(book.rows(Date.now() + 11_000), [], 'unfed for 10 intervals: gone');
  });

  it('the page shows a table with loss out and back per neighbour, escaped, only when probeUdp is on', () => {
    const udp = createUdpBook(1000, 10);
    udp.record(line({ target: 'http://<b>x</b>:8080', lost_out: 1, lost_back: 3 }));
    const doc = (probeUdp: number): string => statusPage(statusDocument({
      version: '1', config: { ...defaults(), probeTargets: ['http://peers:8080'], probeUdp }, ready: () => true, requests: () => 0,
      logLinesDropped: () => 0, book: createProbeBook(1000, 10), udp, identity: () => me, startedAt: Date.now(),
    }));
    const html = doc(20);
    assert.match(html, /<table id="udp">/);
    assert.match(html, /<td class="n">20<\/td><td class="n out">5\.0<\/td><td class="n back">15\.0<\/td>/);
    assert.ok(html.includes('http://&lt;b&gt;x&lt;/b&gt;:8080') && !html.includes('<b>x'));
    assert.ok(!doc(0).includes('id="udp"'), 'no UDP section with probeUdp 0');
  });
});
