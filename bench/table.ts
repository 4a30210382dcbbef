/** Formatting for the bench's stdout table (Markdown, so docs/benchmark.md can quote it as is). */

export function markdownTable(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i] as number)).join(' | ')} |`;
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** A whole number with thousands separators ("85,123"); "n/a" when not measured. */
export const num = (n: number): string =>
  (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');

/** A fraction as a percentage with one decimal ("12.3%"). */
export const pct = (f: number): string => `${(f * 100).toFixed(1)}%`;

/** Bytes as MiB with one decimal; "n/a" when unknown (no /proc). */
export const mib = (b: number | undefined): string => (b === undefined ? 'n/a' : (b / (1024 * 1024)).toFixed(1));
