/**
 * Builds the effective configuration from defaults < config file < environment
 * < command-line flags, with convict doing the merging and validation against
 * the schema. Every source is validated on its own as well, so a bad value is
 * reported even where another source overrides it. Any problem is a ConfigError
 * whose message names the setting, the bad value, where it came from and what is
 * allowed.
 */
import { readFileSync } from 'node:fs';
import convict from 'convict';
import { HEALTH_PATHS } from '../http/paths';
import { CONFIG_FILE, KEYS, schema, type Config, type Key } from './schema';
import { didYouMean } from './suggest';

export class ConfigError extends Error {}

export type Source = 'default' | `config file ${string}` | `env ${string}` | `flag --${string}`;

export type Loaded =
  | { kind: 'help' }
  | { kind: 'version' }
  | {
    kind: 'run'; config: Config; sources: Record<Key, Source>;
    /** Settings given that have no effect (e.g. metricsPort without metrics): said at start-up. */
    warnings: string[];
  };

interface ParsedArgs {
  flags: Map<Key, string>;
  file?: string;
  help: boolean;
  version: boolean;
}

const BY_FLAG = new Map<string, Key>(KEYS.map((k) => [schema[k].arg, k]));
const FLAG_NAMES = [...BY_FLAG.keys(), CONFIG_FILE.arg, 'help', 'version'];
const isSwitch = (k: Key): boolean => schema[k].format === 'switch';
const isKey = (k: string): k is Key => Object.prototype.hasOwnProperty.call(schema, k);

/**
 * Reads flags the way both the Go server and GNU tools write them: `--port 9000`,
 * `--port=9000`, `-port 9000`, `-port=9000`; switches alone (`-log`) or with
 * `=value` (`-log=false`). Unknown flags and stray arguments are errors.
 */
function parseArgs(argv: readonly string[]): ParsedArgs {
  const out: ParsedArgs = { flags: new Map(), help: false, version: false };
  /** The switch just read when it was given alone: a stray value after it was probably meant for it. */
  let bareSwitch: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const m = /^--?([A-Za-z][A-Za-z0-9_-]*)(?:=([\s\S]*))?$/.exec(arg);
    if (!m) {
      if (bareSwitch !== undefined) {
        throw new ConfigError(`unexpected argument ${JSON.stringify(arg)} after the switch --${bareSwitch}: ` +
          `a switch is given alone (--${bareSwitch}) or with "=" (--${bareSwitch}=true, --${bareSwitch}=false)`);
      }
      throw new ConfigError(`unexpected argument ${JSON.stringify(arg)}: settings are given as --name value`);
    }
    bareSwitch = undefined;
    // `_` reads as `-` (docs/settings.md): --log_format is --log-format.
    const name = (m[1] as string).replace(/_/g, '-');
    let value = m[2];
    if (name === 'h' || name === 'help') { out.help = true; continue; }
    if (name === 'v' || name === 'version') { out.version = true; continue; }
    const key = BY_FLAG.get(name);
    if (name !== CONFIG_FILE.arg && key === undefined) {
      throw new ConfigError(`unknown flag ${JSON.stringify(arg)}${didYouMean(name, FLAG_NAMES, (f) => `--${f}`)}`);
    }
    if (value === undefined) {
      if (key !== undefined && isSwitch(key)) {
        value = 'true';
        bareSwitch = name;
      } else {
        const next = argv[i + 1];
        if (next === undefined) throw new ConfigError(`flag --${name} needs a value`);
        value = next;
        i++;
      }
    }
    if (key === undefined) out.file = value;
    else out.flags.set(key, value);
  }
  return out;
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    // A UTF-8 byte order mark (some editors write one) is not part of the JSON.
    text = readFileSync(path, 'utf8').replace(/^\uFEFF/, '');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new ConfigError(`config file ${path}: cannot be read (${err.code ?? err.message})`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`config file ${path}: invalid JSON (${(e as Error).message})`);
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new ConfigError(`config file ${path}: must hold a JSON object of settings`);
  }
  return data as Record<string, unknown>;
}

const describe = (v: unknown): string => (v === undefined ? 'nothing' : JSON.stringify(v));

export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv): Loaded {
  const args = parseArgs(argv);
  if (args.help) return { kind: 'help' };
  if (args.version) return { kind: 'version' };

  const file = args.file ?? (env[CONFIG_FILE.env] || undefined);
  const fromFile = file === undefined ? {} : readConfigFile(file);
  const fileSource = `config file ${file as string}` as const;

  const errors: string[] = [];
  // Own keys, checked here rather than by convict, which quietly drops `__proto__`.
  const known: Record<string, unknown> = {};
  for (const k of Object.keys(fromFile)) {
    const v = fromFile[k];
    if (!isKey(k)) errors.push(`${fileSource}: unknown setting ${JSON.stringify(k)}${didYouMean(k, KEYS, (c) => JSON.stringify(c))}`);
    // Every setting is a single value (or, for a list setting such as probeTargets, an array of them);
    // convict would take an object as settings nested under this one.
    else if (v !== null && typeof v === 'object' && !(Array.isArray(v) && Array.isArray(schema[k].default))) errors.push(`invalid setting ${k} = ${JSON.stringify(v)} (${fileSource}): must be a single value, not ${Array.isArray(v) ? 'an array' : 'an object'}`);
    else known[k] = v;
  }

  errors.push(...emptyTargetLists(args, env, known, fileSource));

  // Each source on its own: a bad value is an error even where a later source overrides it.
  const alone = (): convict.Config<Config> => convict<Config>(schema, { env: {}, args: [] });
  const fileLayer = alone();
  fileLayer.load(known);
  const flagLayer = alone();
  for (const [key, value] of args.flags) flagLayer.set(key, value);
  const layers: [convict.Config<Config>, (k: Key) => Source][] = [
    [fileLayer, () => fileSource],
    [convict<Config>(schema, { env, args: [] }), (k) => `env ${schema[k].env}`],
    [flagLayer, (k) => `flag --${schema[k].arg}`],
  ];
  for (const [layer, sourceOf] of layers) {
    try {
      layer.validate({ allowed: 'strict' });
    } catch (e) {
      errors.push(...(e as Error).message.split('\n').map((line) => explain(line, layer, sourceOf)));
    }
  }
  if (errors.length > 0) throw new ConfigError(errors.join('\n'));

  // convict reads the environment itself; flags are applied after it, last, as strings.
  const conf = convict<Config>(schema, { env, args: [] });
  conf.load(known);
  for (const [key, value] of args.flags) conf.set(key, value);

  const sources = {} as Record<Key, Source>;
  for (const k of KEYS) {
    const envName = schema[k].env;
    sources[k] = args.flags.has(k) ? `flag --${schema[k].arg}`
      : env[envName] !== undefined ? `env ${envName}`
        : Object.prototype.hasOwnProperty.call(known, k) ? fileSource
          : 'default';
  }

  // Every value in it has passed in its own source above; what is left are the checks across settings.
  const config = conf.getProperties();
  if (config.min > config.max) {
    throw new ConfigError(
      `invalid setting min = ${config.min} (${sources.min}) with max = ${config.max} (${sources.max}): min must be <= max`,
    );
  }
  if (config.requestTimeout > 0 && config.headersTimeout > config.requestTimeout) {
    throw new ConfigError(
      `invalid setting headersTimeout = ${config.headersTimeout} (${sources.headersTimeout}) with requestTimeout = ${config.requestTimeout} (${sources.requestTimeout}): headersTimeout must be <= requestTimeout`,
    );
  }
  if (HEALTH_PATHS.some((p) => p === config.uri || p.startsWith(`${config.uri}/`))) {
    throw new ConfigError(`invalid setting uri = ${JSON.stringify(config.uri)} (${sources.uri}): clashes with a health path (${HEALTH_PATHS.join(', ')})`);
  }
  checkProbeSettings(config, sources);
  if (config.metrics) {
    const p = config.metricsPath;
    if (config.metricsPort === config.port) {
      throw new ConfigError(`invalid setting metricsPort = ${config.metricsPort} (${sources.metricsPort}): must differ from port (0 serves metrics on the heartbeat port)`);
    }
    if (config.metricsPort === 0 && (p === config.uri || p.startsWith(`${config.uri}/`) || ['/', ...HEALTH_PATHS].includes(p))) {
      throw new ConfigError(`invalid setting metricsPath = ${JSON.stringify(p)} (${sources.metricsPath}): clashes with the heartbeat uri or a health path`);
    }
  }
  return { kind: 'run', config, sources, warnings: warnings(config, sources) };
}

/** Settings given (not defaults) that do nothing with the rest of the configuration. */
function warnings(config: Config, sources: Record<Key, Source>): string[] {
  const out: string[] = [];
  if (!config.metrics) {
    // the metrics port serves the status page too
    for (const k of config.status ? ['metricsPath'] as const : ['metricsPort', 'metricsPath'] as const) {
      if (sources[k] !== 'default') {
        out.push(`${k} = ${JSON.stringify(config[k])} (${sources[k]}) has no effect: metrics are off (turn them on with --metrics)`);
      }
    }
  }
  return out;
}

/** Probe settings that are each valid but not together. */
function checkProbeSettings(config: Config, sources: Record<Key, Source>): void {
  if (config.probeInterval < config.probeTimeout) {
    throw new ConfigError(
      `invalid setting probeInterval = ${config.probeInterval} (${sources.probeInterval}) with probeTimeout = ${config.probeTimeout} (${sources.probeTimeout}): probeInterval must be >= probeTimeout`,
    );
  }
  if (config.probeTargets.length > 0 && config.probeSizes.length === 0 && config.probeUpload === 0) {
    throw new ConfigError(
      `invalid setting probeSizes = "" (${sources.probeSizes}) with probeUpload = 0 (${sources.probeUpload}): probing needs at least one size or an upload`,
    );
  }
}

/**
 * probeTargets given, but naming no target (`--probe-targets ,`, `""`): an error rather than
 * probing quietly off. Left out (or `[]` in the file) is how probing is turned off.
 */
function emptyTargetLists(args: ParsedArgs, env: NodeJS.ProcessEnv, known: Record<string, unknown>, fileSource: Source): string[] {
  const given: Array<[unknown, Source]> = [
    [known.probeTargets, fileSource],
    [env[schema.probeTargets.env], `env ${schema.probeTargets.env}`],
    [args.flags.get('probeTargets'), `flag --${schema.probeTargets.arg}`],
  ];
  const out: string[] = [];
  for (const [v, source] of given) {
    const empty = typeof v === 'string' ? v.split(',').every((s) => s.trim() === '')
      : Array.isArray(v) && v.length > 0 && v.every((s) => typeof s === 'string' && s.trim() === '');
    if (empty) {
      out.push(`invalid setting probeTargets = ${JSON.stringify(v)} (${source}): names no target; ` +
        'give http://host:port base URLs, or leave probeTargets out to turn probing off');
    }
  }
  return out;
}

/** A Kubernetes service-link variable's value: `tcp://10.0.0.1:80`. */
const SERVICE_LINK = /^(tcp|udp|sctp):\/\/[^\s/]+:\d+$/;

/** Turns one line of convict's report into ours: setting, value, source, what is allowed. */
function explain(line: string, conf: convict.Config<Config>, sourceOf: (k: Key) => Source): string {
  const m = /^([A-Za-z]+): (.*?)(?:: value was .*)?$/.exec(line);
  const key = m?.[1];
  if (!m || key === undefined || !isKey(key)) return line;
  const value = conf.get(key);
  const source = sourceOf(key);
  // Kubernetes sets <SERVICE>_PORT=tcp://<ip>:<port> in every pod for every Service in the namespace:
  // a Service named "heartbeat" sets HEARTBEAT_PORT.
  const hint = source.startsWith('env ') && typeof value === 'string' && SERVICE_LINK.test(value)
    ? `; this looks like a Kubernetes service-link variable (a Service named "heartbeat" sets ${schema[key].env}): ` +
      'set enableServiceLinks: false in the pod spec, or rename the Service'
    : '';
  return `invalid setting ${key} = ${describe(value)} (${source}): ${m[2]}${hint}`;
}
