/** --help and README's settings table, both generated from the schema. */
import { CONFIG_FILE, KEYS, schema } from './schema';

const shown = (v: unknown): string => (v === '' ? '(all addresses)' : Array.isArray(v) && v.length === 0 ? '(none)' : String(v));

export function helpText(version: string): string {
  const lines = [
    `heartbeat ${version}: HTTP heartbeat server for network and cluster monitoring`,
    '',
    'Usage: heartbeat [--name value | --name=value | -name value]...',
    'Switches (no VALUE below) are given alone or with "=": --log, --log=true, --log=false.',
    'Every setting is also read from its environment variable and from the JSON config file;',
    'precedence: flags > environment > config file > defaults.',
    '',
    `  --${CONFIG_FILE.arg} FILE`,
    `      env ${CONFIG_FILE.env}`,
    `      ${CONFIG_FILE.doc}`,
  ];
  for (const k of KEYS) {
    const s = schema[k];
    const value = s.format === 'switch' ? '' : ' VALUE';
    lines.push(`  --${s.arg}${value}`, `      env ${s.env}, config key "${k}", default ${shown(s.default)}`, `      ${s.doc}`);
  }
  lines.push(
    '  -h, --help',
    '      Print this help and exit.',
    '  -v, --version',
    '      Print the version and exit.',
  );
  return lines.join('\n') + '\n';
}

/** The Markdown table README carries between its settings markers. */
export function settingsTable(): string {
  const rows = [
    '| config key | flag | environment | default | meaning |',
    '| --- | --- | --- | --- | --- |',
    `| — | \`--${CONFIG_FILE.arg}\` | \`${CONFIG_FILE.env}\` | — | ${CONFIG_FILE.doc} |`,
  ];
  for (const k of KEYS) {
    const s = schema[k];
    rows.push(`| \`${k}\` | \`--${s.arg}\` | \`${s.env}\` | \`${JSON.stringify(s.default)}\` | ${s.doc.replace(/\|/g, '\\|')} |`);
  }
  return rows.join('\n') + '\n';
}
