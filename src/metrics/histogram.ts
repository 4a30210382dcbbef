/**
 * A histogram kept as plain numbers and written out in the Prometheus text
 * exposition format (version 0.0.4) by us, not by prom-client: prom-client's
 * own histogram costs ~0.3 µs per labelled observe(), and making it format
 * values it does not hold meant overriding its internals. The text format is
 * Prometheus's stable wire contract; `promtool check metrics` lints it (the
 * test:prometheus tier runs it on a live /metrics).
 */

/** One labelled cell: counts per bucket (not cumulative), +Inf last. */
export class HistogramCell {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(private readonly buckets: readonly number[]) {
    this.counts = new Float64Array(buckets.length + 1);
  }

  observe(value: number): void {
    const b = this.buckets;
    let i = 0;
    while (i < b.length && value > (b[i] as number)) i++;
    (this.counts[i] as number)++;
    this.sum += value;
    this.count++;
  }
}

/** A sample value as the text format writes it. */
function num(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/** `{a="x",b="y"` (no closing brace). Label values here are our own bounded words: escaped all the same. */
function openLabels(labels: Record<string, string>): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`))}"`);
  return `{${parts.join(',')}`;
}

/** One histogram family in the text format, ending with a newline; cells with their labels. */
export function histogramText(
  name: string, help: string, buckets: readonly number[], cells: Iterable<[Record<string, string>, HistogramCell]>,
): string {
  const lines = [`# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${name} histogram`];
  for (const [labels, cell] of cells) {
    const open = openLabels(labels);
    const sep = open.length > 1 ? ',' : '';
    let acc = 0;
    buckets.forEach((le, i) => {
      acc += cell.counts[i] as number;
      lines.push(`${name}_bucket${open}${sep}le="${num(le)}"} ${acc}`);
    });
    lines.push(`${name}_bucket${open}${sep}le="+Inf"} ${cell.count}`);
    const plain = open.length > 1 ? `${open}}` : '';
    lines.push(`${name}_sum${plain} ${num(cell.sum)}`, `${name}_count${plain} ${cell.count}`);
  }
  return lines.join('\n') + '\n';
}
