/** A small HTTP client for the tests, over fetch, plus golden-fixture uploads. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GOLDEN_DIR } from '../../helpers/golden.js';
import { encodeNpy, parseNpy } from '../../../src/contract/data/npy.js';
import type { NdArray } from '../../../src/contract/ndarray.js';
import { REPO_ROOT } from './stack.js';

export interface Reply<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

export class Client {
  constructor(
    readonly base: string,
    readonly headers: Record<string, string> = {},
  ) {}

  async request<T = any>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Reply<T>> {
    const init: RequestInit = { method, headers: { ...this.headers, ...headers } };
    if (body instanceof FormData) init.body = body;
    else if (body !== undefined) {
      init.body = JSON.stringify(body);
      (init.headers as Record<string, string>)['content-type'] = 'application/json';
    }
    const res = await fetch(this.base + path, init);
    const type = res.headers.get('content-type') ?? '';
    const parsed = type.includes('json') ? await res.json() : new Uint8Array(await res.arrayBuffer());
    return { status: res.status, headers: res.headers, body: parsed as T };
  }

  get<T = any>(path: string, headers?: Record<string, string>) {
    return this.request<T>('GET', path, undefined, headers);
  }

  post<T = any>(path: string, body: unknown, headers?: Record<string, string>) {
    return this.request<T>('POST', path, body, headers);
  }

  delete<T = any>(path: string) {
    return this.request<T>('DELETE', path);
  }

  /** Polls a job until `until(job)` holds (default: a final status); returns the job. */
  async waitForJob(
    id: string,
    timeoutMs = 60_000,
    until: (job: any) => boolean = (j) => ['succeeded', 'failed', 'cancelled'].includes(j.status),
  ) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = await this.get(`/v1/jobs/${id}`);
      if (r.status !== 200) throw new Error(`GET job ${id}: ${r.status} ${JSON.stringify(r.body)}`);
      if (until(r.body)) return r.body;
      if (Date.now() > deadline) throw new Error(`job ${id} still ${r.body.status} after ${timeoutMs} ms`);
      await new Promise((res) => setTimeout(res, 100));
    }
  }

  /** Submits a job, waits for it and returns its view; throws unless it was accepted (202) and succeeded. */
  async runJob(body: Record<string, unknown>, timeoutMs = 60_000) {
    const submitted = await this.post('/v1/jobs', body);
    if (submitted.status !== 202)
      throw new Error(`submit: ${submitted.status} ${JSON.stringify(submitted.body)}`);
    const job = await this.waitForJob(submitted.body.id, timeoutMs);
    if (job.status !== 'succeeded')
      throw new Error(`job ${job.id} ${job.status}: ${JSON.stringify(job.error)}`);
    return job;
  }

  async download(href: string): Promise<NdArray> {
    const r = await this.get(href);
    if (r.status !== 200) throw new Error(`download ${href}: ${r.status}`);
    return parseNpy(r.body as Uint8Array);
  }
}

export function fileBlob(path: string): Blob {
  return new Blob([readFileSync(path)]);
}

/** Uploads a golden case's model and batch; returns their ids and the case's loss spec. */
export async function uploadGolden(client: Client, caseName: string) {
  const dir = join(GOLDEN_DIR, caseName);
  const modelJson = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
  const form = new FormData();
  form.append('model', fileBlob(join(dir, 'model.json')), 'model.json');
  for (const group of modelJson.weightsManifest)
    for (const p of group.paths) form.append('weights', fileBlob(join(dir, p)), p);
  const model = await client.post('/v1/models', form);
  if (model.status >= 300) throw new Error(`model upload: ${model.status} ${JSON.stringify(model.body)}`);
  const data = new FormData();
  // Several inputs (outputs): an .npz keyed by input (output) name, sent as the `inputs` (`targets`) part.
  for (const what of ['inputs', 'targets']) {
    const file = existsSync(join(dir, `${what}.npz`)) ? `${what}.npz` : `${what}.npy`;
    data.append(what, fileBlob(join(dir, file)), file);
  }
  const dataset = await client.post('/v1/datasets', data);
  if (dataset.status >= 300)
    throw new Error(`dataset upload: ${dataset.status} ${JSON.stringify(dataset.body)}`);
  const spec = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8'));
  return {
    modelId: model.body.id as string,
    datasetId: dataset.body.id as string,
    numParams: model.body.numParams as number,
    loss: spec.loss,
    parameters: spec.parameters as { include: string[] } | undefined,
  };
}

/** examples/tiny/: the model and batch the OpenAPI document's job examples name (linear_regression_mse). */
export const TINY_DIR = join(REPO_ROOT, 'examples', 'tiny');

/**
 * Uploads examples/tiny/ as Swagger UI's example flow does (model.json with its shard; inputs.npy with
 * targets.npy); returns the ids and each upload's HTTP status (201 when new).
 */
export async function uploadTiny(client: Client) {
  const model = new FormData();
  model.append('model', fileBlob(join(TINY_DIR, 'model.json')), 'model.json');
  model.append('weights', fileBlob(join(TINY_DIR, 'group1-shard1of1.bin')), 'group1-shard1of1.bin');
  const m = await client.post('/v1/models', model);
  const data = new FormData();
  data.append('inputs', fileBlob(join(TINY_DIR, 'inputs.npy')), 'inputs.npy');
  data.append('targets', fileBlob(join(TINY_DIR, 'targets.npy')), 'targets.npy');
  const d = await client.post('/v1/datasets', data);
  return {
    modelId: m.body.id as string,
    datasetId: d.body.id as string,
    statuses: [m.status, d.status],
    bodies: [m.body, d.body],
  };
}

/** Examples [from, to) of an array (first axis). */
export function rows(a: NdArray, from: number, to: number): NdArray {
  const per = a.data.length / a.shape[0];
  return {
    dtype: a.dtype,
    shape: [to - from, ...a.shape.slice(1)],
    data: a.data.slice(from * per, to * per),
  } as NdArray;
}

/** Uploads one dataset from arrays; returns its id. */
export async function uploadBatch(client: Client, inputs: NdArray, targets: NdArray): Promise<string> {
  const form = new FormData();
  form.append('inputs', new Blob([Buffer.from(encodeNpy(inputs))]), 'inputs.npy');
  form.append('targets', new Blob([Buffer.from(encodeNpy(targets))]), 'targets.npy');
  const r = await client.post('/v1/datasets', form);
  if (r.status >= 300) throw new Error(`dataset upload: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.id;
}

/** A golden case's batch uploaded as several datasets, cut at the given example indices. */
export async function uploadGoldenSplit(client: Client, caseName: string, cuts: number[]): Promise<string[]> {
  const inputs = parseNpy(new Uint8Array(readFileSync(join(GOLDEN_DIR, caseName, 'inputs.npy'))));
  const targets = parseNpy(new Uint8Array(readFileSync(join(GOLDEN_DIR, caseName, 'targets.npy'))));
  const bounds = [0, ...cuts, inputs.shape[0]];
  const ids: string[] = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    ids.push(
      await uploadBatch(
        client,
        rows(inputs, bounds[i], bounds[i + 1]),
        rows(targets, bounds[i], bounds[i + 1]),
      ),
    );
  }
  return ids;
}
