/**
 * A Prometheus histogram whose counts are kept somewhere else (here: by every worker process, in a Redis hash) and
 * only read at scrape time.
 *
 * prom-client's `Histogram` can only be fed by `observe()` in this process; its counts cannot be set. The two
 * alternatives are worse: Gauges named `..._bucket`, `..._sum` and `..._count` would be exposed as three untyped
 * gauge families instead of one histogram (wrong `# TYPE`, and tooling that reads the metadata no longer sees a
 * histogram), and hand-formatted text after `register.metrics()` would duplicate the escaping and number
 * formatting prom-client already does. So this class implements the small contract prom-client's `Registry`
 * relies on for every metric (`name`, `help`, `type`, `aggregator`, `get()` returning the values with their
 * `metricName`, and `reset()`), exactly as its own `Histogram.get()` returns them, and the registry formats it like
 * any other histogram: one `# HELP`/`# TYPE ... histogram` header, `_bucket` series with `le` ending at `+Inf`,
 * then `_sum` and `_count`.
 */
import type { Histogram, Registry } from 'prom-client';

/** The state of a histogram without labels, as stored by its writers. */
export interface HistogramCounts {
  /** Observations `<=` each bound of `buckets` (cumulative, as Prometheus exposes them), same order. */
  cumulative: readonly number[];
  sum: number;
  /** All observations, i.e. the `+Inf` bucket. */
  count: number;
}

interface ExportedValue {
  metricName: string;
  labels: Record<string, string | number>;
  value: number;
}

export class ExternalHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';

  /**
   * @param read - the current counts, or `undefined` when they cannot be read (the series are then left out of
   * the scrape rather than reported as zeros, which would look like a counter reset).
   */
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[],
    private readonly read: () => Promise<HistogramCounts | undefined>,
  ) {}

  /** Adds this histogram to `register`; the cast is the only place where its duck typing is trusted. */
  registerIn(register: Registry): this {
    register.registerMetric(this as unknown as Histogram);
    return this;
  }

  async get(): Promise<{
    name: string;
    help: string;
    type: 'histogram';
    aggregator: 'sum';
    values: ExportedValue[];
  }> {
    const counts = await this.read();
    const values: ExportedValue[] = [];
    if (counts) {
      const bucket = `${this.name}_bucket`;
      this.buckets.forEach((le, i) =>
        values.push({ metricName: bucket, labels: { le }, value: counts.cumulative[i] ?? 0 }),
      );
      values.push(
        { metricName: bucket, labels: { le: '+Inf' }, value: counts.count },
        { metricName: `${this.name}_sum`, labels: {}, value: counts.sum },
        { metricName: `${this.name}_count`, labels: {}, value: counts.count },
      );
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** Called by `Registry.resetMetrics()`; there is nothing held here to reset. */
  reset(): void {}
}
