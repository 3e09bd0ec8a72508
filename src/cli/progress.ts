/**
 * What `hessian compute` says on stderr while it works and when it is done: a progress bar redrawn in place on a
 * terminal (units done, rate, ETA), plain lines at most every few seconds otherwise (logs, CI), nothing with
 * `--quiet`; and a one-paragraph summary of the result.
 */
import type { ComputeResult } from '../contract/types.js';

export interface ProgressSink {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** A terminal is redrawn at most this often. */
const TTY_INTERVAL_MS = 100;
/** Without a terminal, a line at most this often (plus the last one). */
const LINE_INTERVAL_MS = 5000;

function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)}s`;
  const m = Math.floor(seconds / 60);
  return m < 60
    ? `${m}m${String(Math.round(seconds % 60)).padStart(2, '0')}s`
    : `${Math.floor(m / 60)}h${m % 60}m`;
}

/**
 * An `onProgress(completed, total)` for the engine that reports on `sink`, and `end()` to finish the line. Rate and
 * ETA are measured from the first report.
 */
export function progressReporter(
  sink: ProgressSink,
  opts: { quiet?: boolean; now?: () => number } = {},
): { onProgress(completed: number, total: number): void; end(): void } {
  const now = opts.now ?? (() => performance.now());
  let started: number | undefined;
  let last = -Infinity;
  let drawn = false;
  let pending: [number, number] | undefined;
  const render = (completed: number, total: number, at: number): string => {
    const seconds = (at - (started ?? at)) / 1000;
    const rate = seconds > 0 ? completed / seconds : 0;
    const eta = rate > 0 ? (total - completed) / rate : Number.POSITIVE_INFINITY;
    const pct = total > 0 ? Math.floor((100 * completed) / total) : 0;
    return `${completed}/${total} units (${pct}%), ${rate.toFixed(rate < 10 ? 1 : 0)}/s, ETA ${duration(eta)}`;
  };
  const draw = (completed: number, total: number, at: number): void => {
    const text = render(completed, total, at);
    if (sink.isTTY) {
      const width = Math.max(10, Math.min(30, (sink.columns ?? 80) - text.length - 12));
      const filled = total > 0 ? Math.round((width * completed) / total) : 0;
      sink.write(`\r\x1b[2Khessian [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${text}`);
    } else {
      sink.write(`hessian: ${text}\n`);
    }
    drawn = true;
    last = at;
    pending = undefined;
  };
  return {
    onProgress(completed, total) {
      if (opts.quiet) return;
      const at = now();
      started ??= at;
      pending = [completed, total];
      if (at - last >= (sink.isTTY ? TTY_INTERVAL_MS : LINE_INTERVAL_MS) && completed > 0)
        draw(completed, total, at);
    },
    end() {
      if (opts.quiet) return;
      // The last state, once something was shown (a run too short to report stays silent until its summary).
      if (pending && drawn) draw(pending[0], pending[1], now());
      if (drawn && sink.isTTY) sink.write('\n');
    },
  };
}

/** A number as people read it: 6 significant digits, exponent when very large or small. */
function num(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  return a !== 0 && (a >= 1e6 || a < 1e-3) ? x.toExponential(3) : String(Number(x.toPrecision(6)));
}

/** The result's headline numbers: scalars and short numeric lists from its summary. */
function keyScalars(summary: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const [key, value] of Object.entries(summary)) {
    if (['seed', 'numExamples'].includes(key)) continue;
    if (typeof value === 'number') out.push(`${key} ${num(value)}`);
    else if (
      Array.isArray(value) &&
      value.length > 0 &&
      value.length <= 5 &&
      value.every((x) => typeof x === 'number')
    ) {
      out.push(`${key} [${value.map(num).join(', ')}]`);
    } else if (typeof value === 'boolean' && key === 'converged') out.push(`converged ${value}`);
    if (out.length === 6) break;
  }
  return out;
}

/** One paragraph: method, P and N, key numbers, where the files are, and what verification found. */
export function summarize(result: ComputeResult, out: string, files: readonly string[]): string {
  const scalars = keyScalars(result.summary);
  const v = result.verification;
  const failed = v.checks.filter((c) => !c.inconclusive && !c.passed).map((c) => c.name);
  const verdict = v.passed
    ? `verification passed (${v.checks.map((c) => c.name).join(', ')})`
    : `VERIFICATION FAILED (${failed.join(', ')}; see the warnings)`;
  return (
    `hessian: ${result.method} of P = ${result.numParams} parameters over ${String(result.summary.numExamples)} ` +
    `examples on ${result.backend} in ${duration(result.timings.totalSeconds)}` +
    (scalars.length > 0 ? `: ${scalars.join(', ')}` : '') +
    `. Wrote ${out}/result.json${files.length > 0 ? ` and ${files.join(', ')}` : ''}; ${verdict}.\n`
  );
}
