/**
 * The one catalogue of the codes modeldeck's server puts on the wire: in `/load_model`'s `error` events, in the
 * OpenAI-shaped `{"error": {message, type, param, code}}` bodies of every HTTP error, and in the `{"error": …}` frame
 * of a chat stream that fails. Every error the server sends is built from this table (as fastify builds its own from
 * `lib/errors.js`), so one problem has one spelling on every route. `docs/protocol.md` documents each code.
 *
 * One scheme: UPPER_SNAKE_CASE, as the `/load_model` codes have always been. OpenAI clients branch on the HTTP status
 * and the body's `type`, both kept as OpenAI sends them; the `code` is modeldeck's own.
 */

/** One entry of the catalogue. */
export interface WireErrorSpec {
  /**
   * The HTTP status of an answer with this code; for codes that only travel inside an event stream (whose status is
   * already 200), the status a chat request that meets the same failure gets.
   */
  readonly status: number;
  /** When the code is sent, in words (the table in `docs/protocol.md` says the same). */
  readonly when: string;
}

/** Every code the server sends, with its HTTP status. */
export const WIRE_ERRORS = {
  // Refused requests.
  INVALID_BODY: { status: 400, when: 'the body is empty or not a JSON object' },
  INVALID_JSON: { status: 400, when: 'the body is not valid JSON' },
  MISSING_MODEL: { status: 422, when: '`/load_model`: the body has no `model` field (upstream answers 422 too)' },
  INVALID_MODEL_TYPE: { status: 422, when: '`/load_model`: `model` is not a string (upstream answers 422 too)' },
  INVALID_MODEL: { status: 400, when: '`model` is not a valid model id; the message names the problem' },
  INVALID_REQUEST: { status: 400, when: 'a chat request field is invalid; `param` names it' },
  BODY_TOO_LARGE: { status: 413, when: 'the body is over the size limit (1 MiB)' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, when: 'the `Content-Type` is not JSON' },
  BAD_REQUEST: { status: 400, when: 'any other malformed request (the message says what)' },
  MISSING_API_KEY: { status: 401, when: 'the server has an API key and the request sent no `Authorization: Bearer`' },
  INVALID_API_KEY: { status: 401, when: 'the request sent another API key than the server’s' },
  PERMISSION_DENIED: {
    status: 403,
    when: 'the request sent a watch key (`serve --watch-key`), which may only read, to a route that needs the full key (`--api-key`); the message names the route, the permission it needs and the routes the key may use',
  },
  NOT_FOUND: { status: 404, when: 'no such route' },
  CONTEXT_LENGTH_EXCEEDED: {
    status: 400,
    when: 'the prompt’s tokens plus `max_tokens` exceed the model’s context; the message names both (OpenAI’s `context_length_exceeded`)',
  },
  CHAT_TEMPLATE_MISSING: {
    status: 400,
    when: 'a chat request to a model with no chat template (a base model, such as `Xenova/gpt2`): send it plain text on `POST /v1/completions`',
  },
  QUEUE_FULL: {
    status: 429,
    when: 'a chat request found `--max-queue` requests of its model generating or waiting (`Retry-After: 1`)',
  },
  MODEL_BUSY: {
    status: 409,
    when: '`/unload_model`, `/reset`: replies were still under way after 10 s; `{"force": true}` unloads anyway',
  },
  METHOD_NOT_ALLOWED: { status: 405, when: 'the route exists with other methods; the `Allow` header names them' },
  REQUEST_TIMEOUT: {
    status: 408,
    when: 'the request’s headers and body did not arrive within `--request-timeout`; the connection is closed',
  },
  HEADERS_TOO_LARGE: { status: 431, when: 'the request headers are over 16 KiB; the connection is closed' },
  TOO_MANY_CONNECTIONS: {
    status: 503,
    when: 'the server has `--max-connections` connections open, each with a request under way; the connection is closed (`Retry-After: 1`); `/health` and requests with the API key are still answered',
  },
  MODEL_NOT_LOADED: { status: 404, when: '`/unload_model`: the model is not resident' },
  MODEL_NOT_CACHED: { status: 404, when: '`/delete_model`: the cache has no snapshot of the model at that revision' },
  MODEL_IN_USE: {
    status: 409,
    when:
      '`/delete_model`: a revision of the repository is resident, loading or being pulled; unload it first. ' +
      '`/load_model` with `keep_alive: 0`: the model is still loading',
  },
  INVALID_DTYPE: {
    status: 400,
    when: '`/load_model`: `dtype` is not a dtype, a comma-separated string or a list of them; the message lists the valid ones',
  },
  DTYPE_CONFLICT: {
    status: 409,
    when: '`/load_model`: the model is resident (or loading) in another dtype than `dtype` asks for; unload it first',
  },

  // Loads that fail (`error` events; a chat that needs the model gets the same code with this status).
  MODEL_NOT_FOUND: { status: 404, when: 'the hub has no such repository' },
  REVISION_NOT_FOUND: { status: 404, when: 'the repository has no such revision' },
  UNAUTHORIZED: {
    status: 403,
    when: 'no hub token was sent and the hub answered 401: the repository is gated or private, or (the Hub does not tell strangers) missing; set `HF_TOKEN`',
  },
  FORBIDDEN: { status: 403, when: 'the hub token has no access to the repository' },
  HUB_TOKEN_INVALID: {
    status: 403,
    when: 'the hub refused the hub token itself (401 with a token sent); the message names where the token came from',
  },
  NO_ONNX_WEIGHTS: {
    status: 400,
    when: 'no ONNX weights transformers.js can load (none of the dtypes asked for, when a list was given); the message lists the variants there are',
  },
  HUB_UNREACHABLE: {
    status: 503,
    when: 'the hub did not answer, or its TLS certificate was refused (the message names its URL and what to do)',
  },
  HUB_ERROR: { status: 503, when: 'the hub answered with an unexpected status' },
  DOWNLOAD_FAILED: {
    status: 503,
    when: 'a download was cut off, truncated or stalled on every attempt, or failed its checksum twice; the bytes received stay for the next load',
  },
  DISK_FULL: {
    status: 507,
    when: 'the disk of the cache has not the room a download needs (checked before its first byte; the message names the bytes needed and free), or filled up during it (the load’s partial downloads are then removed)',
  },
  CACHE_NOT_WRITABLE: {
    status: 503,
    when: 'a file must be fetched and the cache directory cannot be written (what it holds loads): see `--cache-dir`',
  },
  OFFLINE_NOT_CACHED: { status: 503, when: 'offline mode, and the model is not in the cache' },
  LOAD_FAILED: { status: 503, when: 'the runtime could not load the files' },
  ABORTED: { status: 503, when: 'the server is shutting down' },
  CANCELLED: {
    status: 409,
    when: 'the load was cancelled by `POST /unload_model` or `POST /reset` while it ran or waited its turn; every byte already fetched stays in the cache',
  },
  MODELS_BUSY: {
    status: 503,
    when: 'the server holds `--max-models` models and every one has been generating replies for 10 s while the load waited, or 32 loads already wait for room; the message names them and says what to do',
  },
  MEMORY_BUDGET_EXCEEDED: {
    status: 503,
    when: 'the model’s weights (estimated from the listing, before any weight byte is fetched) do not fit beside the resident models under `--max-memory`, even after evicting the idle ones; the message gives the estimate, the budget and what holds it; `{"force": true}` loads anyway',
  },

  // A reply cut short by a deliberate act (an HTTP status before streaming began; an in-stream frame after).
  MODEL_UNLOADED: {
    status: 503,
    when: 'a chat’s model was unloaded under it (`{"force": true}` on `/unload_model` or `/reset`, or a shutdown past its grace); retrying loads it again',
  },

  // Failures of the server itself.
  GENERATION_FAILED: {
    status: 500,
    when: 'a chat stream’s generation failed after the stream began (in-stream frame)',
  },
  GENERATION_TIMEOUT: {
    status: 504,
    when: 'a reply ran past `--generation-timeout` (waiting for the model included) and was ended; in-stream frame once streaming began',
  },
  INTERNAL_ERROR: { status: 500, when: 'a bug: the server log has the details' },
} as const satisfies Readonly<Record<string, WireErrorSpec>>;

/** A code of the catalogue. */
export type WireErrorCode = keyof typeof WIRE_ERRORS;

/** The codes a failed load reports (in its `error` event, and to a chat that needed the model). */
export type LoadErrorCode =
  | 'MODEL_NOT_FOUND'
  | 'REVISION_NOT_FOUND'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'HUB_TOKEN_INVALID'
  | 'NO_ONNX_WEIGHTS'
  | 'HUB_UNREACHABLE'
  | 'HUB_ERROR'
  | 'DOWNLOAD_FAILED'
  | 'DISK_FULL'
  | 'CACHE_NOT_WRITABLE'
  | 'OFFLINE_NOT_CACHED'
  | 'LOAD_FAILED'
  | 'ABORTED'
  | 'CANCELLED'
  | 'MODELS_BUSY'
  | 'MEMORY_BUDGET_EXCEEDED';

/** The code of the `error` event a load gets when the server stops during it: the server goes away, the model is fine. */
export const SHUTTING_DOWN_CODE = 'ABORTED' satisfies LoadErrorCode;

/** The HTTP status that goes with `code`. */
export function statusOf(code: WireErrorCode): number {
  return WIRE_ERRORS[code].status;
}

/** An error answer: its HTTP status and its OpenAI-shaped body. */
export interface WireErrorAnswer {
  readonly status: number;
  readonly body: OpenAIErrorBody;
}

/**
 * Builds the answer for `code`: the catalogue's status and the body `{"error": {message, type, param, code}}`, with
 * OpenAI's `type` for that status. `message` says what was wrong and what to do; `param` names the field at fault.
 */
export function wireError(code: WireErrorCode, message: string, param: string | null = null): WireErrorAnswer {
  const status = statusOf(code);
  return { status, body: openAIError(status, message, { param, code }) };
}

/** The `type` values OpenAI uses in error bodies. */
export type OpenAIErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'rate_limit_error'
  | 'server_error';

/** An OpenAI-style error body, as sent with a 4xx/5xx status or as a `data:` frame after a stream started. */
export interface OpenAIErrorBody {
  readonly error: {
    /** Says what was wrong and what to do. */
    readonly message: string;
    readonly type: string;
    /** The request field at fault (`temperature`, `messages[0].content`), or `null`. */
    readonly param: string | null;
    /** A machine-readable code (`INVALID_MODEL`, `MODEL_NOT_FOUND`: `errors.ts`), or `null` from other servers. */
    readonly code: string | null;
  };
}

/**
 * Builds an OpenAI-style error body. `type` defaults from the status as OpenAI does: 401 `authentication_error`,
 * 403 `permission_error`, 429 `rate_limit_error`, 5xx `server_error`, any other 4xx `invalid_request_error`
 * (OpenAI answers an unknown model with 404 and `invalid_request_error`, code `model_not_found`).
 */
export function openAIError(
  status: number,
  message: string,
  options: { type?: string; param?: string | null; code?: string | null } = {},
): OpenAIErrorBody {
  return {
    error: {
      message,
      type: options.type ?? defaultErrorType(status),
      param: options.param ?? null,
      code: options.code ?? null,
    },
  };
}

function defaultErrorType(status: number): OpenAIErrorType {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}
