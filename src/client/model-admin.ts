/**
 * One-shot requests about a server's models: `POST /unload_model` (which also cancels a load still running),
 * `POST /delete_model` (a modeldeck server's cache) and `GET /v1/models` (the fallback of a dashboard whose server has
 * no live feed). Never throw.
 */

import { readExpiresInMs } from '../protocol/residency-fields.js';
import { residencyOf, type ModelResidency } from './feed-events.js';
import type { Failure } from './failures.js';
import { headersFor, httpFailure, networkFailure } from './http.js';
import { serviceRoot } from './server-url.js';

/** Who to ask. */
export interface AdminOptions {
  readonly server: string;
  readonly apiKey?: string | undefined;
  readonly fetch?: typeof fetch;
  readonly signal?: AbortSignal;
}

/** How a request ended. */
export type AdminOutcome<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly failure: Failure };

async function failureOf(response: Response): Promise<Failure> {
  return httpFailure(response, await response.text().catch(() => ''));
}

/** Asks the server to unload `model`, or to cancel its load if it is still loading; resolves with the answer's body. */
export function unloadModel(options: AdminOptions & { readonly model: string }): Promise<AdminOutcome<string>> {
  return postModel('/unload_model', options);
}

/** Asks a modeldeck server to delete `model`'s revision from its disk cache; resolves with the answer's body. */
export function deleteCachedModel(options: AdminOptions & { readonly model: string }): Promise<AdminOutcome<string>> {
  return postModel('/delete_model', options);
}

/** POSTs `{"model"}` to `route`. */
async function postModel(
  route: '/unload_model' | '/delete_model',
  options: AdminOptions & { readonly model: string },
): Promise<AdminOutcome<string>> {
  const root = serviceRoot(options.server);
  try {
    const response = await (options.fetch ?? fetch)(`${root}${route}`, {
      method: 'POST',
      headers: headersFor(options.apiKey, 'application/json'),
      body: JSON.stringify({ model: options.model }),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (!response.ok) return { ok: false, failure: await failureOf(response) };
    const text = await response.text().catch(() => '');
    return { ok: true, value: text };
  } catch (error) {
    return { ok: false, failure: networkFailure(error, `cannot reach ${root}`) };
  }
}

/** One model of `GET /v1/models`, with what modeldeck adds when the server sends it. */
export interface ListedModel {
  readonly id: string;
  readonly state: ModelResidency | null;
  readonly sizeBytes: number | null;
  readonly subscribers: number | null;
  /** A resident model's unload countdown in ms (`null`: none scheduled), when the server gives one. */
  readonly expiresInMs?: number | null;
  /** A loading model's stage, as its kind names it (llama.cpp's `downloading`, `loading`), when the list says. */
  readonly stage?: string | null;
  /** What the list says beyond its state (a failed child's exit code, a status word modeldeck does not know). */
  readonly note?: string | null;
}

/** The server's `GET /v1/models` list. */
export async function listModels(options: AdminOptions): Promise<AdminOutcome<ListedModel[]>> {
  const root = serviceRoot(options.server);
  try {
    const response = await (options.fetch ?? fetch)(`${root}/v1/models`, {
      headers: { accept: 'application/json', ...(options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {}) },
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (!response.ok) return { ok: false, failure: await failureOf(response) };
    const body = (await response.json()) as { data?: unknown };
    const data = Array.isArray(body.data) ? body.data : [];
    const models = data.flatMap((entry): ListedModel[] => {
      if (typeof entry !== 'object' || entry === null) return [];
      const e = entry as Record<string, unknown>;
      if (typeof e['id'] !== 'string') return [];
      const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
      return [
        {
          id: e['id'],
          state: residencyOf(e['state'] ?? e['status']),
          sizeBytes: num(e['sizeBytes']) ?? num(e['size_bytes']) ?? num(e['size']),
          subscribers: num(e['subscribers']) ?? num(e['active_requests']),
          ...expiryOf(e),
        },
      ];
    });
    return { ok: true, value: models };
  } catch (error) {
    return { ok: false, failure: networkFailure(error, `cannot reach ${root}`) };
  }
}

function expiryOf(entry: Record<string, unknown>): Pick<ListedModel, 'expiresInMs'> {
  const expiresInMs = readExpiresInMs(entry);
  return expiresInMs === undefined ? {} : { expiresInMs };
}
