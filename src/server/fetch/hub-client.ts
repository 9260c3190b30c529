/**
 * The server's own client of a Hugging Face Hub (the real one, a mirror, or modeldeck's test mirror): lists a
 * repository's files and opens file downloads, and turns every failure into a {@link LoadError} whose message says
 * what to do. It knows nothing about caches or transformers.js.
 */

import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

import { LoadError, type LoadErrorCode, type ModelRef } from '../loader-types.js';

/** The part of a {@link ModelRef} the hub needs. */
export type RepoRef = Pick<ModelRef, 'id' | 'revision'>;

/** One file of a repository listing. */
export interface HubFile {
  /** Path inside the repository, `/`-separated, e.g. `onnx/model.onnx_data`. */
  readonly path: string;
  /** Size in bytes of the file's content (for LFS files, the LFS object's size, not the pointer's). */
  readonly size: number;
  /** The git blob sha1 (40 hex) the listing gives; for an LFS file, that of its pointer. */
  readonly oid?: string;
  /** For LFS files: the sha256 (64 hex) of the content, the listing's `lfs.oid`. */
  readonly sha256?: string;
}

/**
 * The name huggingface_hub gives a file's blob in its cache (its etag): the sha256 for LFS files, the git blob sha1
 * otherwise; `undefined` when the listing gave neither.
 */
export function etagOf(file: HubFile): string | undefined {
  return file.sha256 ?? file.oid;
}

/** A byte range of a file, both ends included. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

/** An answer's headers by name, as `Headers.get` gives them (`null` when absent). */
export interface HeaderReader {
  get(name: string): string | null;
}

/**
 * A file download's answer (`200` or `206`) once its headers arrived: the body is a Node stream of `Buffer`s, still
 * unread. File bodies come over `node:http`/`node:https` rather than `fetch`: on a fast link, fetch's web-stream body
 * costs the server a promise and a wrapper per chunk and their garbage, on the thread that reads every socket.
 */
export interface FileResponse {
  readonly status: number;
  readonly headers: HeaderReader;
  readonly body: Readable;
  /** Stops reading the body and closes its connection; safe to call more than once. */
  cancel(): void;
}

/**
 * A hub answer that a later try may not get: 5xx, 408 and 429. `retryAfterMs` is what the hub asked to wait
 * (`Retry-After`, or `t` of the Hub's `RateLimit` header), when it said.
 */
export class TransientHubError extends LoadError {
  constructor(
    message: string,
    readonly status: number,
    readonly retryAfterMs: number | undefined,
  ) {
    super('HUB_ERROR', message);
  }
}

/** Options of {@link createHubClient}. */
export interface HubClientOptions {
  /** Base URL of the hub, e.g. `https://huggingface.co` (a trailing `/` is ignored). */
  readonly hubUrl: string;
  /** Access token sent as `Authorization: Bearer`, for gated and private repositories. */
  readonly token?: string | undefined;
  /**
   * Where the token came from, for messages: `HF_TOKEN`, `the token file /home/me/.cache/huggingface/token`, …
   * Default `HF_TOKEN`.
   */
  readonly tokenSource?: string | undefined;
  /**
   * The fetch listing and revision requests use; defaults to the global one. File downloads ({@link
   * HubClient.openFile}) use `node:http`/`node:https` whatever it is.
   */
  readonly fetch?: typeof fetch | undefined;
  /**
   * How long to wait for a listing request to answer at all, in milliseconds (default 30000). File downloads have
   * their own stall detection in the downloader.
   */
  readonly requestTimeoutMs?: number | undefined;
}

/** A hub, as the loader uses it. */
export interface HubClient {
  /** The base URL, without a trailing `/`. */
  readonly hubUrl: string;
  /**
   * Lists every file of `ref` (recursively, following `Link: rel="next"` pagination) via
   * `GET {hubUrl}/api/models/{id}/tree/{revision}?recursive=true`.
   */
  listFiles(ref: RepoRef, signal?: AbortSignal): Promise<HubFile[]>;
  /**
   * The commit (40 hex) `ref.revision` names now, via `GET {hubUrl}/api/models/{id}/revision/{revision}` (its `sha`),
   * as huggingface_hub's `snapshot_download` pins it before listing.
   */
  resolveCommit(ref: RepoRef, signal?: AbortSignal): Promise<string>;
  /** `{hubUrl}/{id}/resolve/{revision}/{path}`, with the revision and each path segment URL-encoded. */
  fileUrl(ref: RepoRef, path: string): string;
  /**
   * Starts downloading one file (only `range` of it, when given) and resolves with the `200` or `206` answer once
   * its headers arrived (the body is still unread). A hub that ignores `Range` answers `200` with the whole file.
   * Aborting `signal` rejects with its reason when that is a {@link LoadError}, and destroys a body being read; 5xx,
   * 408 and 429 reject with a {@link TransientHubError}.
   */
  openFile(ref: RepoRef, path: string, signal?: AbortSignal, range?: ByteRange): Promise<FileResponse>;
}

const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/** Statuses whose `Location` is followed, and how many hops a request may take. */
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 5;

/** Tries of an API request that the hub answers with 5xx, 408 or 429. */
const API_ATTEMPTS = 3;
/** First wait between them, doubled after each, in milliseconds. */
const API_BACKOFF_MS = 500;
/** A longer `Retry-After` than this ends the load instead, in milliseconds. */
const API_MAX_WAIT_MS = 10_000;

/** Creates a {@link HubClient}. */
export function createHubClient(options: HubClientOptions): HubClient {
  const hubUrl = options.hubUrl.replace(/\/+$/, '');
  const doFetch = options.fetch ?? fetch;
  const token = options.token !== undefined && options.token !== '' ? options.token : undefined;
  const requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const hubOrigin = new URL(hubUrl).origin;
  const context: ErrorContext = {
    hubUrl,
    hubOrigin,
    tokenSource: token === undefined ? undefined : (options.tokenSource ?? 'HF_TOKEN'),
  };

  // The token goes to the hub's own origin only: a listing's `Link: rel="next"` or a redirect may name any host (the
  // Hub's LFS files redirect to a CDN, which must not get it).
  const headers = (extra: Record<string, string>, url: string = hubUrl): Record<string, string> => ({
    'User-Agent': 'modeldeck',
    ...(token === undefined || new URL(url).origin !== hubOrigin ? {} : { Authorization: `Bearer ${token}` }),
    ...extra,
  });

  /**
   * One request, following redirects itself (so a failure names the host that failed: a CDN the hub redirected to is
   * not the hub), with the token only on the hub's own origin. `send` makes one hop (fetch, or `node:http` for file
   * bodies); a redirect or error answer is discarded here, a `200` or `206` returned with its body unread.
   */
  const request = async <A extends Answer>(
    url: string,
    extra: Record<string, string>,
    signal: AbortSignal | undefined,
    ref: RepoRef,
    what: string,
    send: (url: string, headers: Record<string, string>, signal: AbortSignal | undefined) => Promise<A>,
  ): Promise<A> => {
    let current = url;
    for (let hops = 0; ; hops += 1) {
      let answer: A;
      try {
        answer = await send(current, headers(extra, current), signal);
      } catch (error) {
        throw networkError(error, signal, current, context);
      }
      const location = REDIRECTS.has(answer.status) ? answer.headers.get('location') : null;
      if (location !== null) {
        await answer.discard();
        if (hops >= MAX_REDIRECTS) {
          throw new LoadError(
            'HUB_ERROR',
            `the hub at ${hubUrl} redirected ${what} of ${ref.id} more than ${MAX_REDIRECTS} times`,
          );
        }
        current = new URL(location, current).toString();
        continue;
      }
      if (answer.status !== 200 && answer.status !== 206) {
        // Free the connection: the body of an error answer is not needed beyond its headers.
        await answer.discard();
        const error =
          new URL(current).origin === hubOrigin
            ? statusError(answer.status, answer.headers.get('x-error-code'), ref, what, context)
            : new LoadError(
                'HUB_ERROR',
                `${new URL(current).origin}, where the hub at ${hubUrl} redirected ${what} of ${ref.id}@${ref.revision}, ` +
                  `answered HTTP ${answer.status}; retry later`,
              );
        if (answer.status >= 500 || answer.status === 408 || answer.status === 429) {
          throw new TransientHubError(error.message, answer.status, retryAfterMs(answer.headers));
        }
        throw error;
      }
      return answer;
    }
  };

  /** One hop of an API request, by fetch (bodies are small JSON). */
  const fetchHop = async (
    url: string,
    hopHeaders: Record<string, string>,
    signal: AbortSignal | undefined,
  ): Promise<FetchAnswer> => {
    const response = await doFetch(url, {
      headers: hopHeaders,
      redirect: 'manual',
      ...(signal === undefined ? {} : { signal }),
    });
    return {
      status: response.status,
      headers: response.headers,
      response,
      discard: () => response.body?.cancel().catch(() => undefined),
    };
  };

  /**
   * An API request (listing, revision): a 5xx, 408 or 429 is asked again, {@link API_ATTEMPTS} times in all, after
   * the wait the hub named (up to {@link API_MAX_WAIT_MS}) or a short backoff. File downloads retry in the downloader.
   */
  const apiRequest = async (
    url: string,
    extra: Record<string, string>,
    signal: AbortSignal | undefined,
    ref: RepoRef,
    what: string,
  ): Promise<Response> => {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return (await request(url, extra, signal, ref, what, fetchHop)).response;
      } catch (error) {
        if (!(error instanceof TransientHubError) || attempt >= API_ATTEMPTS) throw error;
        const wait = error.retryAfterMs ?? API_BACKOFF_MS * 2 ** (attempt - 1);
        if (wait > API_MAX_WAIT_MS) throw error;
        await sleep(wait, undefined, signal === undefined ? {} : { signal }).catch(() => {
          throw networkError(signal?.reason, signal, url, context);
        });
      }
    }
  };

  /**
   * GETs a JSON answer (a listing page, a revision) through {@link apiRequest}, so a 5xx, 408 or 429 is asked again,
   * all within {@link HubClientOptions.requestTimeoutMs}. Invalid JSON is a hub error; a body cut off or timed out
   * maps as a request failure.
   */
  const getJson = async (
    url: string,
    ref: RepoRef,
    what: string,
    signal: AbortSignal | undefined,
  ): Promise<{ readonly body: unknown; readonly headers: HeaderReader }> => {
    const timeout = AbortSignal.timeout(requestTimeoutMs);
    const combined = signal === undefined ? timeout : AbortSignal.any([signal, timeout]);
    const response = await apiRequest(url, { Accept: 'application/json' }, combined, ref, what);
    try {
      return { body: await response.json(), headers: response.headers };
    } catch (error) {
      throw networkError(error, combined, url, context);
    }
  };

  return {
    hubUrl,
    fileUrl: (ref, path) => fileUrl(hubUrl, ref, path),
    async listFiles(ref, signal) {
      const files: HubFile[] = [];
      let url: string | undefined =
        `${hubUrl}/api/models/${ref.id}/tree/${encodeURIComponent(ref.revision)}?recursive=true`;
      // A hub that keeps answering with a `next` link would otherwise loop forever.
      const seen = new Set<string>();
      while (url !== undefined) {
        if (seen.has(url)) {
          throw new LoadError('HUB_ERROR', `the hub at ${hubUrl} paginated the file list of ${ref.id} in a loop`);
        }
        seen.add(url);
        const { body: page, headers: pageHeaders } = await getJson(url, ref, 'the file list', signal);
        if (!Array.isArray(page)) {
          throw new LoadError(
            'HUB_ERROR',
            `the hub at ${hubUrl} answered the file list of ${ref.id} with something other than a JSON array`,
          );
        }
        files.push(...parseTreePage(page));
        const next = nextLink(pageHeaders.get('link'));
        url = next === undefined ? undefined : new URL(next, url).toString();
      }
      return files;
    },
    async resolveCommit(ref, signal) {
      const url = `${hubUrl}/api/models/${ref.id}/revision/${encodeURIComponent(ref.revision)}`;
      const { body: info } = await getJson(url, ref, 'the revision', signal);
      const sha = typeof info === 'object' && info !== null ? (info as { sha?: unknown }).sha : undefined;
      if (typeof sha !== 'string' || !/^[0-9a-f]{40}$/.test(sha)) {
        throw new LoadError(
          'HUB_ERROR',
          `the hub at ${hubUrl} named no commit for ${ref.id}@${ref.revision} (no 40-hex "sha" in ${url})`,
        );
      }
      return sha;
    },
    openFile(ref, path, signal, range) {
      return request(
        fileUrl(hubUrl, ref, path),
        {
          // `identity`: byte counts must be the file's own, compared with Content-Length and the listing size.
          'Accept-Encoding': 'identity',
          ...(range === undefined ? {} : { Range: `bytes=${range.start}-${range.end}` }),
        },
        signal,
        ref,
        path,
        httpHop,
      );
    },
  };
}

/** What the redirect loop needs of one answer, whichever client got it. */
interface Answer {
  readonly status: number;
  readonly headers: HeaderReader;
  /** Frees the connection without reading the body (beyond a small one). */
  discard(): Promise<void> | void;
}

interface FetchAnswer extends Answer {
  readonly response: Response;
}

type HttpAnswer = Answer & FileResponse;

/** Error answers and redirects with a body up to this size are read to their end, so their connection is reused. */
const DRAIN_BYTES = 64 * 1024;

/**
 * One hop of a file download: a GET by `node:http`/`node:https` (their global agents keep connections alive). Rejects
 * with the request's error (its `code`, such as `ECONNREFUSED`, on it); aborting `signal` destroys the request and a
 * body being read.
 */
function httpHop(
  url: string,
  hopHeaders: Record<string, string>,
  signal: AbortSignal | undefined,
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(signal.reason);
      return;
    }
    const target = new URL(url);
    let body: IncomingMessage | undefined;
    const sent = (target.protocol === 'https:' ? https : http).get(target, { headers: hopHeaders }, (answer) => {
      body = answer;
      resolve(httpAnswer(answer));
    });
    // Until the request closes (after the body's end, or its destruction): the body being read is stopped too.
    const onAbort = (): void => {
      const error = new Error('the request was aborted', { cause: signal?.reason });
      body?.destroy(error);
      sent.destroy(error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    sent.on('close', () => signal?.removeEventListener('abort', onAbort));
    sent.on('error', reject);
  });
}

function httpAnswer(body: IncomingMessage): HttpAnswer {
  const cancel = (): void => {
    body.destroy();
  };
  return {
    status: body.statusCode ?? 0,
    headers: {
      get: (name) => {
        const value = body.headers[name.toLowerCase()];
        if (value === undefined) return null;
        return Array.isArray(value) ? value.join(', ') : value;
      },
    },
    body,
    cancel,
    discard: () => {
      const length = Number(body.headers['content-length'] ?? Number.NaN);
      if (length <= DRAIN_BYTES) body.resume();
      else cancel();
    },
  };
}

function fileUrl(hubUrl: string, ref: RepoRef, path: string): string {
  const encodedPath = path.split('/').map(encodeURIComponent).join('/');
  return `${hubUrl}/${ref.id}/resolve/${encodeURIComponent(ref.revision)}/${encodedPath}`;
}

/** Entries of one page of the tree API: files only (directories are implied by paths). */
function parseTreePage(page: readonly unknown[]): HubFile[] {
  const files: HubFile[] = [];
  for (const entry of page) {
    if (typeof entry !== 'object' || entry === null) continue;
    const { type, path, size, lfs, oid } = entry as {
      type?: unknown;
      path?: unknown;
      size?: unknown;
      lfs?: unknown;
      oid?: unknown;
    };
    if (type !== 'file' || typeof path !== 'string') continue;
    const lfsInfo = typeof lfs === 'object' && lfs !== null ? (lfs as { size?: unknown; oid?: unknown }) : undefined;
    const bytes = typeof lfsInfo?.size === 'number' ? lfsInfo.size : size;
    if (typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes < 0) continue;
    const sha256 = typeof lfsInfo?.oid === 'string' && /^[0-9a-f]{64}$/.test(lfsInfo.oid) ? lfsInfo.oid : undefined;
    const gitOid = typeof oid === 'string' && /^[0-9a-f]{40}$/.test(oid) ? oid : undefined;
    files.push({
      path,
      size: bytes,
      ...(gitOid === undefined ? {} : { oid: gitOid }),
      ...(sha256 === undefined ? {} : { sha256 }),
    });
  }
  return files;
}

/**
 * How long a 429 or 503 asks to wait, in milliseconds: `Retry-After` (seconds or an HTTP date), else the `t` (seconds
 * until the window resets) of the Hub's `RateLimit: "api";r=0;t=55` header.
 */
export function retryAfterMs(headers: HeaderReader, now: number = Date.now()): number | undefined {
  const retryAfter = headers.get('retry-after')?.trim();
  if (retryAfter !== undefined && retryAfter !== '') {
    if (/^\d+$/.test(retryAfter)) return Number(retryAfter) * 1000;
    const date = Date.parse(retryAfter);
    if (!Number.isNaN(date)) return Math.max(0, date - now);
  }
  const match = /(?:^|;)\s*t\s*=\s*(\d+)/.exec(headers.get('ratelimit') ?? '');
  return match === null ? undefined : Number(match[1]) * 1000;
}

/** The target of `rel="next"` in an RFC 8288 `Link` header, if any. */
export function nextLink(header: string | null): string | undefined {
  if (header === null) return undefined;
  for (const part of header.split(/,(?=\s*<)/)) {
    const match = /^\s*<([^>]*)>(.*)$/.exec(part);
    if (match === null) continue;
    const params = match[2] ?? '';
    if (/;\s*rel\s*=\s*"?([^";]*\s)?next(\s[^";]*)?"?\s*(;|$)/i.test(params)) return match[1];
  }
  return undefined;
}

interface ErrorContext {
  readonly hubUrl: string;
  readonly hubOrigin: string;
  /** Where the token sent came from (`HF_TOKEN`, a token file); `undefined` when none is sent. */
  readonly tokenSource: string | undefined;
}

/**
 * Maps a non-200 answer to a {@link LoadError}. `what` names what was asked for (a file path, or "the file list").
 */
function statusError(
  status: number,
  errorCode: string | null,
  ref: RepoRef,
  what: string,
  { hubUrl, tokenSource }: ErrorContext,
): LoadError {
  const hub = `the hub at ${hubUrl}`;
  const error = (code: LoadErrorCode, message: string): LoadError => new LoadError(code, message);
  const setToken = 'set HF_TOKEN (or the token file $HF_HOME/token) to a token with access';
  switch (status) {
    case 401:
      // With a token, the Hub answers 401 only when the token itself is invalid (on every request).
      if (tokenSource !== undefined) {
        return error(
          'HUB_TOKEN_INVALID',
          `${hub} refused the token from ${tokenSource} as invalid credentials: ` +
            `replace it with a valid token (or unset it for public models)`,
        );
      }
      // Without a token the Hub answers 401 for missing, private and gated repositories alike.
      if (errorCode === 'GatedRepo') {
        return error('UNAUTHORIZED', `${ref.id} is gated on ${hub} and no token was sent: ${setToken}`);
      }
      return error(
        'UNAUTHORIZED',
        `${ref.id} was not found on ${hub}, or it is gated or private and needs a token: ` +
          `check the id, or ${setToken}`,
      );
    case 403:
      return error(
        'FORBIDDEN',
        errorCode === 'GatedRepo'
          ? `${ref.id} is gated on ${hub} and the token from ${tokenSource ?? 'HF_TOKEN'} has not been granted ` +
              `access: request it at ${hubUrl}/${ref.id}, or use a token that has it`
          : `access to ${ref.id} is forbidden by ${hub}: request access on the model's page, ` +
              'or set HF_TOKEN to a token that has it',
      );
    case 404:
      if (errorCode === 'RevisionNotFound') {
        return error(
          'REVISION_NOT_FOUND',
          `revision ${ref.revision} of ${ref.id} was not found on ${hub}; check the branch, tag or commit`,
        );
      }
      if (errorCode === 'EntryNotFound') {
        return error(
          'HUB_ERROR',
          `${hub} has no ${what} in ${ref.id}@${ref.revision} although its file list names it; retry`,
        );
      }
      return error(
        'MODEL_NOT_FOUND',
        tokenSource === undefined
          ? `model ${ref.id} was not found on ${hub}; check the id`
          : `model ${ref.id} was not found on ${hub} (the token from ${tokenSource} was accepted, so it is ` +
              'missing, or private to another account); check the id',
      );
    default:
      return error('HUB_ERROR', `${hub} answered HTTP ${status} for ${what} of ${ref.id}@${ref.revision}; retry later`);
  }
}

/** Maps a thrown fetch (or body read) failure: an abort with a LoadError reason keeps it; others are mapped. */
function networkError(
  error: unknown,
  signal: AbortSignal | undefined,
  url: string,
  { hubUrl, hubOrigin }: ErrorContext,
): LoadError {
  if (error instanceof LoadError) return error;
  const origin = URL.canParse(url) ? new URL(url).origin : hubOrigin;
  // Another host than the hub is one the hub redirected to (a CDN) or paginated to: name it, not the hub.
  const elsewhere = origin === hubOrigin ? undefined : `${origin}, where the hub at ${hubUrl} redirected the request,`;
  if (signal?.aborted === true) {
    const reason: unknown = signal.reason;
    if (reason instanceof LoadError) return reason;
    if (!(reason instanceof DOMException && reason.name === 'TimeoutError')) {
      return new LoadError('ABORTED', `loading was aborted while talking to the hub at ${hubUrl}`, { cause: reason });
    }
    return new LoadError(
      'HUB_UNREACHABLE',
      elsewhere === undefined
        ? `the hub at ${hubUrl} did not answer ${url} in time: check --hub-url / HF_ENDPOINT, ` +
            'or use --offline with a cached model'
        : `${elsewhere} did not answer ${url} in time: the CDN or a proxy on the way is slow or blocked ` +
            '(--offline loads cached models); retry',
      { cause: error },
    );
  }
  if (error instanceof SyntaxError) {
    return new LoadError('HUB_ERROR', `the hub at ${hubUrl} answered ${url} with invalid JSON; check --hub-url`, {
      cause: error,
    });
  }
  const code = errorCodeOf(error);
  const why = code === undefined ? '' : ` (${code})`;
  const certificate = code === undefined ? undefined : certificateAdvice(code);
  if (certificate !== undefined) {
    return new LoadError('HUB_UNREACHABLE', `${elsewhere?.slice(0, -1) ?? `the hub at ${hubUrl}`}${certificate}`, {
      cause: error,
    });
  }
  return new LoadError(
    'HUB_UNREACHABLE',
    elsewhere === undefined
      ? `cannot reach the hub at ${hubUrl}${why}: check --hub-url / HF_ENDPOINT, ` +
          'or use --offline with a cached model'
      : `cannot reach ${elsewhere.slice(0, -1)}${why}: the CDN is down, or a firewall or proxy lets only the ` +
          'hub through (--offline loads cached models); retry',
    { cause: error },
  );
}

/** Node's codes for a TLS certificate that was not accepted, with what to say of each kind. */
const UNTRUSTED_CERTIFICATE = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
]);

/**
 * What to say after "the hub at URL" when `code` is a certificate problem, else undefined. An operator behind a
 * TLS-inspecting proxy, or with a private hub, meets these first; "cannot reach" would send them to the wrong fix.
 */
function certificateAdvice(code: string): string | undefined {
  if (UNTRUSTED_CERTIFICATE.has(code)) {
    return (
      ` presented a certificate this machine does not trust (${code}): for a proxy or a private hub with its own ` +
      'certificate authority, start the server with NODE_EXTRA_CA_CERTS=/path/to/ca.pem'
    );
  }
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
    return ` presented a certificate outside its validity dates (${code}): check this machine's clock, or the hub's certificate`;
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return ` presented a certificate for another host name (${code}): use the name the certificate is for in --hub-url / HF_ENDPOINT`;
  }
  return undefined;
}

/** The `code` of an error or of its chain of causes (undici wraps socket errors in `TypeError: fetch failed`). */
export function errorCodeOf(error: unknown): string | undefined {
  for (let current = error, depth = 0; current !== undefined && current !== null && depth < 5; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}
