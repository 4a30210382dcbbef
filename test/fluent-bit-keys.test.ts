/**
 * Every key our Fluent Bit files use exists in the release the manifests pin: the lists in
 * test/data/fluent-bit-keys.yaml were read from Fluent Bit's source (the config_map tables and
 * property handlers cited there). An unknown key is at best ignored by Fluent Bit, at worst a
 * startup error; either way a typo would silently change what the pipeline does.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { FLUENT_BIT_DIR, readYaml } from './helpers/fluentbit';
import { ROOT } from './helpers/server';

type Keys = Record<string, string[]> & { release: string };
const KEYS = parseYaml(fs.readFileSync(path.join(ROOT, 'test', 'data', 'fluent-bit-keys.yaml'), 'utf8')) as Keys;
/** Top-level sections of Fluent Bit's YAML format we use. */
const SECTIONS = ['service', 'pipeline', 'parsers'];
const KINDS = { inputs: 'input', filters: 'filter', outputs: 'output' } as const;
/** Outputs that connect through an Upstream, so take the `net.*` keys (src/flb_upstream.c). */
const UPSTREAM_OUTPUTS = ['forward', 'opentelemetry'];

/** The `processors` section of an input or an output: signal -> processors, each with its own keys. */
function unknownProcessorKeys(processors: unknown, at: string): string[] {
  if (!processors || typeof processors !== 'object' || Array.isArray(processors)) return [`${at}: processors is not a map of signals`];
  const bad: string[] = [];
  for (const [signal, list] of Object.entries(processors as Record<string, unknown>)) {
    if (!(KEYS.processors as string[]).includes(signal)) { bad.push(`${at} processors: ${signal}`); continue; }
    if (!Array.isArray(list)) { bad.push(`${at} processors ${signal}: not a list`); continue; }
    for (const p of list as Record<string, unknown>[]) {
      const own = KEYS[`processor ${String(p.name)}`];
      if (!own) { bad.push(`${at} processors ${signal}: processor ${String(p.name)} has no key list`); continue; }
      for (const k of Object.keys(p).filter((x) => x !== 'name')) {
        if (![...KEYS.processor as string[], ...own].includes(k.toLowerCase())) bad.push(`${at} processor ${String(p.name)}: ${k}`);
      }
    }
  }
  return bad;
}

/** Every key a Fluent Bit YAML file uses that the key lists do not have, as "where: key". */
function unknownKeys(doc: Record<string, unknown>, where: string): string[] {
  const bad: string[] = [];
  const check = (keys: string[], allowed: string[], at: string): void => {
    for (const k of keys) if (!allowed.includes(k.toLowerCase())) bad.push(`${at}: ${k}`);
  };
  check(Object.keys(doc), SECTIONS, where);
  if (doc.service) check(Object.keys(doc.service), KEYS.service as string[], `${where} service`);
  for (const def of (doc.parsers ?? []) as Record<string, unknown>[]) check(Object.keys(def), KEYS.parser as string[], `${where} parser ${String(def.name)}`);
  const pipeline = (doc.pipeline ?? {}) as Record<string, Record<string, unknown>[]>;
  check(Object.keys(pipeline), Object.keys(KINDS), `${where} pipeline`);
  for (const [section, kind] of Object.entries(KINDS)) {
    for (const plugin of pipeline[section] ?? []) {
      const own = KEYS[`${kind} ${String(plugin.name)}`];
      if (!own) { bad.push(`${where} ${section}: plugin ${String(plugin.name)} has no key list`); continue; }
      const at = `${where} ${kind} ${String(plugin.name)}`;
      const net = kind === 'output' && UPSTREAM_OUTPUTS.includes(String(plugin.name)) ? KEYS['output net'] as string[] : [];
      check(Object.keys(plugin).filter((k) => k !== 'name' && !(k === 'processors' && kind !== 'filter')), [...KEYS[kind] as string[], ...own, ...net], at);
      if (plugin.processors !== undefined && kind !== 'filter') bad.push(...unknownProcessorKeys(plugin.processors, at));
    }
  }
  return bad;
}

const files = (): string[] => fs.readdirSync(FLUENT_BIT_DIR).filter((f) => /\.ya?ml$/.test(f)).sort();

describe(`Fluent Bit keys (against ${KEYS.release}'s source, test/data/fluent-bit-keys.yaml)`, () => {
  it('the key lists are there for every section and plugin kind our files use', () => {
    for (const list of ['service', 'input', 'filter', 'output', 'parser', 'input tail', 'filter modify', 'filter parser', 'output forward', 'output stdout',
      'output opentelemetry', 'output net', 'processors', 'processor', 'processor content_modifier']) {
      assert.ok(Array.isArray(KEYS[list]) && (KEYS[list]).length > 0, list);
    }
    // spot checks of what the lists must hold (and that they are not padded with what they must not)
    assert.ok(KEYS['output forward']?.includes('require_ack_response'));
    assert.ok(KEYS.parser?.includes('decode_field_as'));
    assert.ok(KEYS.service?.includes('storage.max_chunks_up') && KEYS.service.includes('storage.metrics'));
    assert.ok(!KEYS['input tail']?.includes('require_ack_response'));
    assert.ok(KEYS['processor content_modifier']?.includes('context') && KEYS['output net']?.includes('net.io_timeout'));
    assert.deepEqual(KEYS['processor opentelemetry_envelope'], []);
  });

  for (const name of files()) {
    it(`fluent-bit/${name}: every key exists in Fluent Bit ${KEYS.release}`, () => {
      assert.deepEqual(unknownKeys(readYaml(path.join(FLUENT_BIT_DIR, name)), name), []);
    });
  }

  it('the check is real: a misspelt key anywhere is reported', () => {
    const doc = readYaml(path.join(FLUENT_BIT_DIR, 'sidecar.yaml')) as { service: Record<string, unknown>; pipeline: { outputs: Record<string, unknown>[] } };
    doc.service['storage.max_chunk_up'] = 16;
    (doc.pipeline.outputs[0] as Record<string, unknown>).require_ack = true;
    assert.deepEqual(unknownKeys(doc, 'x'), ['x service: storage.max_chunk_up', 'x output forward: require_ack']);
  });

  it('the check is real for processors: a misspelt processor key, an unknown processor and an unknown signal are reported', () => {
    const doc = readYaml(path.join(FLUENT_BIT_DIR, 'sidecar-otlp.yaml')) as { pipeline: { outputs: Record<string, unknown>[] } };
    const out = doc.pipeline.outputs[0] as { processors: { logs: Record<string, unknown>[] } & Record<string, unknown> };
    (out.processors.logs[1] as Record<string, unknown>).contxt = 'otel_resource_attributes';
    out.processors.logs.push({ name: 'no_such_processor' });
    out.processors.log = [];
    assert.deepEqual(unknownKeys(doc, 'x'), [
      'x output opentelemetry processor content_modifier: contxt',
      'x output opentelemetry processors logs: processor no_such_processor has no key list',
      'x output opentelemetry processors: log',
    ]);
  });
});
