/**
 * Callbacks: when a job that asked for one reaches a final state, the service POSTs the job's view to the
 * caller's URL, signed with the caller's secret (HMAC-SHA256 of the body), retried with exponential backoff for a
 * bounded number of attempts. Deliveries are BullMQ jobs of their own queue (one per job, so the several places
 * that notice a final state schedule it once), run by the worker processes; each attempt is logged on the delivery
 * and shown in the job's view. URLs are limited to an allow-list of hosts (none by default).
 */
import { createHmac } from 'node:crypto';
import type { Queue } from 'bullmq';
import type { Config } from '../config/env.js';

export const CALLBACK_QUEUE = 'hessian-callbacks';

/** The header carrying `sha256=<hex HMAC-SHA256 of the raw body, keyed with the job's callback secret>`. */
export const SIGNATURE_HEADER = 'hessian-signature';

/** What a job request's `callback` holds; the secret stays in the job's record and is never shown. */
export interface CallbackSpec {
  url: string;
  secret: string;
}

/** One delivery attempt as the job view lists it. */
export interface CallbackAttempt {
  attempt: number;
  at: string;
  /** The receiver's HTTP status, or null when no answer came (refused, timed out, DNS). */
  status: number | null;
  ms: number;
  error?: string;
}

export interface CallbackState {
  url: string;
  /** pending: not sent yet or being retried; delivered: a 2xx answer; failed: out of attempts or refused. */
  state: 'pending' | 'delivered' | 'failed';
  attempts: CallbackAttempt[];
}

/** The delivery's BullMQ id (`:` is not allowed in custom ids). */
export function callbackJobId(jobId: string): string {
  return `${jobId}-callback`;
}

/** `sha256=<hex>`: what a receiver recomputes over the raw body with its secret and compares in constant time. */
export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** An allow-list entry's host and port ('' for none): `host`, `host:port`, `*.domain[:port]`, `[v6]:port`. */
function splitEntry(entry: string): { host: string; port: string } {
  const m = /^(\[[^\]]+\]|[^:]+)(?::([0-9]+))?$/.exec(entry);
  return m ? { host: m[1], port: m[2] ?? '' } : { host: entry, port: '' };
}

/**
 * Whether a URL's host (lower case; its port, '' for the scheme's default) matches an entry: the same host and the
 * same port (an entry without a port allows only the default one), or for `*.domain` any subdomain of it.
 */
function hostAllowed(hostname: string, port: string, allowed: readonly string[]): boolean {
  return allowed.some((entry) => {
    const e = splitEntry(entry);
    if (e.port !== port) return false;
    return e.host.startsWith('*.') ? hostname.endsWith(e.host.slice(1)) : hostname === e.host;
  });
}

/**
 * Why `url` may not be called back, or null when it may: http(s) only, no credentials in the URL, and a host on
 * the allow-list (an empty list refuses every callback).
 */
export function callbackRefusal(url: string, allowed: readonly string[]): string | null {
  if (allowed.length === 0) {
    return 'callbacks are disabled on this service (its operator has not set CALLBACK_ALLOWED_HOSTS); poll the job or read GET /v1/jobs/{id}/events instead';
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `callback.url ${JSON.stringify(url)} is not an absolute URL`;
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    return `callback.url must be http or https, not ${parsed.protocol.replace(':', '')}`;
  }
  if (parsed.username || parsed.password)
    return 'callback.url must not carry credentials; use callback.secret';
  if (!hostAllowed(parsed.hostname.toLowerCase(), parsed.port, allowed)) {
    return `callback.url's host ${parsed.host} is not on this service's allow-list (CALLBACK_ALLOWED_HOSTS: ${allowed.join(', ')})`;
  }
  return null;
}

/** The delivery queue's options from the configuration. */
export function deliveryOptions(config: Readonly<Config>) {
  return {
    attempts: config.callbackAttempts,
    backoff: { type: 'exponential', delay: config.callbackBackoffMs },
    removeOnComplete: { age: config.resultTtlSeconds },
    removeOnFail: { age: config.resultTtlSeconds },
  };
}

/** Schedules the delivery of job `jobId`'s callback (a no-op when it is already scheduled or done). */
export async function scheduleCallback(
  queue: Queue<{ jobId: string }>,
  config: Readonly<Config>,
  jobId: string,
): Promise<void> {
  await queue.add('deliver', { jobId }, { jobId: callbackJobId(jobId), ...deliveryOptions(config) });
}

/** The callback of a job as its view shows it, read from the delivery's BullMQ state and its attempt log. */
export async function callbackStateOf(
  queue: Queue<{ jobId: string }>,
  jobId: string,
  url: string,
): Promise<CallbackState> {
  const id = callbackJobId(jobId);
  const state = await queue.getJobState(id);
  const { logs } = await queue.getJobLogs(id, 0, 99);
  const attempts: CallbackAttempt[] = [];
  for (const line of logs) {
    try {
      attempts.push(JSON.parse(line) as CallbackAttempt);
    } catch {
      // not an attempt line
    }
  }
  return {
    url,
    state: state === 'completed' ? 'delivered' : state === 'failed' ? 'failed' : 'pending',
    attempts,
  };
}

/** Answers worth retrying: the receiver may answer differently later. */
export const retryable = (status: number) => status >= 500 || status === 408 || status === 429;

/**
 * One POST of the job view. Redirects are not followed (the allow-list names the host that is called), the answer's
 * body is not read, and the request is aborted after `timeoutMs`.
 */
export async function postSigned(
  url: string,
  secret: string,
  body: string,
  headers: Record<string, string>,
  timeoutMs: number,
): Promise<number> {
  const response = await fetch(url, {
    method: 'POST',
    body,
    redirect: 'manual',
    signal: AbortSignal.timeout(timeoutMs),
    headers: {
      'content-type': 'application/json',
      'user-agent': 'hessian-service',
      [SIGNATURE_HEADER]: signBody(secret, body),
      ...headers,
    },
  });
  await response.body?.cancel().catch(() => undefined);
  return response.status;
}
