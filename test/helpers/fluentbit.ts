/**
 * What Fluent Bit does with a log line, for the parts our configuration uses, so the
 * shipped fluent-bit/*.yaml can be proved here without Fluent Bit itself:
 *
 * - regexes compiled by Oniguruma (vscode-oniguruma, WASM), the engine Fluent Bit's Onigmo
 *   forked from, and by JavaScript's RegExp; both must agree on every capture;
 * - the regex parser (flb_parser_regex.c): empty captures, `types` casts, the time lookup
 *   (flb_parser_time_lookup: strptime before %L, up to 9 fraction digits, strptime after),
 *   time_keep;
 * - the json parser (flb_parser_json.c, flb_pack.c): one top-level object, numbers typed
 *   by their text (a "." or an exponent sign makes a float, else an integer);
 * - the parser filter (filter_parser.c): parsers tried in order, the first match wins;
 * - field decoders (flb_parser_decoder.c): `decode_field_as json <field>` turns a string field
 *   holding one JSON object into a map, and leaves anything else as the string it was.
 *
 * Anything the parsers file asks for that is not modelled here throws, so a change to the
 * configuration cannot silently escape the tests.
 */
import fs from 'node:fs';
import path from 'node:path';
import { OnigScanner, loadWASM } from 'vscode-oniguruma';
import { parse as parseYaml } from 'yaml';
import { ROOT } from './server';

export const FLUENT_BIT_DIR = path.join(ROOT, 'fluent-bit');

/** An integer as Fluent Bit packs it (msgpack int). */
export class FbInt {
  constructor(readonly value: number) {}
}
/** A float as Fluent Bit packs it (msgpack float64). */
export class FbFloat {
  constructor(readonly value: number) {}
}
export type FbValue = string | boolean | null | FbInt | FbFloat | FbValue[] | FbMap;
export interface FbMap { [key: string]: FbValue }

/** A record's timestamp: seconds and nanoseconds since the epoch. */
export interface FbTime { sec: number; nsec: number }

// ---------------------------------------------------------------------------------------------
// Regexes

let wasmLoaded: Promise<void> | undefined;

/** Loads Oniguruma's WASM build once (it ships inside the npm package; nothing is downloaded). */
export function loadOniguruma(): Promise<void> {
  wasmLoaded ??= loadWASM(fs.readFileSync(require.resolve('vscode-oniguruma/release/onig.wasm')));
  return wasmLoaded;
}

/** Named groups in the order they open (both engines number them this way). */
export function groupNames(source: string): string[] {
  return [...source.matchAll(/\(\?<([A-Za-z_][A-Za-z0-9_]*)>/g)].map((m) => m[1] as string);
}

export interface Captures { [name: string]: { start: number; end: number } }

export interface DualRegex {
  readonly source: string;
  readonly names: string[];
  /** Oniguruma's match (unanchored search from 0, as onig_search), or null. */
  onig(s: string): Captures | null;
  /** JavaScript's match, or null. */
  js(s: string): Captures | null;
}

/**
 * Compiles a Fluent Bit regex with both engines. Throws on anything Fluent Bit would read
 * differently from how it looks: /.../ delimiters, groups without a name that would capture
 * under one engine and not the other, lookbehind.
 */
export function compileRegex(source: string): DualRegex {
  if (source.startsWith('/')) throw new Error(`regex starts with "/": Fluent Bit reads /.../ as delimiters: ${source}`);
  if (/\(\?<[=!]/.test(source)) throw new Error(`regex uses lookbehind: ${source}`);
  const names = groupNames(source);
  const scanner = new OnigScanner([source]);
  const re = new RegExp(source, 'd');
  const probe = new RegExp(`(?:${source})|`).exec('');
  if (!probe || probe.length - 1 !== names.length) {
    throw new Error(`regex has unnamed capturing groups (use (?:...)): ${source}`);
  }
  return {
    source,
    names,
    onig(s) {
      const m = scanner.findNextMatchSync(s, 0);
      if (!m) return null;
      if (m.captureIndices.length - 1 !== names.length) {
        throw new Error(`Oniguruma sees ${m.captureIndices.length - 1} groups, names ${names.length}: ${source}`);
      }
      const out: Captures = {};
      names.forEach((n, i) => {
        const c = m.captureIndices[i + 1] as { start: number; end: number };
        out[n] = { start: c.start, end: c.end };
      });
      return out;
    },
    js(s) {
      const m = re.exec(s);
      if (!m?.indices?.groups) return null;
      const out: Captures = {};
      for (const n of names) {
        const c = m.indices.groups[n];
        if (!c) throw new Error(`group ${n} did not take part in the match`);
        out[n] = { start: c[0], end: c[1] };
      }
      return out;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// strptime (the subset of Fluent Bit's flb_strptime.c our formats use)

interface Tm { year: number; mon: number; mday: number; hour: number; min: number; sec: number; gmtoff: number }

/** _conv_num: at least one digit, no more digits than the upper bound has, within bounds. */
function convNum(s: string, pos: number, llim: number, ulim: number): [number, number] | null {
  const digit = (i: number): boolean => i < s.length && s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57;
  if (!digit(pos)) return null;
  let result = 0;
  let rulim = ulim;
  do {
    result = result * 10 + (s.charCodeAt(pos++) - 48);
    rulim = Math.trunc(rulim / 10);
  } while (result * 10 <= ulim && rulim && digit(pos));
  if (result < llim || result > ulim) return null;
  return [result, pos];
}

const isSpace = (c: string | undefined): boolean => c !== undefined && ' \t\n\v\f\r'.includes(c);

/** Parses `s` from 0 with `fmt`; returns the index after the parsed part, or null. */
function strptime(s: string, fmt: string, tm: Tm): number | null {
  tm.gmtoff = 0; // a call starts afresh (initialize = 1)
  let pos = 0;
  for (let f = 0; f < fmt.length; f++) {
    const c = fmt[f] as string;
    if (isSpace(c)) {
      while (isSpace(s[pos])) pos++;
      continue;
    }
    if (pos >= s.length) return null;
    if (c !== '%') {
      if (s[pos++] !== c) return null;
      continue;
    }
    const conv = fmt[++f];
    const field = (llim: number, ulim: number, set: (v: number) => void): boolean => {
      const r = convNum(s, pos, llim, ulim);
      if (!r) return false;
      set(r[0]);
      pos = r[1];
      return true;
    };
    let ok: boolean;
    switch (conv) {
      case '%': ok = s[pos++] === '%'; break;
      case 'Y': ok = field(0, 9999, (v) => { tm.year = v; }); break;
      case 'm': ok = field(1, 12, (v) => { tm.mon = v - 1; }); break;
      case 'd': ok = field(1, 31, (v) => { tm.mday = v; }); break;
      case 'H': ok = field(0, 23, (v) => { tm.hour = v; }); break;
      case 'M': ok = field(0, 59, (v) => { tm.min = v; }); break;
      case 'S': ok = field(0, 60, (v) => { tm.sec = v; }); break;
      case 'z': {
        while (isSpace(s[pos])) pos++;
        const sign = s[pos++];
        if (sign === 'Z') { tm.gmtoff = 0; ok = true; break; }
        if (sign !== '+' && sign !== '-') { ok = false; break; }
        const d = (i: number): number => (/[0-9]/.test(s[i] ?? '') ? Number(s[i]) : NaN);
        let offs = (d(pos) * 10 + d(pos + 1)) * 3600;
        if (Number.isNaN(offs)) { ok = false; break; }
        pos += 2;
        if (s[pos] === ':') pos++;
        if (!Number.isNaN(d(pos))) {
          if (Number.isNaN(d(pos + 1))) { ok = false; break; }
          offs += (d(pos) * 10 + d(pos + 1)) * 60;
          pos += 2;
        }
        tm.gmtoff = sign === '-' ? -offs : offs;
        ok = true;
        break;
      }
      default:
        throw new Error(`strptime %${conv} is not modelled by this test helper: extend it`);
    }
    if (!ok) return null;
  }
  return pos;
}

/**
 * flb_parser_time_lookup + flb_parser_tm2time for a format with a year (time_strict on):
 * the timestamp the record gets, or null where Fluent Bit warns and keeps the read time.
 */
export function timeLookup(value: string, timeFormat: string): FbTime | null {
  if (!timeFormat.includes('%Y')) throw new Error('time formats without %Y are not modelled');
  const tm: Tm = { year: 1900, mon: 0, mday: 0, hour: 0, min: 0, sec: 0, gmtoff: 0 };
  const at = timeFormat.indexOf('%L');
  const head = at < 0 ? timeFormat : timeFormat.slice(0, at);
  let pos = strptime(value, head, tm);
  if (pos === null) return null;
  let frac = 0;
  if (at >= 0) {
    // parse_subseconds: strtod("0." + up to 9 characters), at least one digit consumed
    const digits = /^[0-9]*/.exec(value.slice(pos, pos + 9))?.[0] ?? '';
    if (digits.length === 0) return null;
    frac = Number(`0.${digits}`);
    pos += digits.length;
    const tail = strptime(value.slice(pos), timeFormat.slice(at + 2), tm);
    if (tail === null) return null;
  }
  const sec = Date.UTC(tm.year, tm.mon, tm.mday, tm.hour, tm.min, tm.sec) / 1000 - tm.gmtoff;
  return { sec, nsec: Math.trunc(frac * 1e9) };
}

// ---------------------------------------------------------------------------------------------
// JSON as Fluent Bit packs it

/** flb_pack.c is_float: a "." or an exponent with a sign makes a float. */
function numberToken(text: string): FbInt | FbFloat {
  return /\.|[eE][+-]/.test(text) ? new FbFloat(Number(text)) : new FbInt(Number(text));
}

/**
 * Parses JSON text into Fluent Bit's typed values; null when it is not one JSON value
 * (Fluent Bit then reports no match; it also refuses several top-level values).
 */
export function packJson(text: string): FbValue | undefined {
  try {
    JSON.parse(text);
  } catch {
    return undefined;
  }
  let i = 0;
  const ws = (): void => { while (i < text.length && ' \t\n\r'.includes(text[i] as string)) i++; };
  const value = (): FbValue => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const map: FbMap = {};
      ws();
      if (text[i] === '}') { i++; return map; }
      for (;;) {
        ws();
        const key = value() as string;
        ws();
        i++; // :
        map[key] = value();
        ws();
        if (text[i++] === '}') return map;
      }
    }
    if (c === '[') {
      i++;
      const arr: FbValue[] = [];
      ws();
      if (text[i] === ']') { i++; return arr; }
      for (;;) {
        arr.push(value());
        ws();
        if (text[i++] === ']') return arr;
      }
    }
    if (c === '"') {
      const m = /^"(?:[^"\\]|\\.)*"/.exec(text.slice(i)) as RegExpExecArray;
      i += m[0].length;
      return JSON.parse(m[0]) as string;
    }
    const m = /^[^,\]}\s]+/.exec(text.slice(i)) as RegExpExecArray;
    i += m[0].length;
    if (m[0] === 'true') return true;
    if (m[0] === 'false') return false;
    if (m[0] === 'null') return null;
    return numberToken(m[0]);
  };
  return value();
}

/** Plain JSON value of a typed record (for comparing with a record written in docs/fluent-bit.md). */
export function plain(v: FbValue): unknown {
  if (v instanceof FbInt || v instanceof FbFloat) return v.value;
  if (Array.isArray(v)) return v.map(plain);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

// ---------------------------------------------------------------------------------------------
// Parsers

/** Fluent Bit's flb_utils_bool. */
export function fbBool(v: unknown): boolean {
  return ['true', 'on', 'yes'].includes(String(v).toLowerCase());
}

const PARSER_KEYS = new Set(['name', 'format', 'regex', 'time_key', 'time_format', 'time_keep', 'types', 'skip_empty_values', 'decode_field_as']);

export interface Parsed { record: FbMap; time: FbTime | null }

export interface Parser {
  readonly name: string;
  readonly format: 'regex' | 'json';
  readonly regex?: DualRegex;
  readonly timeKey: string;
  readonly timeFormat?: string;
  /** field name -> declared type */
  readonly types: Map<string, string>;
  /** The record and timestamp Fluent Bit makes of `line`, or null when this parser does not match. */
  parse(line: string): Parsed | null;
}

function cast(type: string | undefined, value: string): FbValue {
  switch (type) {
    case undefined:
    case 'string':
      return value;
    case 'integer':
      return new FbInt(Number.parseInt(value, 10) || 0); // atoll
    case 'float':
      return new FbFloat(Number.parseFloat(value) || 0); // atof
    case 'bool':
      if (/^true/i.test(value)) return true;
      if (/^false/i.test(value)) return false;
      return value; // "cast error. save as string."
    default:
      throw new Error(`type ${type} is not modelled`);
  }
}

/** A scalar YAML value as the string Fluent Bit reads. */
function scalar(v: unknown, what: string): string {
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new Error(`${what} must be a scalar, is ${JSON.stringify(v)}`);
}

/**
 * decode_json of flb_parser_decoder.c: leading spaces skipped, the text must start with `{` or
 * `[` and be exactly one JSON value, and only an object is taken (as a map); null otherwise.
 */
function decodeJson(text: string): FbMap | null {
  const t = text.replace(/^ +/, '');
  if (!t.startsWith('{') && !t.startsWith('[')) return null;
  const v = packJson(t);
  if (v === undefined || v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof FbInt || v instanceof FbFloat) return null;
  return v;
}

/** A parser's `decode_field_as` rules as [backend, field]; only the json backend is modelled. */
function decodersOf(def: Record<string, unknown>, name: string): [string, string][] {
  if (def.decode_field_as === undefined) return [];
  const rule = scalar(def.decode_field_as, `parser ${name}: decode_field_as`);
  const [backend, field, ...rest] = rule.split(' ');
  if (backend !== 'json' || !field || rest.length) throw new Error(`parser ${name}: decode_field_as ${rule} is not modelled`);
  return [[backend, field]];
}

function applyDecoders(record: FbMap, decoders: [string, string][]): void {
  for (const [, field] of decoders) {
    const v = record[field];
    if (typeof v !== 'string') continue;
    const map = decodeJson(v);
    if (map) record[field] = map;
  }
}

function makeParser(def: Record<string, unknown>): Parser {
  for (const k of Object.keys(def)) {
    if (!PARSER_KEYS.has(k)) throw new Error(`parser ${JSON.stringify(def.name)}: key ${k} is not modelled by the test helper`);
  }
  const name = scalar(def.name, 'name');
  const format = scalar(def.format, `parser ${name}: format`);
  if (format !== 'regex' && format !== 'json') throw new Error(`parser ${name}: format ${format} is not modelled`);
  const timeKey = def.time_key === undefined ? 'time' : scalar(def.time_key, 'time_key');
  const timeFormat = def.time_format === undefined ? undefined : scalar(def.time_format, 'time_format');
  const timeKeep = def.time_keep !== undefined && fbBool(def.time_keep);
  const skipEmpty = def.skip_empty_values === undefined || fbBool(def.skip_empty_values);
  const decoders = decodersOf(def, name);
  const types = new Map<string, string>();
  if (def.types !== undefined) {
    for (const t of scalar(def.types, 'types').split(' ').filter(Boolean)) {
      const [k, v] = t.split(':') as [string, string | undefined];
      types.set(k, (v ?? 'string').toLowerCase());
    }
  }
  if (format === 'json') {
    return {
      name, format, timeKey, timeFormat, types,
      parse(line) {
        const v = packJson(line);
        if (v === undefined || v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof FbInt || v instanceof FbFloat) return null;
        const record = v;
        let time: FbTime | null = null;
        const t = record[timeKey];
        if (timeFormat && typeof t === 'string') {
          time = timeLookup(t, timeFormat);
          if (time && !timeKeep) delete record[timeKey];
        }
        applyDecoders(record, decoders);
        return { record, time };
      },
    };
  }
  if (typeof def.regex !== 'string') throw new Error(`parser ${name}: regex missing`);
  const regex = compileRegex(def.regex);
  return {
    name, format, regex, timeKey, timeFormat, types,
    parse(line) {
      const caps = regex.onig(line);
      if (!caps || regex.names.length === 0) return null;
      const record: FbMap = {};
      let time: FbTime | null = null;
      for (const n of regex.names) {
        const c = caps[n] as { start: number; end: number };
        const value = line.slice(c.start, c.end);
        if (value.length === 0 && skipEmpty) continue;
        if (timeFormat && n === timeKey) {
          time = timeLookup(value, timeFormat);
          if (!time || !timeKeep) continue; // unparsable time: warned about and left out
        }
        record[n] = cast(types.get(n), value);
      }
      applyDecoders(record, decoders);
      return { record, time };
    },
  };
}

/** Reads a YAML file of ours. */
export function readYaml(file: string): Record<string, unknown> {
  return parseYaml(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
}

function addParsers(out: Map<string, Parser>, defs: unknown, file: string): Map<string, Parser> {
  if (!Array.isArray(defs)) throw new Error(`${file}: "parsers" must be a list`);
  for (const def of defs as Record<string, unknown>[]) {
    const p = makeParser(def);
    if (out.has(p.name)) throw new Error(`parser ${p.name} defined twice`);
    out.set(p.name, p);
  }
  return out;
}

/** fluent-bit/parsers.yaml, read and compiled (call loadOniguruma() first). */
export function loadParsers(file = path.join(FLUENT_BIT_DIR, 'parsers.yaml')): Map<string, Parser> {
  const doc = readYaml(file);
  const keys = Object.keys(doc);
  if (keys.length !== 1 || keys[0] !== 'parsers') throw new Error(`${file}: expected only a "parsers" section, got ${keys.join(', ')}`);
  return addParsers(new Map(), doc.parsers, file);
}

/**
 * The parsers a pipeline file sees: its parsers_file's (resolved beside it) and those of its own
 * `parsers` section (flb_config.c loads the main file's parser definitions too).
 */
export function pipelineParsers(file: string): Map<string, Parser> {
  const doc = readYaml(file);
  const service = (doc.service ?? {}) as Record<string, unknown>;
  const out = service.parsers_file === undefined ? new Map<string, Parser>()
    : loadParsers(path.resolve(path.dirname(file), scalar(service.parsers_file, 'parsers_file')));
  return doc.parsers === undefined ? out : addParsers(out, doc.parsers, file);
}

/** The parser filter: the first of `names` that matches `line`, and what it made. */
export function parserFilter(parsers: Map<string, Parser>, names: string[], line: string): (Parsed & { parser: string }) | null {
  for (const n of names) {
    const p = parsers.get(n);
    if (!p) throw new Error(`parser ${n} not defined`);
    const r = p.parse(line);
    if (r) return { ...r, parser: n };
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Pipelines

/** The built-in `cri` multiline parser's regex (flb_ml_parser_cri.c); its time is kept in the record. */
export const CRI_REGEX = '^(?<time>.+?) (?<stream>stdout|stderr) (?<_p>F|P) (?<log>.*)$';
export const CRI_TIME_FORMAT = '%Y-%m-%dT%H:%M:%S.%L%z';

/** A full (F) line of a CRI log file as the tail input hands it on: its record and timestamp. */
let criRegex: DualRegex | undefined;
export function criRecord(fileLine: string): Parsed | null {
  const re = (criRegex ??= compileRegex(CRI_REGEX));
  const c = re.onig(fileLine);
  if (!c) return null;
  const record: FbMap = {};
  for (const n of re.names) {
    const { start, end } = c[n] as { start: number; end: number };
    record[n] = fileLine.slice(start, end);
  }
  return { record, time: timeLookup(record.time as string, CRI_TIME_FORMAT) };
}

/**
 * Fluent Bit's ${VAR} substitution (src/flb_env.c flb_env_var_translate): `${NAME}` becomes the
 * variable's value, or nothing when it is unset; `${NAME:-default}` (5.0.6 and later) becomes
 * the default when the variable is unset or empty. Everything between `${` and the next `}` names
 * the variable. An unterminated `${` ends the substitution and drops the rest of the value, as
 * Fluent Bit does.
 */
export function substituteEnv(value: string, env: Record<string, string | undefined>): string {
  let out = '';
  let i = 0;
  let sawVar = false;
  for (;;) {
    const start = value.indexOf('${', i);
    if (start < 0) break;
    const end = value.indexOf('}', i);
    if (end < 0 || end - (start + 2) <= 0) break;
    sawVar = true;
    let name = value.slice(start + 2, end);
    let def: string | undefined;
    const sep = name.indexOf(':');
    if (sep >= 0 && name[sep + 1] === '-') { def = name.slice(sep + 2); name = name.slice(0, sep); }
    out += value.slice(i, start);
    const set = env[name];
    if (set !== undefined && !(def !== undefined && set === '')) out += set;
    else if (def !== undefined) out += def;
    i = end + 1;
  }
  return sawVar ? out + value.slice(i) : value;
}

/** The variables a Fluent Bit value names, `${NAME}` or `${NAME:-default}`. */
export function envNames(value: string): string[] {
  return [...value.matchAll(/\$\{([^}:]*)(?::-[^}]*)?\}/g)].map((m) => m[1] as string);
}

/** Tag matching with `*` wildcards, as a filter's or output's `match`. */
export function tagMatches(pattern: string, tag: string): boolean {
  const re = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  return re.test(tag);
}

/** A property that may be given once or as a YAML list (Fluent Bit repeats the property). */
export function values(v: unknown): string[] {
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).map((x) => scalar(x, 'property'));
}

const FILTER_KEYS: Record<string, Set<string>> = {
  modify: new Set(['name', 'match', 'remove', 'add', 'rename']),
  parser: new Set(['name', 'match', 'key_name', 'parser', 'reserve_data', 'preserve_key']),
};

/**
 * Runs a record through a pipeline's filters (modify: remove, add; parser: as filter_parser.c,
 * reserve_data and preserve_key included). Throws on any filter or key not modelled.
 */
export function runFilters(filters: Record<string, unknown>[], tag: string, start: Parsed,
  parsers: Map<string, Parser>, env: Record<string, string>): Parsed {
  let { record, time } = start;
  for (const f of filters) {
    const name = scalar(f.name, 'filter name');
    const keys = FILTER_KEYS[name];
    if (!keys) throw new Error(`filter ${name} is not modelled`);
    for (const k of Object.keys(f)) if (!keys.has(k)) throw new Error(`filter ${name}: key ${k} is not modelled`);
    if (!tagMatches(scalar(f.match, 'match'), tag)) continue;
    if (name === 'modify') {
      record = { ...record };
      for (const k of values(f.remove)) delete record[substituteEnv(k, env)];
      for (const kv of values(f.add)) {
        const [k, ...v] = substituteEnv(kv, env).split(/\s+/);
        if (k && !(k in record)) record[k] = v.join(' ');
      }
      // rename KEY NEW: only when KEY is there and NEW is not (plugins/filter_modify/modify.c), in place
      for (const kv of values(f.rename)) {
        const [from, to] = substituteEnv(kv, env).split(/\s+/) as [string, string];
        if (from in record && !(to in record)) record = Object.fromEntries(Object.entries(record).map(([k, v]) => [k === from ? to : k, v]));
      }
      continue;
    }
    const keyName = scalar(f.key_name, 'key_name');
    const raw = record[keyName];
    if (typeof raw !== 'string') continue;
    const parsed = parserFilter(parsers, values(f.parser), raw);
    if (!parsed) continue;
    if (parsed.time) time = parsed.time;
    if (fbBool(f.reserve_data)) {
      const keep = Object.entries(record).filter(([k]) => k !== keyName || fbBool(f.preserve_key));
      record = { ...parsed.record };
      for (const [k, v] of keep) {
        if (k in record) throw new Error(`field ${k} would be in the record twice (Fluent Bit does not merge keys)`);
        record[k] = v;
      }
    } else {
      record = parsed.record;
    }
  }
  return { record, time };
}
