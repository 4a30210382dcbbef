/**
 * Builds the effective configuration from defaults < config file < environment
 * < command-line flags, with convict doing the merging and validation against
 * the schema. Any problem is a ConfigError whose message names the setting, the
 * bad value, where it came from and what is allowed.
 */
import { readFileSync } from 'node:fs';
import convict from 'convict';
import { PROBE_PATHS } from '../paths';
import { CONFIG_FILE, KEYS, schema, type Config, type Key } from './schema';

export class ConfigError extends Error {}

export type Source = 'default' | `config file ${string}` | `env ${string}` | `flag --${string}`;

export type Loaded =
  | { kind: 'help' }
  | { kind: 'version' }
  | { kind: 'run'; config: Config; sources: Record<Key, Source>; file?: string };

interface ParsedArgs {
  flags: Map<Key, string>;
  file?: string;
  help: boolean;
  version: boolean;
}

const BY_FLAG = new Map<string, Key>(KEYS.map((k) => [schema[k].arg, k]));
const isSwitch = (k: Key): boolean => schema[k].format === 'switch';

/**
 * Reads flags the way both the Go server and GNU tools write them: `--port 9000`,
 * `--port=9000`, `-port 9000`, `-port=9000`; switches alone (`-log`) or with
 * `=value` (`-log=false`). Unknown flags and stray arguments are errors.
 */
export function parseArgs(argv: readonly string[]): ParsedArgs {
  const out: ParsedArgs = { flags: new Map(), help: false, version: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const m = /^--?([A-Za-z][A-Za-z0-9-]*)(?:=([\s\S]*))?$/.exec(arg);
    if (!m) throw new ConfigError(`unexpected argument ${JSON.stringify(arg)}: settings are given as --name value`);
    const name = m[1] as string;
    let value = m[2];
    if (name === 'h' || name === 'help') { out.help = true; continue; }
    if (name === 'v' || name === 'version') { out.version = true; continue; }
    const key = BY_FLAG.get(name);
    if (name !== CONFIG_FILE.arg && key === undefined) {
      throw new ConfigError(`unknown flag ${JSON.stringify(arg)}`);
    }
    if (value === undefined) {
      if (key !== undefined && isSwitch(key)) value = 'true';
      else {
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
    text = readFileSync(path, 'utf8');
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

  // convict reads the environment itself; flags are applied after it, last, as strings.
  const conf = convict<Config>(schema, { env, args: [] });
  conf.load(fromFile);
  for (const [key, value] of args.flags) conf.set(key, value);

  const sources = {} as Record<Key, Source>;
  for (const k of KEYS) {
    const envName = schema[k].env;
    sources[k] = args.flags.has(k) ? `flag --${schema[k].arg}`
      : env[envName] !== undefined ? `env ${envName}`
        : Object.prototype.hasOwnProperty.call(fromFile, k) ? `config file ${file as string}`
          : 'default';
  }

  try {
    conf.validate({ allowed: 'strict' });
  } catch (e) {
    throw new ConfigError((e as Error).message.split('\n').map((line) => explain(line, conf, sources, file)).join('\n'));
  }
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
  if (PROBE_PATHS.some((p) => p === config.uri || p.startsWith(`${config.uri}/`))) {
    throw new ConfigError(`invalid setting uri = ${JSON.stringify(config.uri)} (${sources.uri}): clashes with a probe path (${PROBE_PATHS.join(', ')})`);
  }
  checkProbeSettings(config, sources);
  if (config.metrics) {
    const p = config.metricsPath;
    if (config.metricsPort === config.port) {
      throw new ConfigError(`invalid setting metricsPort = ${config.metricsPort} (${sources.metricsPort}): must differ from port (0 serves metrics on the heartbeat port)`);
    }
    if (config.metricsPort === 0 && (p === config.uri || p.startsWith(`${config.uri}/`) || ['/', ...PROBE_PATHS].includes(p))) {
      throw new ConfigError(`invalid setting metricsPath = ${JSON.stringify(p)} (${sources.metricsPath}): clashes with the heartbeat uri or a probe path`);
    }
  }
  return { kind: 'run', config, sources, file };
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

/** Turns one line of convict's report into ours: setting, value, source, what is allowed. */
function explain(line: string, conf: convict.Config<Config>, sources: Record<Key, Source>, file?: string): string {
  const undeclared = /^configuration param '([^']*)' not declared in the schema/.exec(line);
  if (undeclared) {
    return `config file ${file ?? ''}: unknown setting ${JSON.stringify(undeclared[1])}`;
  }
  const m = /^([A-Za-z]+): (.*?)(?:: value was .*)?$/.exec(line);
  const key = m?.[1] as Key | undefined;
  if (!m || key === undefined || !(key in schema)) return line;
  return `invalid setting ${key} = ${describe(conf.get(key))} (${sources[key]}): ${m[2]}`;
}
