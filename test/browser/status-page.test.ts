/**
 * test:browser: the status page in headless Chromium (Debian's `chromium`, driven by playwright-core),
 * JavaScript off, in the three arrangements that once made it lie (docs/status.md):
 *
 * 1. a shared address (127.0.0.1) with per-instance metrics ports, one member stopped: each neighbour's
 *    row is its own (found where it says it serves its status), the stopped member grey;
 * 2. a failure only a neighbour sees (127.0.0.2 probes .3; .3 probes .2 and .4; .4 stopped): the
 *    banner names the failing pair .3 → .4, never "all clear";
 * 3. a neighbour whose address answers with another heartbeat's identity (a proxy in front of it):
 *    its row is grey with that reason, nothing of the answer shown.
 *
 * Each page is titled with its pod and node, loads nothing from anywhere else, and breaks no CSP.
 * The first arrangement's page is the picture of docs/status.md: the screenshot carries the DOM it was
 * taken from (a PNG text chunk), and the committed docs/status.png must show the page as it renders
 * now (the same DOM, addresses and numbers aside) and its caption must say what it shows.
 * HEARTBEAT_UPDATE_SCREENSHOT=1 writes docs/status.png.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startMesh, type Mesh } from '../helpers/mesh';
import { startProxy, type Proxy } from '../helpers/probe-proxy';
import { freePort, kill, ROOT, startServer, until, type Running } from '../helpers/server';
import { requireTool } from '../helpers/tools';
import type { StatusDocument } from '../../src/status/report';

export const CHROMIUM_HINT =
  "npm run test:browser needs Debian's chromium: apt-get install -y --no-install-recommends chromium (playwright-core comes from npm ci)";
const CHROMIUM = process.env.HEARTBEAT_CHROMIUM || '/usr/bin/chromium';
const UPDATE = process.env.HEARTBEAT_UPDATE_SCREENSHOT === '1';
const PICTURE = path.join(ROOT, 'docs', 'status.png');
const DOM_KEY = 'heartbeat-status-dom';

function getJson(host: string, port: number, p: string): Promise<StatusDocument> {
  return new Promise((resolve, reject) => {
    http.get({ host, port, path: p, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        try { resolve(JSON.parse(Buffer.concat(chunks).toString()) as StatusDocument); } catch (e) { reject(e instanceof Error ? e : new Error(String(e))); }
      });
    }).on('error', reject);
  });
}

/** A mesh assembled after `since` whose rows satisfy `ok`. */
const meshAfter = (host: string, port: number, since: number, what: string, ok: (d: StatusDocument) => boolean): Promise<StatusDocument> =>
  until(what, 40_000, async () => {
    const d = await getJson(host, port, '/status.json?mesh=1');
    return Date.parse(d.mesh?.time ?? '') > since && ok(d) ? d : undefined;
  }, 250);

/** What a page shows, read from its DOM. */
interface Shown {
  title: string;
  heading: string;
  refresh: string | null;
  verdict: string;
  verdictClass: string;
  probes: string[][];
  meshHead: string[];
  mesh: { prober: string; cls: string; label: string; cells: string[]; classes: string[] }[];
}

async function shown(page: Page): Promise<Shown> {
  const mesh: Shown['mesh'] = [];
  const rows = page.locator('#mesh tbody tr');
  for (let i = 0; i < await rows.count(); i++) {
    const r = rows.nth(i);
    const tds = r.locator('td');
    const classes: string[] = [];
    for (let j = 0; j < await tds.count(); j++) classes.push(await tds.nth(j).getAttribute('class') ?? '');
    mesh.push({
      prober: await r.getAttribute('data-prober') ?? '', cls: await r.getAttribute('class') ?? '',
      label: (await r.locator('th').innerText()).trim(), cells: (await tds.allInnerTexts()).map((t) => t.trim()), classes,
    });
  }
  const probes: string[][] = [];
  const prows = page.locator('#probes tbody tr');
  for (let i = 0; i < await prows.count(); i++) probes.push((await prows.nth(i).locator('td').allInnerTexts()).map((t) => t.trim()));
  return {
    title: await page.title(),
    heading: (await page.locator('h1').innerText()).trim(),
    refresh: await page.locator('meta[http-equiv="refresh"]').getAttribute('content'),
    verdict: (await page.locator('.verdict').innerText()).trim(),
    verdictClass: await page.locator('.verdict').getAttribute('class') ?? '',
    probes,
    meshHead: (await page.locator('#mesh thead th').allInnerTexts()).slice(1).map((t) => t.trim()),
    mesh,
  };
}

/** The cell of `row` under the column of `peer` (columns are headed by the address, then the node). */
const cellOf = (s: Shown, prober: string, peer: string): { text: string; cls: string } => {
  const i = s.meshHead.findIndex((h) => h === peer || h.startsWith(`${peer} `) || h.startsWith(`${peer}\n`));
  const r = s.mesh.find((m) => m.prober === prober);
  assert.ok(i >= 0 && r, `a column ${peer} and a row ${prober}: ${JSON.stringify(s.meshHead)}`);
  return { text: r.cells[i] as string, cls: r.classes[i] as string };
};

/**
 * What a picture of the page shows, independent of the run: addresses as the pod names they are,
 * every number as #, the verdict's parts in a fixed order, the probe rows as a set.
 */
function normalized(s: Shown, addresses: Map<string, string>): unknown {
  const norm = (t: string): string => {
    let out = t;
    // longest first: one address may be the prefix of another (127.0.0.1:4000 and 127.0.0.1:40001)
    for (const [a, name] of [...addresses].sort((x, y) => y[0].length - x[0].length)) out = out.split(a).join(`<${name}>`);
    return out.replace(/\s+/g, ' ').replace(/[0-9]+/g, '#').replace(/# min/g, '# s');
  };
  return {
    title: norm(s.title), heading: norm(s.heading), refresh: s.refresh, verdictClass: s.verdictClass,
    verdict: s.verdict.split(/: |, |\. /).map(norm).sort(),
    // (peer, method, outcome: the columns the picture's caption speaks of)
    probes: s.probes.map((r) => [r[1], r[3], r[5]].map((c) => norm(c ?? ''))).map((r) => r.join(' | ')).sort(),
    // columns and rows in the order of the names, not of the run's ports
    ...(() => {
      const head = s.meshHead.map(norm);
      const order = head.map((h, i) => [h, i] as const).sort((a, b) => a[0].localeCompare(b[0])).map(([, i]) => i);
      const pick = <T>(xs: T[]): T[] => order.map((i) => xs[i] as T);
      return {
        meshHead: pick(head),
        mesh: s.mesh.map((m) => ({ prober: norm(m.prober), cls: m.cls, label: norm(m.label), cells: pick(m.cells.map(norm)), classes: pick(m.classes) }))
          .sort((a, b) => (a.prober === 'this heartbeat' ? -1 : b.prober === 'this heartbeat' ? 1 : a.prober.localeCompare(b.prober))),
      };
    })(),
  };
}

// PNG text chunks (PNG spec §11.3.4.3 tEXt): the picture carries the DOM it was taken from.
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
const crc32 = (b: Buffer): number => {
  let c = 0xffffffff;
  for (const x of b) c = (CRC_TABLE[(c ^ x) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
};
function withText(png: Buffer, key: string, text: string): Buffer {
  const ascii = text.replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  const data = Buffer.concat([Buffer.from(`tEXt${key}\0`, 'latin1'), Buffer.from(ascii, 'latin1')]);
  const chunk = Buffer.alloc(data.length + 8);
  chunk.writeUInt32BE(data.length - 4, 0);
  data.copy(chunk, 4);
  chunk.writeUInt32BE(crc32(data), data.length + 4);
  const ihdrEnd = 8 + 8 + png.readUInt32BE(8) + 4;
  return Buffer.concat([png.subarray(0, ihdrEnd), chunk, png.subarray(ihdrEnd)]);
}
function textOf(png: Buffer, key: string): string | undefined {
  let at = 8;
  while (at + 8 <= png.length) {
    const len = png.readUInt32BE(at);
    const type = png.subarray(at + 4, at + 8).toString('latin1');
    if (type === 'tEXt') {
      const data = png.subarray(at + 8, at + 8 + len).toString('latin1');
      const nul = data.indexOf('\0');
      if (data.slice(0, nul) === key) return data.slice(nul + 1);
    }
    at += 12 + len;
  }
  return undefined;
}

describe('the status page in headless Chromium, JavaScript off', function () {
  this.timeout(180_000);
  let browser: Browser | undefined;
  const problems: string[] = [];

  before(async () => {
    requireTool(CHROMIUM, CHROMIUM_HINT);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  });
  after(async () => { await browser?.close(); });

  /** Opens a page with JavaScript off; every request it makes must be to its own origin. */
  async function open(url: string, styled = false): Promise<{ page: Page; close: () => Promise<void> }> {
    const context = await (browser as Browser).newContext({ javaScriptEnabled: styled, viewport: { width: 1400, height: 800 } });
    const page = await context.newPage();
    const origin = new URL(url).origin;
    page.on('request', (r) => { if (!r.url().startsWith(`${origin}/`)) problems.push(`loaded ${r.url()}`); });
    page.on('console', (msg) => { if (msg.type() === 'error' || msg.type() === 'warning') problems.push(msg.text()); });
    const res = await page.goto(url);
    assert.equal(res?.status(), 200);
    return { page, close: () => context.close() };
  }

  describe('1: a shared address with per-instance metrics ports, one member stopped', () => {
    let mesh: Mesh | undefined;
    after(() => mesh?.stopAll());

    it('shows each neighbour\'s own row (no copy), the stopped member grey, the failing pairs, the pod in the title; the picture of docs/status.md', async () => {
      mesh = await startMesh({
        size: 3, intervalMs: 1000, metricsPort: true,
        env: (i) => ({ POD_NAME: `heartbeat-${i}`, NODE_NAME: `node-${i}`, POD_NAMESPACE: 'heartbeat' }),
      });
      const m = mesh;
      const [p0, p1, p2] = m.peers as [string, string, string];
      const statusPort = m.metricsPorts[0] as number;
      await meshAfter('127.0.0.1', statusPort, 0, 'every probe ok and both neighbours read', (d) =>
        d.probes.length === 4 && d.probes.every((r) => r.outcome === 'ok') && d.mesh?.rows.filter((r) => r.reachable).length === 3);
      assert.equal(await (m.nodes[2] as Running).stop(), 0);
      const stoppedAt = Date.now();
      await meshAfter('127.0.0.1', statusPort, stoppedAt, 'the stopped member refused, here and by the other neighbour', (d) =>
        d.probes.filter((r) => r.peer === p2).every((r) => r.outcome === 'refused') &&
        d.mesh?.rows.find((r) => r.prober === p1)?.cells[p2]?.outcome === 'refused' && d.mesh.rows.find((r) => r.prober === p2)?.reachable === false);

      const { page, close } = await open(`http://127.0.0.1:${statusPort}/status`);
      const s = await shown(page);
      await close();
      assert.equal(s.title, 'heartbeat heartbeat-0 on node-0: status');
      assert.match(s.heading, /^heartbeat heartbeat-0 on node-0 heartbeat \d/);
      assert.equal(s.refresh, '10');

      // the stopped member: grey, with the reason, no cell of its own
      const grey = s.mesh.find((r) => r.prober === p2);
      assert.equal(grey?.cls, 'unreachable');
      assert.match(grey?.label ?? '', /unreachable: refused/);
      // the other neighbour's row is its own view: it never probes itself, it probes this one and sees p2 refused
      const second = s.mesh.find((r) => r.prober === p1);
      assert.equal(second?.cls, '');
      assert.match(second?.label ?? '', /node-1/);
      assert.match(second?.label ?? '', /as of \d+ s ago/);
      assert.deepEqual(cellOf(s, p1, p1), { text: 'self', cls: 'self' });
      assert.match(cellOf(s, p1, p0).text, /^[0-9.]+ ms$/);
      assert.equal(cellOf(s, p1, p0).cls, 'k');
      assert.match(cellOf(s, p1, p2).text, /^refused \d+ s$/);
      assert.equal(cellOf(s, p1, p2).cls, 'f');
      const self = s.mesh[0];
      assert.match(self?.label ?? '', /^this heartbeat/);
      assert.deepEqual(cellOf(s, self?.prober as string, p0), { text: 'self', cls: 'self' });
      assert.equal(cellOf(s, self?.prober as string, p1).cls, 'k');
      assert.notDeepEqual(second?.cells, self?.cells, 'no copied row');
      assert.match(s.meshHead.find((h) => h.startsWith(p0)) ?? '', /this heartbeat/);
      // the banner: both failing pairs and the unreadable member, never all clear
      assert.equal(s.verdictClass, 'verdict bad');
      assert.match(s.verdict, /^2 failing pairs: /);
      assert.ok(s.verdict.includes(`${p0} node-0 → ${p2} refused for `), s.verdict);
      assert.ok(s.verdict.includes(`${p1} node-1 → ${p2} refused for `), s.verdict);
      assert.ok(s.verdict.includes(`1 neighbour unreadable: ${p2} (refused)`), s.verdict);
      // failing probe rows: their outcome and how long, not older latencies as current
      // (columns: target, peer, family, method, size, outcome, when, p50, p99, ..., self ms)
      for (const r of s.probes.slice(0, 2)) {
        assert.deepEqual([r[1], r[2], r[5]], [p2, 'ipv4', 'refused']);
        assert.match(r[7] ?? '', /^failing for \d+ s$/);
      }
      for (const r of s.probes.slice(2)) {
        assert.match(r[1] ?? '', new RegExp(`^${p1.replace(/\./g, '\\.')}\\s+node-1$`));
        assert.match(r[7] ?? '', /^[0-9.]+ ms$/);
        assert.match(r.at(-1) ?? '', /^[0-9.]+( \(prober starved\))?$/, 'self ms');
      }

      // styled (the CSP allows the style block by its hash): the failing row red, the grey row grey; the picture
      const styled = await open(`http://127.0.0.1:${statusPort}/status`, true);
      const bg = (sel: string): Promise<string> => styled.page.locator(sel).first().evaluate((el) =>
        (globalThis as unknown as { getComputedStyle(e: unknown): { backgroundColor: string } }).getComputedStyle(el).backgroundColor);
      assert.equal(await bg('#probes tr.failing td'), 'rgb(253, 226, 226)');
      assert.equal(await bg(`#mesh tr[data-prober="${p2}"] td:not(.self)`), 'rgb(230, 230, 230)');
      assert.equal(await bg(`#mesh tr[data-prober="${p1}"] td.f`), 'rgb(253, 226, 226)');
      const pictured = await shown(styled.page);
      const png = await styled.page.screenshot({ fullPage: true });
      await styled.close();
      assert.deepEqual(problems, [], 'no CSP violation, nothing loaded from elsewhere');

      const names = new Map([[p0, 'this'], [p1, 'other'], [p2, 'stopped']]);
      const dom = JSON.stringify(normalized(pictured, names));
      const shot = withText(png, DOM_KEY, dom);
      const out = path.join(ROOT, 'build', 'browser');
      mkdirSync(out, { recursive: true });
      writeFileSync(path.join(out, 'status.png'), shot);
      if (UPDATE) writeFileSync(PICTURE, shot);
      assert.equal(textOf(shot, DOM_KEY), dom.replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));

      // the committed picture shows this page as it renders now, and its caption says what it shows
      const kept = readFileSync(PICTURE);
      const keptDom = textOf(kept, DOM_KEY);
      assert.ok(keptDom, 'docs/status.png carries the DOM it was taken from: HEARTBEAT_UPDATE_SCREENSHOT=1 npm run test:browser');
      assert.deepEqual(JSON.parse(keptDom), JSON.parse(dom), 'docs/status.png is out of date: HEARTBEAT_UPDATE_SCREENSHOT=1 npm run test:browser');
      // page-wide: as wide as the page now, within what the run's numbers change (cells such as "12.31 ms" or
      // "failing for 10 s" differ in width from run to run: 1403 and 1414 px seen for the same DOM)
      const [keptWidth, nowWidth] = [kept.readUInt32BE(16), png.readUInt32BE(16)];
      assert.ok(Math.abs(keptWidth - nowWidth) <= nowWidth * 0.05, `a page-wide picture, as wide as the page: ${keptWidth} px, the page ${nowWidth} px`);
      const caption = /!\[([^\]]*)\]\(status\.png\)/.exec(readFileSync(path.join(ROOT, 'docs', 'status.md'), 'utf8'))?.[1] ?? '';
      const pic = JSON.parse(keptDom) as { title: string; verdict: string[] };
      assert.ok(pic.title === 'heartbeat heartbeat-# on node-#: status' && caption.includes('heartbeat-0 on node-0'), caption);
      assert.ok(pic.verdict.includes('# failing pairs') && caption.includes('two failing pairs'), caption);
      assert.ok(pic.verdict.some((v) => v.startsWith('<this> node-# → <stopped> refused')) && caption.includes('heartbeat-2 stopped'), caption);
      assert.ok(!/\b127\.0\.0\.1:\d+/.test(caption), 'the caption names no port the picture does not show');
    });
  });

  describe('2: a failure only a neighbour sees (K < N)', () => {
    const nodes: Running[] = [];
    after(() => { for (const n of nodes) kill(n); });

    it('the banner names the pair 127.0.0.3 → 127.0.0.4, never all clear', async () => {
      const port = await freePort();
      const at = (i: number): string => `127.0.0.${i}:${port}`;
      const start = (i: number, targets: number[]) => startServer([
        '--host', `127.0.0.${i}`, '--status', '--probe-targets', targets.map((t) => `http://${at(t)}`).join(','),
        '--probe-interval', '1000', '--probe-timeout', '1000',
      ], { port, env: { POD_NAME: `hb-${i}`, NODE_NAME: `node-${i}` } });
      nodes.push(await start(2, [3]), await start(3, [2, 4]), await start(4, [3]));
      await meshAfter('127.0.0.2', port, 0, '.3 read, seeing .4 ok', (d) => d.mesh?.rows.find((r) => r.prober === at(3))?.cells[at(4)]?.outcome === 'ok');
      assert.equal(await (nodes[2] as Running).stop(), 0);
      const stoppedAt = Date.now();
      const d = await meshAfter('127.0.0.2', port, stoppedAt, '.3 seeing .4 refused', (x) => x.mesh?.rows.find((r) => r.prober === at(3))?.cells[at(4)]?.outcome === 'refused');
      assert.ok(d.probes.every((r) => r.outcome === 'ok' && r.peer === at(3)), 'this instance\'s own probes are all ok');

      const { page, close } = await open(`http://${at(2)}/status`);
      const s = await shown(page);
      await close();
      assert.equal(s.title, 'heartbeat hb-2 on node-2: status');
      assert.equal(s.verdictClass, 'verdict bad');
      assert.match(s.verdict, new RegExp(`^1 failing pair: ${at(3).replace(/\./g, '\\.')} node-3 → ${at(4).replace(/\./g, '\\.')} refused for \\d+ s\\.$`));
      assert.ok(!/all clear/i.test(s.verdict));
      assert.deepEqual(s.mesh.map((r) => [r.prober, r.cls]), [['this heartbeat', ''], [at(3), '']]);
      assert.equal(cellOf(s, at(3), at(4)).cls, 'f');
      assert.deepEqual(cellOf(s, at(3), at(3)), { text: 'self', cls: 'self' });
      assert.deepEqual(cellOf(s, 'this heartbeat', at(2)), { text: 'self', cls: 'self' });
      assert.equal(cellOf(s, 'this heartbeat', at(4)).text, '', 'not probed here: empty, not self');
      assert.deepEqual(problems, []);
    });
  });

  describe('3: a neighbour\'s address answered by another heartbeat', () => {
    const nodes: Running[] = [];
    let proxy: Proxy | undefined;
    after(async () => { for (const n of nodes) kill(n); await proxy?.close(); });

    it('greys that row with who answered instead, shows nothing of the answer, and names the pod', async () => {
      const [pa, pb] = [await freePort(), await freePort()];
      nodes.push(await startServer(['--host', '127.0.0.1', '--status', '--probe-targets', `http://127.0.0.1:${pa}`, '--probe-interval', '1000', '--probe-timeout', '1000'],
        { port: pb, env: { POD_NAME: 'hb-b', NODE_NAME: 'node-b' } }));
      // 127.0.0.1:proxy is a neighbour to a: probes pass through to b, and so does the status asked there
      proxy = await startProxy(pb, 'pass');
      const x = `127.0.0.1:${proxy.port}`;
      nodes.push(await startServer(['--host', '127.0.0.1', '--status', '--probe-targets', `http://${x},http://127.0.0.1:${pb}`, '--probe-interval', '1000', '--probe-timeout', '1000'],
        { port: pa, env: { POD_NAME: 'hb-a', NODE_NAME: 'node-a' } }));
      const d = await meshAfter('127.0.0.1', pa, 0, 'both neighbours asked', (v) => v.probes.length === 4 && (v.mesh?.rows.length ?? 0) === 3);
      const wrong = d.mesh?.rows.find((r) => r.prober === x);
      assert.equal(wrong?.reachable, false);
      assert.equal(wrong?.identity?.pod, 'hb-b');

      const { page, close } = await open(`http://127.0.0.1:${pa}/status`);
      const s = await shown(page);
      await close();
      assert.equal(s.title, 'heartbeat hb-a on node-a: status');
      const row = s.mesh.find((r) => r.prober === x);
      assert.equal(row?.cls, 'unreachable');
      assert.match(row?.label ?? '', new RegExp(`unreachable: answered as hb-b on node-b \\(127\\.0\\.0\\.1:${pb}\\), not the neighbour asked`));
      assert.ok(row?.classes.every((c) => c === '' || c === 'self'), 'nothing of the wrong answer shown');
      assert.ok(row?.cells.every((c) => c === '' || c === 'self'), row?.cells.join(' | '));
      const real = s.mesh.find((r) => r.prober === `127.0.0.1:${pb}`);
      assert.equal(real?.cls, '');
      assert.match(real?.label ?? '', /node-b/);
      assert.equal(s.verdictClass, 'verdict bad');
      assert.ok(s.verdict.includes(`1 neighbour unreadable: ${x} (answered as hb-b on node-b (127.0.0.1:${pb}), not the neighbour asked)`), s.verdict);
      assert.deepEqual(problems, []);
    });
  });
});
