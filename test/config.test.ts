/** Configuration: one convict schema, merged defaults < file < env < flags, validated with clear errors. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { helpText, settingsTable } from '../src/config/help';
import { ConfigError, loadConfig, type Loaded } from '../src/config/load';
import { CONFIG_FILE, defaults, KEYS, schema, type Config } from '../src/config/schema';
import { freePort, kill, MAIN, NODE, portListening, request, ROOT, runCli, startServer, waitFor, type Running } from './helpers/server';
import { makeScratch, removeScratch } from '../scripts/scratch';

const dir = makeScratch('heartbeat-config-');
after(() => removeScratch(dir));
function file(name: string, content: unknown): string {
  const p = path.join(dir, name);
  writeFileSync(p, typeof content === 'string' ? content : JSON.stringify(content));
  return p;
}

function run(argv: string[], env: NodeJS.ProcessEnv = {}): Extract<Loaded, { kind: 'run' }> {
  const loaded = loadConfig(argv, env);
  assert.equal(loaded.kind, 'run');
  return loaded;
}

function fails(argv: string[], env: NodeJS.ProcessEnv, ...patterns: RegExp[]): string {
  let message = '';
  assert.throws(() => loadConfig(argv, env), (e: unknown) => {
    assert.ok(e instanceof ConfigError, String(e));
    message = e.message;
    return true;
  });
  for (const p of patterns) assert.match(message, p);
  return message;
}


describe('configuration', () => {
  describe('schema', () => {
    it('gives every setting a default, a doc, a format, a long flag and a HEARTBEAT_ env var', () => {
      const flags = new Set<string>();
      const envs = new Set<string>();
      for (const k of KEYS) {
        const s = schema[k];
        assert.ok(s.doc.length > 10, k);
        assert.ok(s.format, k);
        assert.match(s.arg, /^[a-z][a-z-]*$/, k);
        assert.match(s.env, /^HEARTBEAT_[A-Z_]+$/, k);
        flags.add(s.arg);
        envs.add(s.env);
      }
      assert.equal(flags.size, KEYS.length, 'flags are unique');
      assert.equal(envs.size, KEYS.length, 'env vars are unique');
      for (const k of ['uri', 'port', 'min', 'max', 'uploadLimit', 'log', 'logFormat', 'drainTimeout',
        'headersTimeout', 'requestTimeout', 'keepAliveTimeout']) assert.ok(KEYS.includes(k as never), k);
    });

    it('has the Go defaults, and the shipped config/default.json holds exactly the defaults', () => {
      const c = run([]).config;
      assert.equal(c.uri, '/heartbeat');
      assert.equal(c.port, 8080);
      assert.equal(c.min, 1);
      assert.equal(c.max, 1048576);
      assert.equal(c.log, false);
      assert.equal(c.logFormat, 'tsv');
      assert.deepEqual(c, defaults());
      assert.deepEqual(JSON.parse(readFileSync(path.join(ROOT, 'config', 'default.json'), 'utf8')), defaults());
    });

    it('accepts the shipped config/example.json', () => {
      const loaded = run(['--config', path.join(ROOT, 'config', 'example.json')]);
      assert.equal(loaded.config.log, true);
    });
  });

  describe('sources and precedence', () => {
    it('lets file override defaults, env override file, flags override env, key by key', () => {
      const f = file('prec.json', { port: 1111, max: 2048, logFormat: 'json', log: true, drainTimeout: 5 });
      const env = { HEARTBEAT_MAX: '4096', HEARTBEAT_LOG_FORMAT: 'tsv', HEARTBEAT_DRAIN_TIMEOUT: '7' };
      const { config, sources } = run(['--config', f, '--drain-timeout', '9'], env);
      const expected: Partial<Config> = { port: 1111, max: 4096, logFormat: 'tsv', log: true, drainTimeout: 9, min: 1 };
      for (const [k, v] of Object.entries(expected)) assert.equal(config[k as keyof Config], v, k);
      assert.equal(sources.min, 'default');
      assert.equal(sources.port, `config file ${f}`);
      assert.equal(sources.max, 'env HEARTBEAT_MAX');
      assert.equal(sources.drainTimeout, 'flag --drain-timeout');
    });

    it('finds the config file through HEARTBEAT_CONFIG, and --config wins over it', () => {
      const a = file('a.json', { port: 2001 });
      const b = file('b.json', { port: 2002 });
      assert.equal(run([], { HEARTBEAT_CONFIG: a }).config.port, 2001);
      assert.equal(run(['--config', b], { HEARTBEAT_CONFIG: a }).config.port, 2002);
    });

    it('reads Go-style single-dash flags like double-dash ones', () => {
      const c = run(['-port', '9000', '-log', '-max=2048', '--min=2', '-uri', '/hb/']).config;
      assert.equal(c.port, 9000);
      assert.equal(c.log, true);
      assert.equal(c.max, 2048);
      assert.equal(c.min, 2);
      assert.equal(c.uri, '/hb', 'trailing slash normalised away');
      assert.equal(run(['-log=false'], { HEARTBEAT_LOG: 'true' }).config.log, false);
      assert.equal(run([], { HEARTBEAT_LOG: 'on' }).config.log, true);
    });

    it('reads `_` in a flag name as `-`: --log_format json is --log-format json', () => {
      const { config, sources } = run(['--log_format', 'json', '-upload_limit=5', '--probe_max_peers', '3']);
      assert.deepEqual([config.logFormat, config.uploadLimit, config.probeMaxPeers], ['json', 5, 3]);
      assert.equal(sources.logFormat, 'flag --log-format');
    });

    it('reads a config file that begins with a UTF-8 byte order mark', () => {
      const f = file('bom.json', '\uFEFF' + JSON.stringify({ port: 9001, logFormat: 'json' }));
      assert.equal(readFileSync(f)[0], 0xef);
      const { config } = run(['--config', f]);
      assert.deepEqual([config.port, config.logFormat], [9001, 'json']);
    });

    it('answers help and version before anything else', () => {
      assert.equal(loadConfig(['-h'], {}).kind, 'help');
      assert.equal(loadConfig(['--port', 'bad', '--help'], {}).kind, 'help');
      assert.equal(loadConfig(['-v'], {}).kind, 'version');
      assert.equal(loadConfig(['--version'], {}).kind, 'version');
    });
  });

  describe('validation', () => {
    const bad: [string, string[], NodeJS.ProcessEnv, RegExp[]][] = [
      ['port above 65535 (env)', [], { HEARTBEAT_PORT: '70000' }, [/port = 70000/, /env HEARTBEAT_PORT/, /1 to 65535/]],
      ['port 0 (flag)', ['--port', '0'], {}, [/port = 0/, /flag --port/]],
      ['port not a number', ['-port', '80a'], {}, [/port = "80a"/, /whole number/]],
      ['port with a decimal point', ['--port=80.5'], {}, [/port = "80.5"/]],
      ['min 0', ['--min', '0'], {}, [/min = 0/, /1 to 1073741824/]],
      ['max over 1 GiB', ['--max', '1073741825'], {}, [/max = 1073741825/, /1 to 1073741824/]],
      ['min above max', ['--min', '10', '--max', '5'], {}, [/min = 10 \(flag --min\)/, /max = 5 \(flag --max\)/, /min must be <= max/]],
      ['uri "/"', ['--uri', '/'], {}, [/uri = "\/"/, /cannot be "\/"/]],
      ['uri without a leading slash', [], { HEARTBEAT_URI: 'heartbeat' }, [/uri = "heartbeat"/, /env HEARTBEAT_URI/, /starting with "\/"/]],
      ['log format not tsv or json', ['--log-format', 'xml'], {}, [/logFormat = "xml"/, /tsv/, /json/]],
      ['switch not a boolean', [], { HEARTBEAT_LOG: 'maybe' }, [/log = "maybe"/, /true or false/]],
      ['negative timeout', ['--drain-timeout', '-5'], {}, [/drainTimeout = "-5"/]],
      ['unknown flag', ['--prot', '8080'], {}, [/unknown flag "--prot" \(did you mean --port\?\)/]],
      ['a config key as a flag', ['--logFormat', 'json'], {}, [/unknown flag "--logFormat" \(did you mean --log-format\?\)/]],
      ['a value after a switch', ['--log', 'true'], {}, [/unexpected argument "true" after the switch --log/, /given alone \(--log\) or with "=" \(--log=true, --log=false\)/]],
      ['host 999.1.1.1 (not an IPv4 address, and a numeric name is no DNS name)', ['--host', '999.1.1.1'], {},
        [/invalid setting host = "999.1.1.1" \(flag --host\)/, /IPv4 or IPv6 address or a DNS host name/]],
      ['host with a port', [], { HEARTBEAT_HOST: 'localhost:80' }, [/host = "localhost:80" \(env HEARTBEAT_HOST\)/]],
      ['host with an empty label', ['--host', 'a..b'], {}, [/host = "a..b"/]],
      ['host with an underscore', ['--host', 'my_host'], {}, [/host = "my_host"/]],
      ['stray argument', ['8080'], {}, [/unexpected argument "8080"/]],
      ['flag without its value', ['--port'], {}, [/--port needs a value/]],
      ['headers timeout above request timeout', ['--headers-timeout', '20000', '--request-timeout', '10000'], {},
        [/headersTimeout = 20000 \(flag --headers-timeout\)/, /requestTimeout = 10000/, /must be <= requestTimeout/]],
      ['a uri over a health path', ['--uri', '/healthz'], {}, [/uri = "\/healthz"/, /clashes with a health path/]],
      ['probe targets that name no target (",")', ['--probe-targets', ','], {}, [/probeTargets = "," \(flag --probe-targets\): names no target/, /leave probeTargets out to turn probing off/]],
      ['probe targets that name no target ("")', [], { HEARTBEAT_PROBE_TARGETS: '' }, [/probeTargets = "" \(env HEARTBEAT_PROBE_TARGETS\): names no target/]],
      ['probe targets " , " as a flag', ['--probe-targets= , '], {}, [/probeTargets = " , " \(flag --probe-targets\): names no target/]],
      ['a Kubernetes service-link variable as the port', [], { HEARTBEAT_PORT: 'tcp://10.0.0.1:80' },
        [/port = "tcp:\/\/10.0.0.1:80" \(env HEARTBEAT_PORT\)/, /Kubernetes service-link variable/, /enableServiceLinks: false/]],
    ];
    for (const [name, argv, env, patterns] of bad) {
      it(`rejects ${name}`, () => { fails(argv, env, ...patterns); });
    }

    it('rejects bad values in the config file, naming the file', () => {
      const f = file('bad-port.json', { port: 'eighty' });
      fails(['--config', f], {}, /port = "eighty"/, new RegExp(`config file ${f}`));
    });

    it('rejects unknown keys in the config file, suggesting the setting meant', () => {
      const f = file('unknown.json', { port: 8080, colour: 'blue', logformat: 'json', 'upload-limit': 5 });
      const msg = fails(['--config', f], {}, /unknown setting "colour"$/m, /unknown setting "logformat" \(did you mean "logFormat"\?\)/,
        /unknown setting "upload-limit" \(did you mean "uploadLimit"\?\)/);
      assert.equal(msg.split('\n').length, 3, msg);
    });

    it('rejects __proto__, constructor and prototype keys as unknown settings', () => {
      const f = file('proto.json', '{"__proto__": {"port": 1}, "constructor": {"port": 2}, "prototype": 3}');
      const msg = fails(['--config', f], {}, /unknown setting "__proto__"/, /unknown setting "constructor"/, /unknown setting "prototype"/);
      assert.equal(msg.split('\n').length, 3, msg);
    });

    it('rejects an object or array where a setting takes one value', () => {
      const f = file('nested.json', { port: { value: 80 }, max: [1] });
      fails(['--config', f], {}, /invalid setting port = \{"value":80\} \(config file .*nested.json\): must be a single value, not an object/,
        /invalid setting max = \[1\] .*not an array/);
    });

    it('rejects a bad value in every source, also where a later source overrides it', () => {
      const f = file('overridden.json', { port: 'abc' });
      fails(['--config', f, '--port', '31789'], {}, /invalid setting port = "abc" \(config file .*overridden.json\)/);
      fails(['--port', '31789'], { HEARTBEAT_LOG: 'maybe' }, /invalid setting log = "maybe" \(env HEARTBEAT_LOG\)/);
      fails(['--config', f, '--port', '0'], { HEARTBEAT_PORT: 'x' },
        /port = "abc" \(config file/, /port = "x" \(env HEARTBEAT_PORT\)/, /port = 0 \(flag --port\)/);
      const good = file('overridden-ok.json', { port: 1234 });
      assert.equal(run(['--config', good, '--port', '31789']).config.port, 31789);
    });

    it('accepts IP addresses, DNS names and empty for the host; "[::1]" is ::1', () => {
      for (const h of ['', '127.0.0.1', '::1', '::ffff:127.0.0.1', 'localhost', 'heartbeat.default.svc.cluster.local.', 'a-1.example']) {
        assert.equal(run(['--host', h]).config.host, h, h);
      }
      assert.equal(run(['--host', '[::1]']).config.host, '::1');
    });

    it('warns about metrics settings given while metrics are off, and only then', () => {
      assert.deepEqual(run(['--metrics-port', '9100']).warnings,
        ['metricsPort = 9100 (flag --metrics-port) has no effect: metrics are off (turn them on with --metrics)']);
      assert.match(run([], { HEARTBEAT_METRICS_PATH: '/m' }).warnings.join('\n'), /metricsPath = "\/m" \(env HEARTBEAT_METRICS_PATH\) has no effect/);
      assert.deepEqual(run(['--metrics', '--metrics-port', '9100']).warnings, []);
      assert.deepEqual(run([]).warnings, []);
    });

    it('rejects a missing file, invalid JSON, and JSON that is not an object', () => {
      fails(['--config', path.join(dir, 'missing.json')], {}, /cannot be read \(ENOENT\)/);
      fails(['--config', file('broken.json', '{"port": 80,')], {}, /invalid JSON/);
      fails(['--config', file('array.json', [1, 2])], {}, /must hold a JSON object/);
      fails(['--config', file('empty-targets.json', { probeTargets: [''] })], {}, /probeTargets = \[""\] \(config file .*\): names no target/);
    });

    it('reports every bad setting at once', () => {
      const msg = fails(['--port', '0', '--min', '0'], {});
      assert.equal(msg.split('\n').length, 2, msg);
    });
  });

  describe('help and README', () => {
    it('--help shows every setting with its flag, env var, default and doc', () => {
      const text = helpText('1.2.3');
      for (const k of KEYS) {
        const s = schema[k];
        assert.ok(text.includes(`--${s.arg}`), k);
        assert.ok(text.includes(s.env), k);
        assert.ok(text.includes(s.doc), k);
        assert.ok(text.includes(`config key "${k}"`), k);
      }
      assert.ok(text.includes(CONFIG_FILE.env));
      assert.ok(text.includes('Switches (no VALUE below) are given alone or with "=": --log, --log=true, --log=false.'), 'how switches are written');
    });

    it("README's settings table is the one generated from the schema", () => {
      const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
      const m = /<!-- settings:begin[^>]*-->\n([\s\S]*?)<!-- settings:end -->/.exec(readme);
      assert.ok(m, 'README has the settings markers');
      assert.equal(m[1], settingsTable(), 'regenerate with: node -e \'process.stdout.write(require("./dist/config/help").settingsTable())\'');
    });
  });

  describe('the real command', () => {
    let hb: Running | undefined;
    afterEach(() => kill(hb));

    const cases: [string, string[], NodeJS.ProcessEnv, RegExp][] = [
      ['a bad flag value', ['--max', '2000000000'], {}, /invalid setting max = 2000000000 \(flag --max\)/],
      ['a bad env value', [], { HEARTBEAT_LOG_FORMAT: 'yaml' }, /invalid setting logFormat = "yaml" \(env HEARTBEAT_LOG_FORMAT\)/],
      ['a bad file value', ['--config', file('cli-bad.json', { min: 5, max: 4 })], {}, /min = 5 \(config file .*cli-bad.json\)/],
      ['a missing config file', [], { HEARTBEAT_CONFIG: path.join(dir, 'nope.json') }, /config file .*nope.json: cannot be read/],
      ['invalid JSON', ['--config', file('cli-broken.json', '{')], {}, /invalid JSON/],
      ['an unknown flag', ['-verbose'], {}, /unknown flag "-verbose"/],
      ['a mistyped flag', ['--prot', '8080'], {}, /unknown flag "--prot" \(did you mean --port\?\)/],
      ['a value after a switch', ['--log', 'true'], {}, /after the switch --log: a switch is given alone \(--log\) or with "="/],
      ['a host that is neither an address nor a name', ['--host', '999.1.1.1'], {}, /invalid setting host = "999.1.1.1" \(flag --host\)/],
      ['a bad file value a flag overrides (--port follows)', ['--config', file('cli-overridden.json', { port: 'abc' })], {},
        /invalid setting port = "abc" \(config file .*cli-overridden.json\)/],
      ['a __proto__ key in the file', ['--config', file('cli-proto.json', '{"__proto__": {"port": 1}}')], {}, /unknown setting "__proto__"/],
      ['a mistyped key in the file', ['--config', file('cli-typo.json', { logformat: 'json' })], {}, /unknown setting "logformat" \(did you mean "logFormat"\?\)/],
    ];
    for (const [name, args, env, pattern] of cases) {
      it(`exits 2 on ${name}, with a short message and nothing listening`, async () => {
        const port = await freePort();
        const r = await runCli([...args, '--port', String(port)], env);
        assert.equal(r.code, 2);
        assert.match(r.stderr, pattern);
        assert.ok(r.stderr.split('\n').filter(Boolean).length <= 3, r.stderr);
        assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
        assert.equal(r.stdout, '');
        assert.equal(await portListening(port), false);
      });
    }

    /** Runs the CLI with stdout going to a file, as `heartbeat --log > hb.log` would. */
    async function runToFile(args: string[]): Promise<{ code: number | null; log: string; stderr: string }> {
      const logFile = path.join(dir, `stdout-${Date.now()}.log`);
      const fd = openSync(logFile, 'w');
      const proc = spawn(NODE, [MAIN, ...args], { env: { PATH: process.env.PATH }, stdio: ['ignore', fd, 'pipe'] });
      closeSync(fd);
      let stderr = '';
      proc.stderr?.on('data', (c: Buffer) => { stderr += c.toString(); });
      const code = await new Promise<number | null>((resolve) => proc.on('close', (c) => resolve(c)));
      return { code, log: readFileSync(logFile, 'utf8'), stderr };
    }

    it('names the port that is in use, heartbeat or metrics, on stderr too when stdout goes to a file; exit 1', async () => {
      const busy = net.createServer();
      await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
      const taken = (busy.address() as net.AddressInfo).port;
      try {
        const free = await freePort();
        for (const [listener, flag, args] of [
          ['metrics', '--metrics-port', ['--port', String(free), '--metrics', '--metrics-port', String(taken)]],
          ['heartbeat', '--port', ['--port', String(taken), '--metrics', '--metrics-port', String(free)]],
        ] as const) {
          const r = await runToFile(['--host', '127.0.0.1', '--log', ...args]);
          assert.equal(r.code, 1, listener);
          assert.equal(r.stderr, `heartbeat: cannot listen on 127.0.0.1:${taken} (${flag}): EADDRINUSE (the port is already in use)\n`);
          const line = r.log.split('\n').find((l) => l.includes('\tcannot listen\t'));
          assert.ok(line, r.log);
          assert.deepEqual(JSON.parse(line.split('\t')[4] as string), { listener, port: taken, host: '127.0.0.1', error: 'EADDRINUSE' });
          assert.equal(await portListening(free), false, 'nothing left listening');
        }
      } finally {
        busy.close();
      }
    });

    it('warns in the starting line and on stderr about metrics settings given without --metrics, and serves no metrics', async () => {
      const metricsPort = await freePort();
      hb = await startServer(['--metrics-port', String(metricsPort), '--log-format', 'json']);
      const starting = JSON.parse(hb.lines[0] as string) as { level: string; message: string; details: { warnings?: string[] } };
      assert.equal(starting.message, 'starting');
      assert.equal(starting.level, 'warn');
      const warning = `metricsPort = ${metricsPort} (flag --metrics-port) has no effect: metrics are off (turn them on with --metrics)`;
      assert.deepEqual(starting.details.warnings, [warning]);
      assert.equal(hb.stderr(), `heartbeat: warning: ${warning}\n`);
      assert.equal(await portListening(metricsPort), false);
      assert.equal((await request(hb.port, 'GET', '/metrics')).status, 404);
      assert.equal(await hb.stop(), 0);
    });

    it('logs a listening line for the metrics listener of its own (and the UDP echo responder on the heartbeat port number)', async () => {
      const metricsPort = await freePort();
      hb = await startServer(['--metrics', '--metrics-port', String(metricsPort), '--host', '127.0.0.1', '--log-format', 'json']);
      const listening = (): { level: string; details: Record<string, unknown> }[] => hb!.lines
        .map((l) => JSON.parse(l) as { level: string; message: string; details: Record<string, unknown> })
        .filter((l) => l.message === 'listening');
      await waitFor(() => listening().length === 3, 5000, 'three listening lines');
      assert.deepEqual(listening().map((l) => l.details), [
        { listener: 'heartbeat', address: '127.0.0.1', port: hb.port, uri: '/heartbeat' },
        { listener: 'metrics', address: '127.0.0.1', port: metricsPort, path: '/metrics' },
        { listener: 'udp', address: '127.0.0.1', port: hb.port },
      ]);
      assert.equal((JSON.parse(hb.lines[0] as string) as { level: string }).level, 'info', 'no warning when metrics are on');
      assert.equal((await request(metricsPort, 'GET', '/metrics')).status, 200);
      assert.equal(await hb.stop(), 0);
    });

    it('listens on a host given by name', async () => {
      hb = await startServer(['--host', 'localhost']);
      assert.equal((await request(hb.port, 'GET', '/healthz')).status, 200);
      assert.equal(await hb.stop(), 0);
    });

    it('prints help and the version, exit 0', async () => {
      const help = await runCli(['-h']);
      assert.equal(help.code, 0);
      for (const k of KEYS) assert.ok(help.stdout.includes(`--${schema[k].arg}`), k);
      const version = await runCli(['-v']);
      assert.equal(version.code, 0);
      const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
      assert.equal(version.stdout, `${pkg.version}\n`);
    });

    it('applies file < env < flag in the running server, and logs the effective config once', async () => {
      const port = await freePort();
      const f = file('run.json', { port: 1, max: 100, uri: '/file' });
      hb = await startServer(['-max', '300'], {
        env: { HEARTBEAT_CONFIG: f, HEARTBEAT_PORT: String(port), HEARTBEAT_MAX: '200', HEARTBEAT_LOG_FORMAT: 'json' },
        noPort: true,
        port,
      });
      assert.equal((await request(port, 'GET', '/file/300')).status, 200, 'flag max 300 wins');
      assert.equal((await request(port, 'GET', '/file/301')).status, 400);
      const starting = hb.lines.map((l) => JSON.parse(l) as { message: string; details: { config: Config } })
        .filter((l) => l.message === 'starting');
      assert.equal(starting.length, 1);
      assert.deepEqual(starting[0]!.details.config, { ...defaults(), port, max: 300, uri: '/file', logFormat: 'json' });
      assert.equal(await hb.stop(), 0);
    });
  });
});
