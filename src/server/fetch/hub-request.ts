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
 * a 5xx, 408 or 429 is a `busy` transient one, no answer an `unreachable` one; a URL that is not http(s) (a
 * redirect to `file:`, a listing's next page on `ftp:`) is a permanent one, asked of no one.
 */
export async function request<A extends Answer>(hub: HubContext, asked: HubRequest, send: Hop<A>): Promise<A> {
  const { ref, what, signal } = asked;
  let current = asked.url;
  for (let hops = 0; ; hops += 1) {
    refuseScheme(hub, asked, current, hops > 0);
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
      current = redirectTarget(hub, asked, location, current);
      continue;
    }
    if (answer.status === 200 || answer.status === 206) return answer;
    // Free the connection: the body of an error answer is not needed beyond its headers.
    await answer.discard();
    throw answerError(answer.status, answer.headers, current, ref, what, hub);
  }
}

/** The schemes a hub request may use; anything else would be read from somewhere other than the network. */
const SCHEMES = new Set(['http:', 'https:']);

/** `location` resolved against `from`; a permanent HUB_ERROR when it is no URL at all. */
function redirectTarget(hub: HubContext, asked: HubRequest, location: string, from: string): string {
  if (URL.canParse(location, from)) return new URL(location, from).toString();
  throw new LoadError(
    'HUB_ERROR',
    `${new URL(from).origin} redirected ${asked.what} of ${asked.ref.id} to ${JSON.stringify(location)}, which is ` +
      `not a URL; check --hub-url / HF_ENDPOINT`,
  );
}

/**
 * Throws a permanent HUB_ERROR when `url` is not http(s): no hop is made, and no retry can cure it (a redirect to
 * `file:///etc/passwd` used to be tried eight times over 24 s). `redirected` says whether a redirect led there.
 */
function refuseScheme(hub: HubContext, asked: HubRequest, url: string, redirected: boolean): void {
  const scheme = URL.canParse(url) ? new URL(url).protocol : undefined;
  if (scheme !== undefined && SCHEMES.has(scheme)) return;
  const how = redirected ? 'was redirected' : 'was pointed';
  throw new LoadError(
    'HUB_ERROR',
    `${asked.what} of ${asked.ref.id} at the hub at ${hub.hubUrl} ${how} to ${url}, which is not an http(s) URL: ` +
      'modeldeck fetches over http and https only; check --hub-url / HF_ENDPOINT, or the proxy or hub that sent it',
  );
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

/** The most bytes an API answer may have unless its caller says otherwise (a revision's, with all its siblings). */
const API_MAX_BYTES = 64 * 1024 * 1024;

/** How big an API answer may be, and the error of one that is bigger. */
export interface BodyLimit {
  /** Bytes of the body at most. */
  readonly maxBytes: number;
  /** The rejection once the body passes {@link maxBytes} (its read is stopped, its connection closed). */
  tooBig(): LoadError;
}

/**
 * GETs a JSON answer (a listing page, a revision) through {@link apiRequest}, so a 5xx, 408 or 429 is asked again,
 * all within {@link HubContext.requestTimeoutMs}. The body is read up to `limit.maxBytes` (default 64 MiB), so a hub
 * that answers without end cannot fill the memory. Invalid JSON is a hub error; a body cut off or timed out maps as a
 * request failure. Resolves with the body's size in bytes too.
 */
export async function getJson(
  hub: HubContext,
  url: string,
  ref: RepoRef,
  what: string,
  signal: AbortSignal | undefined,
  limit: BodyLimit = {
    maxBytes: API_MAX_BYTES,
    tooBig: () =>
      new LoadError(
        'HUB_ERROR',
        `the hub at ${hub.hubUrl} answered ${what} of ${ref.id} with more than ${API_MAX_BYTES / 1024 / 1024} MiB`,
      ),
  },
): Promise<{ readonly body: unknown; readonly headers: HeaderReader; readonly bytes: number }> {
  const timeout = AbortSignal.timeout(hub.requestTimeoutMs);
  const combined = signal === undefined ? timeout : AbortSignal.any([signal, timeout]);
  const response = await apiRequest(hub, { url, headers: { Accept: 'application/json' }, signal: combined, ref, what });
  try {
    const text = await readCapped(response, limit);
    return { body: JSON.parse(text.toString('utf8')) as unknown, headers: response.headers, bytes: text.length };
  } catch (error) {
    throw networkError(error, combined, url, hub);
  }
}

/** The body of `response`, or the rejection `limit.tooBig()` as soon as it passes `limit.maxBytes`. */
async function readCapped(response: Response, limit: BodyLimit): Promise<Buffer> {
  const declared = Number(response.headers.get('content-length') ?? Number.NaN);
  const reader = response.body?.getReader();
  if (reader === undefined) return Buffer.alloc(0);
  if (declared > limit.maxBytes) {
    await reader.cancel().catch(() => undefined);
    throw limit.tooBig();
  }
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return Buffer.concat(chunks, bytes);
    bytes += value.byteLength;
    if (bytes > limit.maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw limit.tooBig();
    }
    chunks.push(value);
  }
}
