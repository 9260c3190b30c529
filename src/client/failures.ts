/**
 * Why a `/load_model` subscription or a chat request failed, as plain data, and how to say it to a person. Pure.
 */

import { truncateEnd } from '../common/text.js';
import { SHUTTING_DOWN_CODE, type LoadErrorCode } from '../protocol/errors.js';

/** The ways a request to a server can fail, from the client's point of view. */
export type FailureKind =
  /** The server answered with a non-2xx status before any event. */
  | 'http'
  /** The server could not be reached, or the connection broke mid-stream. */
  | 'network'
  /** The event stream ended without a terminal event. */
  | 'ended-early'
  /** The server sent a terminal `error` event (or an `{"error": …}` chat frame). */
  | 'server'
  /** The server answered, but not in the protocol (not an event stream, unreadable frames). */
  | 'protocol'
  /** The client aborted the request (closing a session, quitting). */
  | 'aborted'
  /** A read-only session found its model neither loaded nor loading, and loads nothing itself. */
  | 'read-only';

/** One failure. `message` is what happened, in words, without the hint. */
export interface Failure {
  readonly kind: FailureKind;
  readonly message: string;
  /** HTTP status, for `http`. */
  readonly status?: number;
  /** Machine-readable code from the server (`invalid_api_key`, `MODEL_NOT_FOUND`), when it sent one. */
  readonly code?: string;
}

/**
 * True for failures that a later attempt can cure without the user doing anything: a lost or refused connection, a
 * stream cut short, a gateway or overload status, a server announcing its own shutdown. Re-POSTing `/load_model` is safe (one load per model on the server).
 */
export function isRetryable(failure: Failure): boolean {
  switch (failure.kind) {
    case 'network':
      // No later attempt reaches a port the HTTP client refuses to connect to.
      return failure.code !== BAD_PORT_CODE;
    case 'ended-early':
      return true;
    case 'http':
      return failure.status === 502 || failure.status === 503 || failure.status === 504 || failure.status === 429;
    case 'server':
      // modeldeck sends this code when it shuts down mid-load: it is going away, not failing the model.
      return failure.code === SHUTTING_DOWN_CODE;
    case 'protocol':
    case 'aborted':
    case 'read-only':
      return false;
    default:
      return unreachable(failure.kind);
  }
}

/**
 * The `code` of a `network` failure for a port Node's fetch refuses outright ("bad port": the Fetch standard's port
 * blocklist, 6000, 6665–6669 and others). Not retryable: no attempt will ever connect.
 */
export const BAD_PORT_CODE = 'BAD_PORT';

/** The `code` of the `error` event every subscriber of a load gets when `POST /unload_model` cancels it. */
export const CANCELLED_CODE = 'CANCELLED' satisfies LoadErrorCode;

/** The `code` of a load refused because the server is at `--max-models` and no model can be evicted. */
export const MODELS_BUSY_CODE = 'MODELS_BUSY' satisfies LoadErrorCode;

/** How a failed load ended, for `modeldeck load`'s message and exit status (see its usage text). */
export function loadEnding(failure: Failure): { readonly words: string; readonly status: 1 | 3 | 4 } {
  if (failure.kind === 'server' && failure.code === CANCELLED_CODE) return { words: 'load cancelled', status: 3 };
  if (failure.code === MODELS_BUSY_CODE) return { words: 'load refused, no room', status: 4 };
  return { words: 'load failed', status: 1 };
}

/**
 * Who reads a failure's hint, which decides the advice: the dashboard (its keys, its automatic reconnect) or a shell
 * running `modeldeck load` (its flags and exit status: it tries once, so it never "reconnects").
 */
export type HintAudience = 'dashboard' | 'shell';

/**
 * What to do about a failure, in one sentence for `audience` (empty when there is nothing useful to add). Advice that
 * names a key or a retry exists only for the dashboard, which has them; a shell is told which flag to pass or to run
 * the command again.
 */
export function failureHint(failure: Failure, audience: HintAudience): string {
  switch (failure.kind) {
    case 'http':
      return httpHint(failure, audience);
    case 'network':
      if (failure.code === BAD_PORT_CODE) {
        return 'Node refuses ports on the Fetch blocklist (6000, 6665–6669, …): run the server on another port';
      }
      return audience === 'dashboard'
        ? 'check the URL and that the server is running; reconnecting'
        : 'check --server and that the server is running, then run the command again';
    case 'ended-early':
      return audience === 'dashboard'
        ? 'the server closed the stream mid-load; reconnecting (re-requesting a load is safe)'
        : 'the server closed the stream mid-load; running the command again is safe and resumes the download';
    case 'server':
      return serverHint(failure, audience);
    case 'protocol':
      return 'is the URL a modeldeck or `transformers serve` server?';
    case 'aborted':
      return '';
    case 'read-only':
      // Only a read-only dashboard session fails this way; `modeldeck load` always loads.
      return audience === 'dashboard'
        ? 'this console is read-only: it follows the model once another client loads it; r checks again'
        : '';
    default:
      return unreachable(failure.kind);
  }
}

function httpHint(failure: Failure, audience: HintAudience): string {
  switch (failure.status) {
    case 401:
      return audience === 'dashboard'
        ? 'the server needs a valid API key: --api-key or $MODELDECK_API_KEY (apiKey/apiKeyEnv in a --config file)'
        : 'the server needs a valid API key: pass --api-key KEY or set MODELDECK_API_KEY';
    case 403:
      return 'the server refused this key for that request (a watch-only key reads, it cannot load, chat or unload): ask the server operator for a key with full rights';
    case 404:
      return 'this server has no such route: is the URL a modeldeck or `transformers serve` server?';
    case 400:
    case 422:
      return 'the server refused the request: check the model id';
    default:
      if (!isRetryable(failure)) return 'try again later, or check the server log';
      return audience === 'dashboard'
        ? 'the server is busy or restarting; retrying'
        : 'the server is busy or restarting: run the command again in a moment';
  }
}

function serverHint(failure: Failure, audience: HintAudience): string {
  const dashboard = audience === 'dashboard';
  if (failure.code === SHUTTING_DOWN_CODE) {
    return dashboard
      ? 'the server is stopping; reconnecting until it is back'
      : 'the server is stopping: run the command again once it is back; the files fetched are kept';
  }
  if (failure.code === CANCELLED_CODE) {
    return dashboard
      ? 'cancelled on the server (POST /unload_model); r loads again and resumes, the files fetched are kept'
      : 'another client cancelled it with POST /unload_model or /reset; the files fetched are kept, so running the command again resumes';
  }
  if (failure.code === MODELS_BUSY_CODE) {
    return dashboard
      ? 'the server is full (--max-models) and every model is busy: wait, or unload one (U in the dashboard)'
      : 'no room on the server: run the command again once a model is idle or unloaded';
  }
  return 'failed loads are not cached: trying again starts a new load';
}

/**
 * Reads the message out of an HTTP error body: OpenAI's `{"error": {"message"}}`, FastAPI's `{"detail": "…"}` or
 * `{"detail": [{"msg"}]}`, `{"message"}`, `{"error": "…"}`, else the text itself, shortened to `limit` characters.
 */
export function errorBodyMessage(body: string, limit = 300): { message: string; code?: string } {
  const text = body.trim();
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { message: truncateEnd(text.replace(/\s+/g, ' '), limit) };
  }
  if (typeof value === 'object' && value !== null) {
    const record = value as Record<string, unknown>;
    const error = record['error'];
    if (typeof error === 'object' && error !== null) {
      const fields = error as Record<string, unknown>;
      if (typeof fields['message'] === 'string') {
        const code = fields['code'];
        return { message: truncateEnd(fields['message'], limit), ...(typeof code === 'string' ? { code } : {}) };
      }
    }
    if (typeof error === 'string') return { message: truncateEnd(error, limit) };
    const detail = record['detail'];
    if (typeof detail === 'string') return { message: truncateEnd(detail, limit) };
    if (Array.isArray(detail)) {
      const parts = detail.map((d) =>
        typeof d === 'object' && d !== null && typeof (d as Record<string, unknown>)['msg'] === 'string'
          ? String((d as Record<string, unknown>)['msg'])
          : JSON.stringify(d),
      );
      return { message: truncateEnd(parts.join('; '), limit) };
    }
    if (typeof record['message'] === 'string') return { message: truncateEnd(record['message'], limit) };
  }
  return { message: truncateEnd(text, limit) };
}

function unreachable(value: never): never {
  throw new TypeError(`unknown failure kind ${JSON.stringify(value)}`);
}
