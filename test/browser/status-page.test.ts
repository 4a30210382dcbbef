/**
 * test:browser: the status page in headless Chromium (Debian's `chromium`, driven by playwright-core),
 * JavaScript off. Three heartbeats on loopback probe each other; one is stopped. The page shows every
 * neighbour with its outcome, the stopped one first and failing, the mesh matrix with the stopped
 * prober's row greyed, its style applied under the strict CSP and nothing loaded from anywhere else.
 * A screenshot is written to build/browser/status.png; HEARTBEAT_UPDATE_SCREENSHOT=1 also writes
 * docs/status.png, the one docs/status.md shows.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { startMesh, type Mesh } from '../helpers/mesh';
import { request, ROOT, until, type Running } from '../helpers/server';
import { requireTool } from '../helpers/tools';
import type { StatusDocument } from '../../src/status/report';

export const CHROMIUM_HINT =
  "npm run test:browser needs Debian's chromium: apt-get install -y --no-install-recommends chromium (playwright-core comes from npm ci)";
const CHROMIUM = process.env.HEARTBEAT_CHROMIUM || '/usr/bin/chromium';
const UPDATE = process.env.HEARTBEAT_UPDATE_SCREENSHOT === '1';

const statusJson = async (port: number): Promise<StatusDocument> =>
  JSON.parse((await request(port, 'GET', '/status.json?mesh=1')).body.toString()) as StatusDocument;

describe('the status page in headless Chromium', function () {
  this.timeout(120_000);
  let mesh: Mesh | undefined;
  let browser: Browser | undefined;

  before(async () => {
    requireTool(CHROMIUM, CHROMIUM_HINT);
    mesh = await startMesh({ size: 3, intervalMs: 1000 });
    const [n0] = mesh.nodes as [Running];
    await until('every probe ok', 30_000, async () => {
      const d = await statusJson(n0.port);
      return d.probes.length === 4 && d.probes.every((r) => r.outcome === 'ok') ? d : undefined;
    });
    assert.equal(await (mesh.nodes[2] as Running).stop(), 0);
    const stoppedAt = Date.now();
    const stopped = mesh.peers[2] as string;
    await until('the stopped peer failing here and on the other neighbour', 30_000, async () => {
      const d = await statusJson(n0.port);
      const other = d.mesh?.rows.find((r) => r.prober === mesh?.peers[1])?.cells[stopped]?.outcome;
      // a mesh assembled after the stop (one assembly serves 5 s)
      const fresh = Date.parse(d.mesh?.time ?? '') > stoppedAt;
      return fresh && d.probes.filter((r) => r.peer === stopped).every((r) => r.outcome === 'refused') && other === 'refused' ? d : undefined;
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  });

  after(async () => {
    await browser?.close();
    mesh?.stopAll();
  });

  it('shows every neighbour, the stopped one first and failing, and greys its row of the mesh; JavaScript off', async () => {
    const m = mesh as Mesh;
    const [n0] = m.nodes as [Running];
    const stopped = m.peers[2] as string;
    const context = await (browser as Browser).newContext({ javaScriptEnabled: false, viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    const requested: string[] = [];
    const problems: string[] = [];
    page.on('request', (r) => requested.push(r.url()));
    page.on('console', (msg) => { if (msg.type() === 'error' || msg.type() === 'warning') problems.push(msg.text()); });
    const origin = `http://127.0.0.1:${n0.port}`;
    const res = await page.goto(`${origin}/status`);
    assert.equal(res?.status(), 200);

    const rows = page.locator('#probes tbody tr');
    assert.equal(await rows.count(), 4, 'two neighbours × two sizes');
    const cells = async (i: number): Promise<string[]> => (await rows.nth(i).locator('td').allInnerTexts()).map((t) => t.trim());
    for (const i of [0, 1]) {
      const c = await cells(i);
      assert.deepEqual([c[1], c[4]], [stopped, 'refused'], `row ${i}: ${c.join(' | ')}`);
      assert.equal(await rows.nth(i).getAttribute('class'), 'failing');
    }
    for (const i of [2, 3]) {
      const c = await cells(i);
      assert.deepEqual([c[1], c[4]], [m.peers[1], 'ok'], `row ${i}: ${c.join(' | ')}`);
    }
    assert.match(await page.locator('.verdict').innerText(), new RegExp(`1 peer failing: ${stopped.replace(/\./g, '\\.')}`));

    const grey = page.locator(`#mesh tr[data-prober="${stopped}"]`);
    assert.equal(await grey.getAttribute('class'), 'unreachable');
    assert.match(await grey.locator('th').innerText(), /unreachable: refused/);
    const other = page.locator(`#mesh tr[data-prober="${m.peers[1]}"] td`);
    const heads = (await page.locator('#mesh thead th').allInnerTexts()).slice(1);
    const seen = await other.allInnerTexts();
    assert.equal(seen[heads.indexOf(stopped)], 'refused');
    assert.equal(await other.nth(heads.indexOf(stopped)).getAttribute('class'), 'f');
    assert.match(seen[heads.indexOf(m.peers[0] as string)] ?? '', /^[0-9.]+$/, 'an ok cell: its p99 in ms');
    assert.equal(await other.nth(heads.indexOf(m.peers[0] as string)).getAttribute('class'), 'k');

    // The style block applies (the CSP allows it by hash): the failing row is red, the grey row grey.
    await context.close();
    const styled = await (browser as Browser).newContext({ viewport: { width: 1280, height: 800 } });
    const p2 = await styled.newPage();
    p2.on('console', (msg) => { if (msg.type() === 'error' || msg.type() === 'warning') problems.push(msg.text()); });
    p2.on('request', (r) => requested.push(r.url()));
    await p2.goto(`${origin}/status`);
    const bg = (sel: string): Promise<string> => p2.locator(sel).first().evaluate((el) =>
      (globalThis as unknown as { getComputedStyle(e: unknown): { backgroundColor: string } }).getComputedStyle(el).backgroundColor);
    assert.equal(await bg('#probes tr.failing td'), 'rgb(253, 226, 226)');
    assert.equal(await bg(`#mesh tr[data-prober="${stopped}"] td`), 'rgb(230, 230, 230)');
    assert.equal(await bg(`#mesh tr[data-prober="${m.peers[1]}"] td.f`), 'rgb(253, 226, 226)');
    assert.deepEqual(problems, [], 'no CSP violation or other error');
    assert.deepEqual(requested.filter((u) => !u.startsWith(`${origin}/`)), [], 'nothing loaded from elsewhere');

    const shot = await p2.screenshot({ fullPage: true });
    await styled.close();
    const out = path.join(ROOT, 'build', 'browser');
    mkdirSync(out, { recursive: true });
    writeFileSync(path.join(out, 'status.png'), shot);
    if (UPDATE) writeFileSync(path.join(ROOT, 'docs', 'status.png'), shot);
    assert.equal(shot.subarray(1, 4).toString(), 'PNG');
    // the one kept for docs/status.md is a real screenshot of this page
    const kept = readFileSync(path.join(ROOT, 'docs', 'status.png'));
    assert.equal(kept.subarray(1, 4).toString(), 'PNG');
    assert.ok(kept.readUInt32BE(16) >= 800, 'docs/status.png is a page-wide screenshot');
  });
});
