/**
 * Every shipped Fluent Bit config starts with its optional variables unset: the variables are
 * substituted the way Fluent Bit does (src/flb_env.c flb_env_var_translate, test/helpers/fluentbit.ts
 * substituteEnv) with only the required ones set, and every resulting value must be one Fluent Bit
 * 5.1 accepts. The rules, read from the v5.1.1 source:
 *
 * - Empty values (src/flb_output.c flb_output_set_property, src/flb_input.c flb_input_set_property):
 *   the translated value is dropped when empty (tmp = NULL). The core keys below are handled only
 *   `&& tmp`, so an empty one falls through to the plugin's own properties, and a plugin whose
 *   config_map lacks the key fails the start-up in flb_config_map_properties_check
 *   (src/flb_config_map.c): "[config] forward: unknown configuration property 'tls'". An empty
 *   value for a key the plugin's config_map has is skipped (flb_config_map_set: kv->val == NULL),
 *   leaving the default.
 * - Booleans (src/flb_utils.c flb_utils_bool): true/on/yes or false/off/no, any case; anything else
 *   is -1, an error for a config_map boolean ("invalid value for boolean property") and a wrong,
 *   truthy setting for the core `tls` keys.
 * - Ports (flb_output_set_property "port": atoi): a whole number, here 1..65535.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { FLUENT_BIT_DIR, envNames, readYaml, substituteEnv } from './helpers/fluentbit';
import { ROOT } from './helpers/server';

type Section = Record<string, unknown>;
type Env = Record<string, string | undefined>;
const KEYS = parseYaml(fs.readFileSync(path.join(ROOT, 'test', 'data', 'fluent-bit-keys.yaml'), 'utf8')) as Record<string, string[]>;

/** Core keys whose empty value becomes a plugin property (the `&& tmp` branches of v5.1.1). */
const EMPTY_FALLS_THROUGH: Record<'input' | 'output', string[]> = {
  output: ['match_regex', 'alias', 'log_level', 'log_suppress_interval', 'ipv6', 'tls', 'tls.verify', 'tls.verify_hostname',
    'tls.debug', 'tls.proxy.verify', 'tls.proxy.verify_hostname', 'storage.total_limit_size', 'workers'],
  input: ['tag', 'log_level', 'log_suppress_interval', 'routable', 'alias', 'mem_buf_limit', 'ipv6', 'tls', 'tls.verify',
    'tls.verify_client_cert', 'tls.verify_hostname', 'tls.debug', 'storage.type', 'threaded', 'storage.pause_on_chunks_overlimit'],
};
/** Boolean keys our files use (flb_utils_bool in flb_output.c / flb_config.c, FLB_CONFIG_MAP_BOOL in the plugins). */
const BOOLEANS = ['tls', 'tls.verify', 'tls.verify_hostname', 'require_ack_response', 'read_from_head', 'skip_long_lines',
  'db.locking', 'reserve_data', 'preserve_key', 'http_server', 'health_check', 'storage.checksum', 'storage.metrics', 'log_response_payload'];
const BOOL_WORDS = ['true', 'on', 'yes', 'false', 'off', 'no'];

/** What each config needs set (docs/fluent-bit.md lists them as required); every other variable is optional. */
const REQUIRED: Record<string, Env> = {
  'sidecar.yaml': {
    HEARTBEAT_LOG_PATH: '/var/log/pods/heartbeat_heartbeat-0_x/heartbeat/*.log*', FLUENT_FORWARD_HOST: 'fluentd.logging',
    POD_NAME: 'heartbeat-0', POD_NAMESPACE: 'heartbeat', NODE_NAME: 'node-1',
  },
  'collector.yaml': { HEARTBEAT_LOG_PATH: '/var/log/pods/heartbeat_heartbeat-*_*/heartbeat/*.log*', FLUENT_FORWARD_HOST: 'fluentd.logging', NODE_NAME: 'node-1' },
  'sidecar-otlp.yaml': {
    HEARTBEAT_LOG_PATH: '/var/log/pods/heartbeat_heartbeat-0_x/heartbeat/*.log*', OTLP_HOST: 'otel-collector.observability',
    POD_NAME: 'heartbeat-0', POD_NAMESPACE: 'heartbeat', NODE_NAME: 'node-1', OTLP_SERVICE_VERSION: '1.0.0',
  },
  'collector-otlp.yaml': {
    HEARTBEAT_LOG_PATH: '/var/log/pods/heartbeat_heartbeat-*_*/heartbeat/*.log*', OTLP_HOST: 'otel-collector.observability', NODE_NAME: 'node-1',
    HEARTBEAT_NAMESPACE: 'heartbeat', OTLP_SERVICE_VERSION: '1.0.0',
  },
  'local.yaml': { HEARTBEAT_LOG_FILE: '/tmp/heartbeat.log' },
};

/** Every problem Fluent Bit would have with `doc` once substituted with `env`, as "where: what". */
function rejected(doc: Section, env: Env): string[] {
  const bad: string[] = [];
  const checkValue = (where: string, key: string, raw: unknown, ownKeys: string[] | null, core: string[]): void => {
    if (typeof raw !== 'string' && typeof raw !== 'number' && typeof raw !== 'boolean') return;
    const v = typeof raw === 'string' ? substituteEnv(raw, env) : String(raw);
    const k = key.toLowerCase();
    if (v === '' && core.includes(k) && !(ownKeys ?? []).includes(k)) bad.push(`${where}: empty ${key} (unknown configuration property '${key}')`);
    if (v !== '' && BOOLEANS.includes(k) && !BOOL_WORDS.includes(v.toLowerCase())) bad.push(`${where}: ${key}=${v} is not a boolean`);
    if (v !== '' && k === 'port' && !(/^\d+$/.test(v) && Number(v) >= 1 && Number(v) <= 65535)) bad.push(`${where}: port=${v}`);
  };
  for (const [k, v] of Object.entries((doc.service ?? {}) as Section)) checkValue('service', k, v, null, []);
  const pipeline = (doc.pipeline ?? {}) as Record<string, Section[]>;
  for (const [section, kind] of [['inputs', 'input'], ['filters', 'filter'], ['outputs', 'output']] as const) {
    for (const plugin of pipeline[section] ?? []) {
      const own = KEYS[`${kind} ${String(plugin.name)}`] ?? [];
      const core = kind === 'filter' ? [] : EMPTY_FALLS_THROUGH[kind];
      for (const [k, v] of Object.entries(plugin)) checkValue(`${kind} ${String(plugin.name)}`, k, v, own, core);
      // processors: an empty value is kept as "" (flb_processor_instance_set_property stores it), so a
      // content_modifier would set an attribute to "" without a word: every value must be non-empty
      for (const list of Object.values((plugin.processors ?? {}) as Record<string, Section[]>)) {
        for (const p of list) {
          for (const [k, v] of Object.entries(p)) {
            if (typeof v === 'string' && substituteEnv(v, env) === '') bad.push(`${kind} ${String(plugin.name)} processor ${String(p.name)}: empty ${k}`);
          }
        }
      }
    }
  }
  return bad;
}

const shipped = (): string[] => fs.readdirSync(FLUENT_BIT_DIR).filter((f) => /\.ya?ml$/.test(f) && f !== 'parsers.yaml').sort();
const load = (name: string): Section => readYaml(path.join(FLUENT_BIT_DIR, name));
const varsOf = (name: string): string[] =>
  [...new Set(envNames(fs.readFileSync(path.join(FLUENT_BIT_DIR, name), 'utf8').replace(/^\s*#.*$/gm, '')))].sort();
/** The literals a kustomization's configMapGenerator sets, NAME -> value. */
function literals(rel: string): Record<string, string> {
  const k = parseYaml(fs.readFileSync(path.join(ROOT, rel), 'utf8')) as { configMapGenerator?: { literals?: string[] }[] };
  const out: Record<string, string> = {};
  for (const g of k.configMapGenerator ?? []) for (const l of g.literals ?? []) { const i = l.indexOf('='); out[l.slice(0, i)] = l.slice(i + 1); }
  return out;
}

describe('Fluent Bit configs start with their optional variables unset (flb_env_var_translate, flb_output_set_property)', () => {
  it("the substitution is Fluent Bit's: unset is empty, ${VAR:-default} covers unset and empty, text around stays", () => {
    assert.equal(substituteEnv('${A}', {}), '');
    assert.equal(substituteEnv('${A:-off}', {}), 'off');
    assert.equal(substituteEnv('${A:-off}', { A: '' }), 'off');
    assert.equal(substituteEnv('${A:-off}', { A: 'on' }), 'on');
    assert.equal(substituteEnv('${A}', { A: '' }), '');
    assert.equal(substituteEnv('pod ${A}/${B:-x}!', { A: 'p' }), 'pod p/x!');
    assert.equal(substituteEnv('no vars', {}), 'no vars');
  });

  for (const name of shipped()) {
    it(`fluent-bit/${name}: with only the required variables set, every value is one Fluent Bit accepts`, () => {
      const required = REQUIRED[name];
      assert.ok(required, `${name} lists its required variables here`);
      for (const v of Object.keys(required)) assert.ok(varsOf(name).includes(v), `${name} uses ${v}`);
      assert.deepEqual(rejected(load(name), required), []);
    });

    it(`fluent-bit/${name}: every optional variable set empty is as good as unset`, () => {
      const env: Env = { ...REQUIRED[name] };
      for (const v of varsOf(name)) if (!(v in env)) env[v] = '';
      assert.deepEqual(rejected(load(name), env), []);
    });
  }

  it("the defaults written in the files are the manifests' (docs/fluent-bit.md documents them)", () => {
    const doc = fs.readFileSync(path.join(ROOT, 'docs', 'fluent-bit.md'), 'utf8');
    for (const [name, kustomization] of [['sidecar.yaml', 'k8s/components/fluent-bit-sidecar/kustomization.yaml'], ['collector.yaml', 'k8s/components/node-collector/kustomization.yaml']] as const) {
      const set = literals(kustomization);
      const out = ((load(name).pipeline as Record<string, Section[]>).outputs ?? []).find((o) => o.name === 'forward') as Section;
      for (const [key, v] of [['port', 'FLUENT_FORWARD_PORT'], ['tls', 'FLUENT_FORWARD_TLS'], ['tls.verify', 'FLUENT_FORWARD_TLS_VERIFY']] as const) {
        const unset = substituteEnv(String(out[key]), {});
        assert.equal(unset, set[v], `${name} ${key}: unset gives ${unset}, the manifests set ${String(set[v])}`);
        assert.equal(substituteEnv(String(out[key]), { [v]: 'x' }), 'x', `${name} ${key} follows ${v}`);
        assert.match(doc, new RegExp(`\\| \`${v}\` \\|[^\\n]*unset: \`${unset}\``), `docs/fluent-bit.md gives ${v}'s default`);
      }
    }
  });

  it('the check is real: a bare ${VAR} under tls, a non-boolean and a bad port are reported', () => {
    const doc = load('sidecar.yaml') as { pipeline: { outputs: Section[] } };
    const out = doc.pipeline.outputs[0] as Section;
    out.tls = '${FLUENT_FORWARD_TLS}';
    out['tls.verify'] = '${FLUENT_FORWARD_TLS_VERIFY:-maybe}';
    out.port = '${FLUENT_FORWARD_PORT}x';
    assert.deepEqual(rejected(doc, REQUIRED['sidecar.yaml'] as Env), [
      "output forward: port=x",
      "output forward: empty tls (unknown configuration property 'tls')",
      'output forward: tls.verify=maybe is not a boolean',
    ]);
    // forward's own shared_key may be empty (its config_map has it: the default stays)
    out.tls = 'off'; out['tls.verify'] = 'on'; out.port = '24224'; out.shared_key = '${UNSET}';
    assert.deepEqual(rejected(doc, {}), []);
  });

  it('the check is real for processors: an OTLP resource attribute whose variable is unset is reported', () => {
    const env = { ...REQUIRED['sidecar-otlp.yaml'] };
    delete env.OTLP_SERVICE_VERSION;
    assert.deepEqual(rejected(load('sidecar-otlp.yaml'), env), ['output opentelemetry processor content_modifier: empty value']);
  });
});
