/** Probe mode's settings: parsed from flag, env and file; every bad value a config error naming the setting (exit 2). */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, loadConfig } from '../src/config/load';
import { defaults } from '../src/config/schema';
import { parseTarget } from '../src/probe/settings';
import { runCli } from './helpers/server';
import { makeScratch, removeScratch } from '../scripts/scratch';

function config(argv: string[], env: NodeJS.ProcessEnv = {}) {
  const l = loadConfig(argv, env);
  assert.equal(l.kind, 'run');
  return l.config;
}

function fails(argv: string[], env: NodeJS.ProcessEnv, ...patterns: RegExp[]): void {
  assert.throws(() => loadConfig(argv, env), (e: unknown) => {
    assert.ok(e instanceof ConfigError, String(e));
    for (const p of patterns) assert.match(e.message, p);
    return true;
  });
}

const scratch = makeScratch('heartbeat-probe-config-');
after(() => removeScratch(scratch));
const badPem = path.join(scratch, 'bad.pem');
writeFileSync(badPem, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');

describe('probe settings', () => {
  it('is off by default with the documented defaults', () => {
    const c = config([]);
    assert.deepEqual(
      { t: c.probeTargets, i: c.probeInterval, s: c.probeSizes, u: c.probeUpload, to: c.probeTimeout, m: c.probeMaxPeers, c: c.probeConnection },
      { t: [], i: 10000, s: [1024, 65536], u: 0, to: 5000, m: 64, c: 'new' },
    );
    assert.deepEqual(defaults().probeSizes, [1024, 65536]);
  });

  it('reads every setting from flags, the environment and the config file', () => {
    const c = config(['--probe-targets', 'http://a:8080, http://[::1]:9000/hb/', '--probe-sizes', '1,1073741824', '--probe-upload', '4096',
      '--probe-interval', '2000', '--probe-timeout', '2000', '--probe-max-peers', '3', '--probe-connection', 'reuse']);
    assert.deepEqual(c.probeTargets, ['http://a:8080', 'http://[::1]:9000/hb/']);
    assert.deepEqual(c.probeSizes, [1, 1073741824]);
    assert.deepEqual([c.probeUpload, c.probeInterval, c.probeTimeout, c.probeMaxPeers, c.probeConnection], [4096, 2000, 2000, 3, 'reuse']);
    const e = config([], { HEARTBEAT_PROBE_TARGETS: 'http://svc.ns.svc.cluster.local:8080', HEARTBEAT_PROBE_SIZES: '17', HEARTBEAT_PROBE_MAX_PEERS: '8' });
    assert.deepEqual([e.probeTargets, e.probeSizes, e.probeMaxPeers], [['http://svc.ns.svc.cluster.local:8080'], [17], 8]);
    const f = path.join(scratch, 'c.json');
    writeFileSync(f, JSON.stringify({ probeTargets: ['http://10.0.0.1:8080'], probeSizes: [100, 200], probeConnection: 'reuse' }));
    const fc = config(['--config', f]);
    assert.deepEqual([fc.probeTargets, fc.probeSizes, fc.probeConnection], [['http://10.0.0.1:8080'], [100, 200], 'reuse']);
  });

  it('turns a base URL into host, port and uri (no path: /heartbeat)', () => {
    assert.deepEqual(parseTarget('http://hb:8080'), { name: 'http://hb:8080', scheme: 'http', host: 'hb', port: 8080, uri: '/heartbeat' });
    assert.deepEqual(parseTarget('http://hb'), { name: 'http://hb', scheme: 'http', host: 'hb', port: 80, uri: '/heartbeat' });
    assert.deepEqual(parseTarget('http://[::1]:81/x/y/'), { name: 'http://[::1]:81/x/y/', scheme: 'http', host: '::1', port: 81, uri: '/x/y' });
    assert.deepEqual(parseTarget('http://10.1.2.3:8080/'), { name: 'http://10.1.2.3:8080/', scheme: 'http', host: '10.1.2.3', port: 8080, uri: '/heartbeat' });
  });

  it('reads https targets (port 443 when omitted) and a Host override after the URL', () => {
    assert.deepEqual(parseTarget('https://ingress'), { name: 'https://ingress', scheme: 'https', host: 'ingress', port: 443, uri: '/heartbeat' });
    assert.deepEqual(parseTarget('https://10.0.0.5:8443/hb host=app.example.com'),
      { name: 'https://10.0.0.5:8443/hb host=app.example.com', scheme: 'https', host: '10.0.0.5', port: 8443, uri: '/hb', hostOverride: 'app.example.com' });
    assert.deepEqual(parseTarget('http://10.0.0.5 host=app.example.com:8080').hostOverride, 'app.example.com:8080');
    assert.deepEqual(parseTarget('http://10.0.0.5 host=[::1]:81').hostOverride, '[::1]:81');
    const c = config(['--probe-targets', 'https://a:8443 host=b.example, http://c']);
    assert.deepEqual(c.probeTargets, ['https://a:8443 host=b.example', 'http://c']);
  });

  const bad: [string, string[], NodeJS.ProcessEnv, RegExp[]][] = [
    ['a target that is not a URL', [], { HEARTBEAT_PROBE_TARGETS: 'a:8080' }, [/probeTargets = \["a:8080"\] \(env HEARTBEAT_PROBE_TARGETS\)/, /not a URL of the form http\(s\):\/\//]],
    ['something after the URL other than host=', ['--probe-targets', 'https://a sni=b'], {}, [/probeTargets/, /only " host=NAME\[:PORT\]" may follow/]],
    ['a Host override that is not a host', ['--probe-targets', 'https://a host=b/c'], {}, [/probeTargets/, /host=b\/c is not a host name/]],
    ['a Host override port above 65535', ['--probe-targets', 'https://a host=b:65536'], {}, [/probeTargets/, /host= port must be from 1 to 65535/]],
    ['an extra CA file that does not exist', ['--probe-tls-ca', '/nonexistent/ca.pem'], {}, [/probeTlsCa = "\/nonexistent\/ca.pem" \(flag --probe-tls-ca\)/, /cannot be read \(ENOENT\)/]],
    ['an extra CA file with no certificate', ['--probe-tls-ca', __filename], {}, [/probeTlsCa/, /holds no PEM certificate/]],
    ['an extra CA file whose certificate does not parse', ['--probe-tls-ca', badPem], {}, [/probeTlsCa/, /certificate 1 of 1 does not parse/]],
    ['an insecure switch that is not a boolean', [], { HEARTBEAT_PROBE_TLS_INSECURE: 'maybe' }, [/probeTlsInsecure = "maybe"/, /true or false/]],
    ['a target with a query', ['--probe-targets', 'http://a:8080/hb?x=1'], {}, [/probeTargets/, /no query/]],
    ['a target with a user', ['--probe-targets', 'http://u@a:8080'], {}, [/probeTargets/, /not a URL/]],
    ['a target port above 65535', ['--probe-targets', 'http://a:70000'], {}, [/probeTargets/, /port must be from 1 to 65535/]],
    ['a target listed twice', ['--probe-targets', 'http://a:1,http://a:1'], {}, [/probeTargets/, /twice/]],
    ['a size of 0', ['--probe-sizes', '1024,0'], {}, [/probeSizes = \[1024,0\] \(flag --probe-sizes\)/, /from 1 to 1073741824/]],
    ['a size over 1 GiB', [], { HEARTBEAT_PROBE_SIZES: '1073741825' }, [/probeSizes/, /env HEARTBEAT_PROBE_SIZES/, /from 1 to 1073741824/]],
    ['a size that is not a number', ['--probe-sizes', '1k'], {}, [/probeSizes = \["1k"\]/, /whole number of bytes/]],
    ['an upload over 1 GiB', ['--probe-upload', '1073741825'], {}, [/probeUpload = 1073741825/, /0 to 1073741824/]],
    ['a negative upload', ['--probe-upload', '-1'], {}, [/probeUpload = "-1"/]],
    ['an interval of 0', ['--probe-interval', '0'], {}, [/probeInterval = 0/, /1 to 3600000/]],
    ['a timeout that is not a number', ['--probe-timeout', '5s'], {}, [/probeTimeout = "5s"/, /whole number of milliseconds/]],
    ['an interval below the timeout', ['--probe-interval', '1000', '--probe-timeout', '2000'], {},
      [/probeInterval = 1000 \(flag --probe-interval\) with probeTimeout = 2000 \(flag --probe-timeout\)/, /must be >= probeTimeout/]],
    ['max peers 0', ['--probe-max-peers', '0'], {}, [/probeMaxPeers = 0/, /1 to 4096/]],
    ['a connection mode that is not new or reuse', ['--probe-connection', 'pool'], {}, [/probeConnection = "pool"/, /new/, /reuse/]],
    ['targets with nothing to probe', ['--probe-targets', 'http://a:1', '--probe-sizes', ''], {}, [/probeSizes/, /at least one size or an upload/]],
  ];
  for (const [name, argv, env, patterns] of bad) {
    it(`rejects ${name}`, () => fails(argv, env, ...patterns));
  }

  it('the real command exits 2 on a bad probe setting, naming it, with no stack trace', async () => {
    const r = await runCli(['--probe-targets', 'ftp://x', '--port', '1']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^heartbeat: invalid setting probeTargets = \["ftp:\/\/x"\] \(flag --probe-targets\)/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    assert.equal(r.stdout, '');
  });
});
