/**
 * The requests the engine adapters share: a JSON GET or POST through the caller's `fetch` (the wire tap's), every
 * failure in the client's own terms. Never throw.
 */

import type { Failure } from '../failures.js';
import { ABORTED_FAILURE, headersFor, httpFailure, isAbort, networkFailure, type RequestOptions } from '../http.js';
import { serviceRoot } from '../server-url.js';

/** An answer with a 2xx status, or why there is none. */
export type EngineAnswer =
  { readonly ok: true; readonly response: Response } | { readonly ok: false; readonly failure: Failure };

/** Sends `method path` (a JSON `body` when given) and resolves a 2xx answer; any other status is an `http` failure. */
export async function send(
  options: RequestOptions,
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  body?: unknown,
  accept = 'application/json',
): Promise<EngineAnswer> {
  const root = serviceRoot(options.server);
  let response: Response;
  try {
    response = await (options.fetch ?? fetch)(`${root}${path}`, {
      method,
      headers: headersFor(options.apiKey, accept),
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (error) {
    if (isAbort(error, options.signal)) return { ok: false, failure: ABORTED_FAILURE };
    return { ok: false, failure: networkFailure(error, `cannot reach ${root}`) };
  }
  if (response.ok) return { ok: true, response };
  const text = await response.text().catch(() => '');
  options.onFrame?.({ kind: 'other', raw: `HTTP ${response.status} ${text}`.trim() });
  return { ok: false, failure: httpFailure(response, text) };
}

/** `send`, then the body as JSON (an object), or a `protocol` failure when it is not one. */
export async function sendForJson(
  options: RequestOptions,
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  body?: unknown,
): Promise<{ ok: true; value: Record<string, unknown> } | { ok: false; failure: Failure }> {
  const answer = await send(options, method, path, body);
  if (!answer.ok) return answer;
  try {
    const value: unknown = await answer.response.json();
    if (typeof value === 'object' && value !== null && !Array.isArray(value))
      return { ok: true, value: value as Record<string, unknown> };
  } catch (error) {
    if (isAbort(error, options.signal)) return { ok: false, failure: ABORTED_FAILURE };
  }
  return { ok: false, failure: { kind: 'protocol', message: `${method} ${path} did not answer a JSON object` } };
}

/** A finite number, or undefined. */
export function numberOf(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/** Waits `ms`, or less when `signal` aborts. */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
