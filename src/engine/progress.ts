import { EngineError } from '../contract/errors.js';
import type { LinearOperator } from './estimators/linear-operator.js';

/**
 * Counts units of work (one operator product, one column, one probe, ...), reports them and honours cancellation
 * between units. `unit()` yields to the event loop so an abort or a lock renewal can run.
 */
export class Progress {
  completed = 0;
  total = 0;

  constructor(
    private readonly onProgress?: (completed: number, total: number) => void,
    private readonly signal?: AbortSignal,
  ) {}

  /** Adds planned units (methods may plan in stages). */
  plan(units: number): void {
    this.total += units;
    this.onProgress?.(this.completed, this.total);
  }

  /** Throws EngineError('cancelled') once the signal is aborted. */
  check(): void {
    if (this.signal?.aborted) throw new EngineError('cancelled', 'The computation was cancelled.');
  }

  async unit(): Promise<void> {
    await this.units(1);
  }

  /** `count` units done at once (a block product of `count` directions). */
  async units(count: number): Promise<void> {
    this.completed += count;
    if (this.completed > this.total) this.total = this.completed;
    this.onProgress?.(this.completed, this.total);
    await new Promise((resolve) => setImmediate(resolve));
    this.check();
  }

  /** Marks the work complete, e.g. when an iterative method converged before its planned units. */
  finish(): void {
    this.total = this.completed;
    this.onProgress?.(this.completed, this.total);
  }

  /** Wraps an operator so that each product is one unit of work. */
  instrument(operator: LinearOperator): LinearOperator {
    return {
      size: operator.size,
      blockSize: operator.blockSize,
      matvec: async (v) => {
        this.check();
        const result = await operator.matvec(v);
        await this.unit();
        return result;
      },
      ...(operator.matmat && {
        matmat: async (vs: readonly Float64Array[]) => {
          this.check();
          const result = await operator.matmat!(vs);
          await this.units(vs.length);
          return result;
        },
      }),
    };
  }
}
