/**
 * Every failure of a hub request as a {@link LoadError} whose message says what to do: an answer's status
 * ({@link answerError}) and a request that got no answer ({@link networkError}). The transient ones (5xx, 408, 429,
 * and no answer at all) are {@link TransientError}s.
 */

import { LoadError, type LoadErrorCode } from '../loader-types.js';
import { errorCodeOf } from './error-code.js';
import type { HeaderReader, RepoRef } from './hub-client.js';
import { TransientError } from './transient-error.js';

/** What the messages name: the hub, and where the token sent came from. */
export interface ErrorContext {
  readonly hubUrl: string;
  readonly hubOrigin: string;
  /** Where the token sent came from (`HF_TOKEN`, a token file); `undefined` when none is sent. */
  readonly tokenSource: string | undefined;
}

/**
 * Maps an answer other than 200 and 206 from `url` (the hub, or a host it redirected to). `what` names what was asked
 * for (a file path, or "the file list"). A 5xx, 408 or 429 is a `busy` {@link TransientError} with the wait the hub
 * asked for.
 */
export function answerError(
  status: number,
  headers: HeaderReader,
  url: string,
  ref: RepoRef,
  what: string,
  context: ErrorContext,
): LoadError {
  const origin = new URL(url).origin;
  const transient = status >= 500 || status === 408 || status === 429;
  const error =
    origin === context.hubOrigin
      ? statusError(status, headers.get('x-error-code'), ref, what, context)
      : new LoadError(
          'HUB_ERROR',
          `${origin}, where the hub at ${context.hubUrl} redirected ${what} of ${ref.id}@${ref.revision}, ` +
            `answered HTTP ${status}; ${transient ? 'retry later' : PERMANENT_ADVICE}`,
        );
  if (transient) return new TransientError('HUB_ERROR', error.message, 'busy', retryAfterMs(headers));
  return error;
}

/**
 * What a 4xx other than 408 and 429 calls for: it is never retried (another try gets the same answer), so the message
 * does not say to retry either.
 */
const PERMANENT_ADVICE = 'it will answer the same again: check --hub-url / HF_ENDPOINT, or ask the hub why';

/** Maps a non-200 answer of the hub itself. */
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
    default: {
      const advice = status >= 500 || status === 408 || status === 429 ? 'retry later' : PERMANENT_ADVICE;
      return error('HUB_ERROR', `${hub} answered HTTP ${status} for ${what} of ${ref.id}@${ref.revision}; ${advice}`);
    }
  }
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

/**
 * Maps a thrown fetch (or body read) failure: an abort with a LoadError reason keeps it; others are mapped. No answer
 * at all is an `unreachable` {@link TransientError} (`HUB_UNREACHABLE`).
 */
export function networkError(
  error: unknown,
  signal: AbortSignal | undefined,
  url: string,
  { hubUrl, hubOrigin }: ErrorContext,
): LoadError {
  if (error instanceof LoadError) return error;
  const origin = URL.canParse(url) ? new URL(url).origin : hubOrigin;
  // Another host than the hub is one the hub redirected to (a CDN) or paginated to: name it, not the hub.
  const elsewhere = origin === hubOrigin ? undefined : `${origin}, where the hub at ${hubUrl} redirected the request,`;
  const unreachable = (message: string): LoadError =>
    new TransientError('HUB_UNREACHABLE', message, 'unreachable', undefined, { cause: error });
  if (signal?.aborted === true) {
    const reason: unknown = signal.reason;
    if (reason instanceof LoadError) return reason;
    if (!(reason instanceof DOMException && reason.name === 'TimeoutError')) {
      return new LoadError('ABORTED', `loading was aborted while talking to the hub at ${hubUrl}`, { cause: reason });
    }
    return unreachable(
      elsewhere === undefined
        ? `the hub at ${hubUrl} did not answer ${url} in time: check --hub-url / HF_ENDPOINT, ` +
            'or use --offline with a cached model'
        : `${elsewhere} did not answer ${url} in time: the CDN or a proxy on the way is slow or blocked ` +
            '(--offline loads cached models); retry',
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
  if (certificate !== undefined)
    return unreachable(`${elsewhere?.slice(0, -1) ?? `the hub at ${hubUrl}`}${certificate}`);
  return unreachable(
    elsewhere === undefined
      ? `cannot reach the hub at ${hubUrl}${why}: check --hub-url / HF_ENDPOINT, ` +
          'or use --offline with a cached model'
      : `cannot reach ${elsewhere.slice(0, -1)}${why}: the CDN is down, or a firewall or proxy lets only the ` +
          'hub through (--offline loads cached models); retry',
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
