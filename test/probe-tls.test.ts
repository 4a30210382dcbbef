/**
 * https:// targets through a real TLS-terminating proxy on loopback (test/helpers/tls-proxy.ts)
 * in front of a plain heartbeat: the probe goes to the proxy's address and, with a Host
 * override, is routed like a real client (SNI picks the certificate, Host picks the
 * upstream). The CA and the certificates are made at test time (test/helpers/test-ca.ts).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import net from 'node:net';
import tls from 'node:tls';
import { parseTarget } from '../src/probe/settings';
import { splitPem, SYSTEM_CA_FILES, systemCertificates, targetTls } from '../src/probe/tls';
import { probeLines, scrape, type ProbeLine } from './helpers/probe';
import { createCa, type TestCa } from './helpers/test-ca';
import { startTlsProxy, type TlsProxy } from './helpers/tls-proxy';
import { kill, request, startServer, waitFor, type Running } from './helpers/server';
import { makeScratch, removeScratch } from '../scripts/scratch';

const APP = 'app.example.test';

describe('probe https targets', function () {
  this.timeout(120_000);
  let ca: TestCa;
  let caFile = '';
  let upstream: Running | undefined;
  let proxy: TlsProxy | undefined;
  let prober: Running | undefined;
  let dir: string | undefined;

  before(async () => {
    ca = createCa();
    dir = makeScratch('heartbeat-tls-');
    caFile = path.join(dir, 'ca.pem');
    fs.writeFileSync(caFile, ca.cert);
    upstream = await startServer(['--host', '127.0.0.1', '--log']);
    proxy = await startTlsProxy({
      certs: { [APP]: ca.issue([APP]) },
      fallback: ca.issue(['default.example.test']),
      routes: { [APP]: upstream.port },
    });
  });
  after(async () => {
    kill(upstream);
    await proxy?.close();
    if (dir) removeScratch(dir);
  });
  afterEach(() => {
    kill(prober);
    prober = undefined;
  });

  async function probeOf(target: string, args: string[], n = 1): Promise<ProbeLine[]> {
    // 3 s, generous on purpose: outcomes are checked here, not speed, and a loaded machine has made a 1 s handshake time out
    prober = await startServer(['--host', '127.0.0.1', '--metrics', '--probe-targets', target, '--probe-interval', '3000',
      '--probe-timeout', '3000', '--probe-sizes', '1024', ...args]);
    const p = prober;
    await waitFor(() => probeLines(p).length >= n, 45_000, `${n} probe lines`);
    return probeLines(p).slice(0, n);
  }

  it('an https target through the proxy with a Host override and the test CA trusted: ok, with a TLS time', async () => {
    const target = `https://127.0.0.1:${proxy!.port} host=${APP}`;
    const [l] = await probeOf(target, ['--probe-tls-ca', caFile, '--probe-upload', '3000'], 2) as [ProbeLine, ProbeLine];
    for (const line of probeLines(prober!).slice(0, 2)) {
      assert.equal(line.outcome, 'ok', JSON.stringify(line));
      assert.equal(line.status, '200');
      assert.ok(Number(line.tls_ms) > 0, `a TLS time: ${line.tls_ms}`);
      assert.ok(Number(line.total_ms) >= Number(line.connect_ms) + Number(line.tls_ms));
    }
    assert.equal(l.bytes, '1024');
    assert.equal(l.target, target);
    assert.equal(l.peer, `127.0.0.1:${proxy!.port}`);
    assert.ok(proxy!.sni.includes(APP), `SNI ${APP} sent: ${proxy!.sni.join(',')}`);
    assert.ok(proxy!.hosts.includes(APP), `Host ${APP} sent: ${proxy!.hosts.join(',')}`);
    // the heartbeat behind the proxy answered it: its request line carries the probe's request id
    await waitFor(() => upstream!.lines.some((x) => x.includes(l.request_id)), 5000, 'the request line upstream');
    const m = scrape((await request(prober!.port, 'GET', '/metrics')).body.toString());
    const pair = `target="${target}",peer="${l.peer}",family="ipv4"`;
    assert.ok((m.get(`heartbeat_probe_tls_seconds_count{${pair}}`) ?? 0) >= 2, 'one handshake a probe in the TLS histogram');
    assert.ok((m.get(`heartbeat_probe_last_success_timestamp_seconds{${pair}}`) ?? 0) > 0);
  });

  it('the same proxy without the Host override: its default certificate is not for 127.0.0.1, so cert', async () => {
    const [l] = await probeOf(`https://127.0.0.1:${proxy!.port}`, ['--probe-tls-ca', caFile]) as [ProbeLine];
    assert.equal(l.outcome, 'cert', JSON.stringify(l));
    assert.equal(l.status, '0');
    assert.ok(Number(l.tls_ms) > 0, 'the handshake itself was done and timed');
    assert.equal(l.ttfb_ms, '0', 'nothing was sent after a refused certificate');
    assert.ok(!proxy!.hosts.includes(`127.0.0.1:${proxy!.port}`), 'no request reached the proxy');
    const m = scrape((await request(prober!.port, 'GET', '/metrics')).body.toString());
    assert.ok((m.get(`heartbeat_probes_total{target="https://127.0.0.1:${proxy!.port}",peer="${l.peer}",family="ipv4",method="GET",size="1024",outcome="cert"}`) ?? 0) >= 1);
  });

  it('a certificate from a CA not trusted (no --probe-tls-ca): cert', async () => {
    const [l] = await probeOf(`https://127.0.0.1:${proxy!.port} host=${APP}`, []) as [ProbeLine];
    assert.equal(l.outcome, 'cert', JSON.stringify(l));
  });

  it('--probe-tls-insecure accepts it, and says so at start', async () => {
    const [l] = await probeOf(`https://127.0.0.1:${proxy!.port} host=${APP}`, ['--probe-tls-insecure']) as [ProbeLine];
    assert.equal(l.outcome, 'ok', JSON.stringify(l));
    const warning = prober!.lines.find((x) => x.includes('\tlifecycle\twarn\tprobe certificates are not checked'));
    assert.ok(warning, prober!.lines.join('\n'));
  });

  it('an https target that is a plain http heartbeat: the handshake fails, tls', async () => {
    const [l] = await probeOf(`https://127.0.0.1:${upstream!.port}`, []) as [ProbeLine];
    assert.equal(l.outcome, 'tls', JSON.stringify(l));
    assert.equal(l.status, '0');
    assert.ok(Number(l.tls_ms) > 0, 'the failed handshake timed');
  });

  it('a peer that accepts and never answers the ClientHello: timeout, the time in tls_ms', async () => {
    const held = new Set<net.Socket>();
    const silent = net.createServer((c) => { held.add(c); c.on('error', () => undefined); });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const [l] = await probeOf(`https://127.0.0.1:${(silent.address() as net.AddressInfo).port}`, []) as [ProbeLine];
      assert.equal(l.outcome, 'timeout', JSON.stringify(l));
      assert.equal(l.status, '0');
      assert.ok(Number(l.tls_ms) > 0 && Number(l.tls_ms) <= Number(l.total_ms), `the handshake's time so far: ${l.tls_ms}`);
    } finally {
      for (const c of held) c.destroy();
      silent.close();
    }
  });

  it('a Host the proxy does not route: status 404, through TLS', async () => {
    const [l] = await probeOf(`https://127.0.0.1:${proxy!.port} host=${APP}:8443`, ['--probe-tls-ca', caFile]) as [ProbeLine];
    assert.equal(l.outcome, 'status', JSON.stringify(l));
    assert.equal(l.status, '404');
    assert.ok(proxy!.sni.includes(APP), 'the SNI is the name without the port');
  });

  it('sends as SNI, and checks the certificate against, the Host override\'s name, else the URL\'s host; an IP sends no SNI', () => {
    const ctx = tls.createSecureContext();
    const of = (t: string): [string | undefined, string] => {
      const x = targetTls(parseTarget(t), ctx, true);
      return [x?.servername, x?.verifyName ?? ''];
    };
    assert.deepEqual(of('https://ingress.test'), ['ingress.test', 'ingress.test']);
    assert.deepEqual(of('https://10.0.0.5 host=app.example.test:8443'), ['app.example.test', 'app.example.test']);
    assert.deepEqual(of('https://10.0.0.5'), [undefined, '10.0.0.5']);
    assert.deepEqual(of('https://ingress.test host=[::1]:8443'), [undefined, '::1']);
    assert.equal(targetTls(parseTarget('http://10.0.0.5 host=a.test'), ctx, true), undefined, 'http: no TLS');
  });

  it("trusts the system's CA store: Node's reader where there is one, else the distribution's bundle", () => {
    const read = (tls as unknown as { getCACertificates?: (k: string) => string[] }).getCACertificates;
    const bundle = SYSTEM_CA_FILES.find((f) => fs.existsSync(f));
    const expected = read ? read('system') : bundle ? splitPem(fs.readFileSync(bundle, 'latin1')) : [];
    assert.deepEqual(systemCertificates(), expected);
    if (!read && bundle) assert.ok(expected.length > 0, `${bundle} holds certificates`);
  });

  it('probeConnection reuse keeps one TLS connection: after the first probe, no connect and no handshake', async () => {
    const lines = await probeOf(`https://127.0.0.1:${proxy!.port} host=${APP}`, ['--probe-tls-ca', caFile, '--probe-connection', 'reuse'], 3);
    assert.deepEqual(lines.map((x) => x.outcome), ['ok', 'ok', 'ok']);
    assert.ok(Number(lines[0]!.tls_ms) > 0);
    for (const x of lines.slice(1)) assert.deepEqual([x.connect_ms, x.tls_ms], ['0', '0'], JSON.stringify(x));
  });
});
