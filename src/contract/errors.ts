/**
 * Typed engine errors. Each has a stable `code` and the HTTP status the service maps it to, so the CLI, the API
 * and the workers agree on what is the caller's fault (never retried) and what is not.
 */
export type EngineErrorCode =
  | 'invalid_model'
  | 'unsupported_layer'
  | 'missing_weights'
  | 'invalid_array'
  | 'invalid_batch'
  | 'invalid_loss'
  | 'invalid_parameters'
  | 'invalid_method'
  | 'too_large'
  | 'not_differentiable'
  | 'cancelled'
  | 'backend_unavailable';

const STATUS: Record<EngineErrorCode, number> = {
  invalid_model: 422,
  unsupported_layer: 422,
  missing_weights: 422,
  invalid_array: 422,
  invalid_batch: 422,
  invalid_loss: 422,
  invalid_parameters: 422,
  invalid_method: 422,
  too_large: 413,
  not_differentiable: 422,
  cancelled: 499,
  backend_unavailable: 503,
};

export class EngineError extends Error {
  readonly code: EngineErrorCode;
  readonly status: number;
  readonly details?: Record<string, unknown>;

  constructor(code: EngineErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'EngineError';
    this.code = code;
    this.status = STATUS[code];
    this.details = details;
  }

  /** True for errors caused by the request itself: retrying cannot help. */
  get isInputError(): boolean {
    return this.status >= 400 && this.status < 500 && this.code !== 'cancelled';
  }
}

export function isEngineError(e: unknown): e is EngineError {
  return e instanceof EngineError;
}
