/**
 * The one way the hub client asks the hub anything: {@link request} makes one request through redirects with the
 * token only where it belongs, and maps every failure (`hub-errors.ts`); {@link getJson} wraps it in the API's retry
 * policy, for the listing and the revision. The verbs (`hub-list-files.ts`, `hub-resolve-commit.ts`,
 * `hub-open-file.ts`) are each a file over these, as huggingface.js keeps one verb per file over one `request()`.
 */

import { setTimeout as sleep } from 'node:timers/promises';

import { decideRetry, type RetryPolicy } from '../../common/retry.js';
import { LoadError } from '../loader-types.js';
import type { HeaderReader, HubClientOptions, RepoRef } from './hub-client.js';
import { answerError, networkError, type ErrorContext } from './hub-errors.js';
import { fetchHop, type Answer, type Hop } from './hub-transport.js';
import { isTransient, retryAfterOf } from './transient-error.js';

/** What every request of one hub client shares. */
export interface HubContext extends ErrorContext {
  /** The base URL, without a trailing `/`. */
  readonly hubUrl: string;
  /** Sent as `Authorization: Bearer` to the hub's own origin; `undefined` when there is none. */
  readonly token: string | undefined;
  /** The fetch API requests use. */
  readonly fetch: typeof fetch;
  /** How long an API request (all its tries) may take, in milliseconds. */
  readonly requestTimeoutMs: number;
}

const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/** The {@link HubContext} of {@link HubClientOptions}. */
export function createHubContext(options: HubClientOptions): HubContext {
  const hubUrl = options.hubUrl.replace(/\/+$/, '');
  const token = options.token !== undefined && options.token !== '' ? options.token : undefined;
  return {
    hubUrl,
    hubOrigin: new URL(hubUrl).origin,
    token,
    tokenSource: token === undefined ? undefined : (options.tokenSource ?? 'HF_TOKEN'),
    fetch: options.fetch ?? fetch,
    requestTimeoutMs: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
  };
}

/** One request to the hub. */
export interface HubRequest {
  readonly url: string;
  /** Headers beyond `User-Agent` and the token. */
  readonly headers: Record<string, string>;
  readonly signal: AbortSignal | undefined;
  /** The repository, for messages. */
  readonly ref: RepoRef;
  /** What is asked for, for messages: a file path, `the file list`, `the revision`. */
  readonly what: string;
}

/** Statuses whose `Location` is followed, and how many hops a request may take. */
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 5;

/**
 * Makes `asked`, following redirects itself (so a failure names the host that failed: a CDN the hub redirected to is
 * not the hub), with the token only on the hub's own origin. `send` makes one hop (`hub-transport.ts`); a redirect or
 * error answer is discarded here, a `200` or `206` returned with its body unread. Rejects with a {@link LoadError}:
 * a 5xx, 408 or 429 is a `busy` transient one, no answer an `unreachable` one.
 */
export async function request<A extends Answer>(hub: HubContext, asked: HubRequest, send: Hop<A>): Promise<A> {
  const { ref, what, signal } = asked;
  let current = asked.url;
  for (let hops = 0; ; hops += 1) {
    let answer: A;
    try {
      answer = await send(current, headersFor(hub, asked.headers, current), signal);
    } catch (error) {
      throw networkError(error, signal, current, hub);
    }
    const location = REDIRECTS.has(answer.status) ? answer.headers.get('location') : null;
    if (location !== null) {
      await answer.discard();
      if (hops >= MAX_REDIRECTS) {
        throw new LoadError(
          'HUB_ERROR',
          `the hub at ${hub.hubUrl} redirected ${what} of ${ref.id} more than ${MAX_REDIRECTS} times`,
        );
      }
      current = new URL(location, current).toString();
      continue;
    }
    if (answer.status === 200 || answer.status === 206) return answer;
    // Free the connection: the body of an error answer is not needed beyond its headers.
    await answer.discard();
    throw answerError(answer.status, answer.headers, current, ref, what, hub);
  }
}

/**
 * The token goes to the hub's own origin only: a listing's `Link: rel="next"` or a redirect may name any host (the
 * Hub's LFS files redirect to a CDN, which must not get it).
 */
function headersFor(hub: HubContext, extra: Record<string, string>, url: string): Record<string, string> {
  const own = hub.token !== undefined && new URL(url).origin === hub.hubOrigin;
  return {
    'User-Agent': 'modeldeck',
    ...(own ? { Authorization: `Bearer ${hub.token}` } : {}),
    ...extra,
  };
}

/** A longer wait than this, in milliseconds, between tries of an API request ends the load instead. */
const API_MAX_WAIT_MS = 10_000;

/**
 * API requests (listing, revision): a 5xx, 408 or 429 is asked again, three times in all, after the wait the hub
 * named or 0.5 s, then 1 s. An unreachable hub is not asked again: the load falls back on the cache (or fails saying
 * so) at once. File downloads have their own policy (`Transfer.retry`, `download-retry.ts`).
 */
const API_RETRY: RetryPolicy = {
  attempts: 3,
  backoff: { initialMs: 500, maxMs: API_MAX_WAIT_MS },
  maxWaitMs: API_MAX_WAIT_MS,
  isTransient: (error) => isTransient(error, ['busy']),
  retryAfterMs: retryAfterOf,
};

/** {@link request} by fetch, tried again as {@link API_RETRY} says; the last failure is the rejection. */
async function apiRequest(hub: HubContext, asked: HubRequest): Promise<Response> {
  const { signal } = asked;
  for (let attempt = 1; ; attempt += 1) {
    try {
      return (await request(hub, asked, fetchHop(hub.fetch))).response;
    } catch (error) {
      const decision = decideRetry(API_RETRY, error, attempt);
      if (decision.verdict !== 'retry') throw error;
      await sleep(decision.delayMs, undefined, signal === undefined ? {} : { signal }).catch(() => {
        throw networkError(signal?.reason, signal, asked.url, hub);
      });
    }
  }
}

/**
 * GETs a JSON answer (a listing page, a revision) through {@link apiRequest}, so a 5xx, 408 or 429 is asked again,
 * all within {@link HubContext.requestTimeoutMs}. Invalid JSON is a hub error; a body cut off or timed out maps as a
 * request failure.
 */
export async function getJson(
  hub: HubContext,
  url: string,
  ref: RepoRef,
  what: string,
  signal: AbortSignal | undefined,
): Promise<{ readonly body: unknown; readonly headers: HeaderReader }> {
  const timeout = AbortSignal.timeout(hub.requestTimeoutMs);
  const combined = signal === undefined ? timeout : AbortSignal.any([signal, timeout]);
  const response = await apiRequest(hub, { url, headers: { Accept: 'application/json' }, signal: combined, ref, what });
  try {
    return { body: await response.json(), headers: response.headers };
  } catch (error) {
    throw networkError(error, combined, url, hub);
  }
}
