/**
 * RFC 9457 problem details: every error the API returns has this shape, with a stable machine-readable `code`
 * (also the last segment of `type`) so clients branch on it rather than on prose.
 */
export interface Problem {
  type: string;
  title: string;
  status: number;
  code: string;
  detail: string;
  instance?: string;
  [extension: string]: unknown;
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  404: 'Not Found',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Content Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  499: 'Client Closed Request',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export function problemType(code: string): string {
  return `/problems/${code}`;
}

/** An error that the error handler turns into a problem response as is. */
export class ProblemError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    detail: string,
    readonly extensions: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
    this.name = 'ProblemError';
  }

  /** The problem document; extensions come first so they can never overwrite a standard member. */
  toProblem(instance?: string): Problem {
    return {
      ...this.extensions,
      type: problemType(this.code),
      title: TITLES[this.status] ?? 'Error',
      status: this.status,
      code: this.code,
      detail: this.message,
      ...(instance ? { instance } : {}),
    };
  }
}

export const notFound = (kind: string, id: string): ProblemError =>
  new ProblemError(
    404,
    `${kind}_not_found`,
    `no ${kind} with id ${JSON.stringify(id)} (it may have expired or been deleted)`,
  );

export const badRequest = (
  code: string,
  detail: string,
  extensions?: Record<string, unknown>,
): ProblemError => new ProblemError(400, code, detail, extensions);

export const unprocessable = (
  code: string,
  detail: string,
  extensions?: Record<string, unknown>,
): ProblemError => new ProblemError(422, code, detail, extensions);

export const unsupportedMediaType = (expected: string): ProblemError =>
  new ProblemError(415, 'unsupported_media_type', `this endpoint accepts ${expected}`);
