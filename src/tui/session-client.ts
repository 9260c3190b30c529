/**
 * The network side of a session: one `/load_model` subscription, one streamed chat request, and a controller that
 * reconnects a lost session with a capped exponential backoff.
 *
 * Why `fetch` and the project's own `createSseParser` rather than eventsource-client: `/load_model` is a one-shot
 * POST whose HTTP status and body matter (401, 404, 422 must reach the user as errors), whose end without a terminal
 * event is a failure, and which must not be re-sent on its own after every stream end. eventsource-client ignores the
 * status, reconnects forever and never reports an error, so it would need a custom `fetch` that does all of this
 * anyway; the parser is already pure, tested against the protocol's quirks, and shared with the server's tests.
 */

import { createSseParser } from '../protocol/sse.js';
import { isTerminal, parseLoadEvent, type LoadEvent } from '../protocol/events.js';
import { parseChatStreamData, type ChatCompletionRequest } from '../protocol/chat.js';
import { systemClock, type Clock, type TimerHandle } from '../common/clock.js';
import { ENDED_EARLY_MESSAGE, errorBodyMessage, isRetryable, type Failure } from './failures.js';
import type { ChatTurn, SessionAction } from './session-state.js';

/** The kinds of line the event log records. */
export type FrameKind = 'data' | 'comment' | 'other';

/** One raw frame as received (or a note about the connection), for the event log. */
export interface RawFrame {
  readonly kind: FrameKind;
  /** The `data:` payload as sent (lines joined with LF), the comment's text, or a note. */
  readonly raw: string;
}

/**
 * The service root of a base URL: trailing slashes and a trailing `/v1` removed, since `/load_model` lives at the
 * root even when users give the OpenAI-style `…/v1` base.
 */
export function serviceRoot(baseUrl: string): string {
  return baseUrl.trim().replace(/\/+$/, '').replace(/\/v1$/, '');
}

/** Options shared by {@link subscribeLoad} and {@link streamChat}. */
export interface RequestOptions {
  /** The server's base URL (`http://host:port`, or with `/v1`). */
  readonly server: string;
  /** Sent as `Authorization: Bearer …` when set. */
  readonly apiKey?: string | undefined;
  readonly signal?: AbortSignal;
  /** Injected for tests and other platforms; defaults to the global `fetch`. */
  readonly fetch?: typeof fetch;
  /** Every frame as received, and notes about the connection (status lines, error bodies). */
  readonly onFrame?: (frame: RawFrame) => void;
}

/** Options of {@link subscribeLoad}. */
export interface SubscribeLoadOptions extends RequestOptions {
  /** As given by the user: `org/name` or `org/name@revision`. */
  readonly model: string;
  /** Every event that parsed, in order. */
  readonly onEvent?: (event: LoadEvent, raw: string) => void;
}

/** How a subscription ended. */
export type LoadOutcome =
  | { readonly ok: true; readonly event: Extract<LoadEvent, { status: 'ready' }> }
  | { readonly ok: false; readonly failure: Failure };

function headersFor(apiKey: string | undefined, accept: string): Record<string, string> {
  return {
    'content-type': 'application/json',
    accept,
    ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}),
  };
}

/** Plain words for the socket error codes fetch reports; the code itself follows, for whoever reads logs. */
const NETWORK_CODE_WORDS: Readonly<Record<string, string>> = {
  UND_ERR_SOCKET: 'the server closed the connection',
  ECONNRESET: 'the connection was reset',
  EPIPE: 'the connection was closed while sending',
  ETIMEDOUT: 'the connection timed out',
  UND_ERR_CONNECT_TIMEOUT: 'connecting timed out',
  UND_ERR_HEADERS_TIMEOUT: 'the server sent no answer in time',
  UND_ERR_BODY_TIMEOUT: 'the server stopped sending',
  EHOSTUNREACH: 'the host is unreachable',
  ENETUNREACH: 'the network is unreachable',
};

function networkFailure(error: unknown, phase: string): Failure {
  const err = error as Error & { cause?: { code?: string; message?: string } };
  const cause = err?.cause;
  const code = cause?.code;
  const words = code === undefined ? undefined : NETWORK_CODE_WORDS[code];
  const detail = words !== undefined ? `${words} (${code})` : (code ?? cause?.message ?? err?.message ?? String(error));
  return { kind: 'network', message: `${phase}: ${detail}` };
}

function isAbort(error: unknown, signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true || (error as Error)?.name === 'AbortError';
}

/**
 * POSTs `/load_model` and reads its event stream to the end. Never throws: every way it can end is a
 * {@link LoadOutcome}. An HTTP error status becomes an `http` failure naming the status and the body's message; a
 * stream that ends without `ready`/`error` is an `ended-early` failure ({@link ENDED_EARLY_MESSAGE}), never success.
 * Frames that do not parse are logged and skipped (other servers may interleave things this client does not know).
 */
export async function subscribeLoad(options: SubscribeLoadOptions): Promise<LoadOutcome> {
  const doFetch = options.fetch ?? fetch;
  const url = `${serviceRoot(options.server)}/load_model`;
  let response: Response;
  try {
    response = await doFetch(url, {
      method: 'POST',
      headers: headersFor(options.apiKey, 'text/event-stream'),
      body: JSON.stringify({ model: options.model }),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (error) {
    if (isAbort(error, options.signal)) return { ok: false, failure: { kind: 'aborted', message: 'closed' } };
    return { ok: false, failure: networkFailure(error, `cannot reach ${serviceRoot(options.server)}`) };
  }
  const early = await refuseNonStream(response, options);
  if (early) return { ok: false, failure: early };

  let outcome: LoadOutcome | undefined;
  const parser = createSseParser({
    onEvent: ({ data }) => {
      options.onFrame?.({ kind: 'data', raw: data });
      if (outcome) return;
      const parsed = parseLoadEvent(data);
      if (!parsed.ok) {
        options.onFrame?.({ kind: 'other', raw: `skipped a frame: ${parsed.error}` });
        return;
      }
      options.onEvent?.(parsed.event, data);
      if (isTerminal(parsed.event)) {
        outcome =
          parsed.event.status === 'ready'
            ? { ok: true, event: parsed.event }
            : {
                ok: false,
                failure: {
                  kind: 'server',
                  message: parsed.event.message,
                  ...(parsed.event.code !== undefined ? { code: parsed.event.code } : {}),
                },
              };
      }
    },
    onComment: (text) => options.onFrame?.({ kind: 'comment', raw: text }),
    onRetry: (ms) => options.onFrame?.({ kind: 'other', raw: `retry: ${ms}` }),
    onError: (error) => options.onFrame?.({ kind: 'other', raw: error.line === '' ? error.message : error.line }),
  });
  const body = response.body;
  if (body === null) return { ok: false, failure: { kind: 'ended-early', message: ENDED_EARLY_MESSAGE } };
  try {
    await pump(body, parser, () => outcome !== undefined);
  } catch (error) {
    if (outcome) return outcome;
    if (isAbort(error, options.signal)) return { ok: false, failure: { kind: 'aborted', message: 'closed' } };
    return { ok: false, failure: networkFailure(error, 'connection lost mid-load') };
  }
  return outcome ?? { ok: false, failure: { kind: 'ended-early', message: ENDED_EARLY_MESSAGE } };
}

/** A non-2xx or non-event-stream answer as a failure (its body read and logged), or undefined for a good stream. */
async function refuseNonStream(response: Response, options: RequestOptions): Promise<Failure | undefined> {
  const type = response.headers.get('content-type') ?? '';
  if (response.ok && type.startsWith('text/event-stream')) return undefined;
  const text = await response.text().catch(() => '');
  options.onFrame?.({ kind: 'other', raw: `HTTP ${response.status} ${type} ${text}`.trim() });
  if (!response.ok) {
    const { message, code } = errorBodyMessage(text);
    const reason = response.statusText ? `${response.status} ${response.statusText}` : String(response.status);
    return {
      kind: 'http',
      status: response.status,
      message: `HTTP ${reason}${message ? `: ${message}` : ''}`,
      ...(code !== undefined ? { code } : {}),
    };
  }
  return {
    kind: 'protocol',
    message: `the server answered ${response.status} with "${type || 'no content type'}", not an event stream`,
  };
}

/** Options of {@link streamChat}. */
export interface StreamChatOptions extends RequestOptions {
  readonly model: string;
  /** The conversation so far, the new user message last. */
  readonly messages: readonly ChatTurn[];
  /** Upper bound of new tokens. */
  readonly maxTokens?: number;
  /** Each piece of the reply's text, as it arrives. */
  readonly onDelta?: (text: string) => void;
}

/** How a chat request ended. */
export type ChatOutcome = { readonly ok: true } | { readonly ok: false; readonly failure: Failure };

/**
 * POSTs a streamed chat completion and hands each content delta to `onDelta`. `data: [DONE]` ends it (OpenAI,
 * modeldeck); so does the end of the stream after a `finish_reason` (upstream sends no `[DONE]`). An end with
 * neither is an `ended-early` failure; an `{"error": …}` frame is a `server` failure. Never throws.
 */
export async function streamChat(options: StreamChatOptions): Promise<ChatOutcome> {
  const doFetch = options.fetch ?? fetch;
  const url = `${serviceRoot(options.server)}/v1/chat/completions`;
  let response: Response;
  try {
    response = await doFetch(url, {
      method: 'POST',
      headers: headersFor(options.apiKey, 'text/event-stream'),
      body: JSON.stringify({
        model: options.model,
        messages: options.messages,
        stream: true,
        ...(options.maxTokens !== undefined ? { max_tokens: options.maxTokens } : {}),
      } satisfies ChatCompletionRequest),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (error) {
    if (isAbort(error, options.signal)) return { ok: false, failure: { kind: 'aborted', message: 'closed' } };
    return { ok: false, failure: networkFailure(error, `cannot reach ${serviceRoot(options.server)}`) };
  }
  const early = await refuseNonStream(response, options);
  if (early) return { ok: false, failure: early };

  let outcome: ChatOutcome | undefined;
  let finished = false;
  const parser = createSseParser({
    onEvent: ({ data }) => {
      options.onFrame?.({ kind: 'data', raw: data });
      if (outcome) return;
      const frame = parseChatStreamData(data);
      switch (frame.kind) {
        case 'done':
          outcome = { ok: true };
          return;
        case 'error':
          outcome = {
            ok: false,
            failure: {
              kind: 'server',
              message: frame.error.message,
              ...(frame.error.code ? { code: frame.error.code } : {}),
            },
          };
          return;
        case 'invalid':
          options.onFrame?.({ kind: 'other', raw: `skipped a frame: ${frame.message}` });
          return;
        case 'chunk':
          for (const choice of frame.chunk.choices) {
            if (choice.index !== 0 && choice.index !== undefined) continue;
            const text = choice.delta?.content;
            if (typeof text === 'string' && text !== '') options.onDelta?.(text);
            if (choice.finish_reason) finished = true;
          }
          return;
        default: {
          const never: never = frame;
          throw new TypeError(`unknown chat frame ${JSON.stringify(never)}`);
        }
      }
    },
    onComment: (text) => options.onFrame?.({ kind: 'comment', raw: text }),
  });
  const body = response.body;
  if (body === null)
    return { ok: false, failure: { kind: 'ended-early', message: 'the reply ended before it finished' } };
  try {
    await pump(body, parser, () => outcome !== undefined);
  } catch (error) {
    if (outcome) return outcome;
    if (isAbort(error, options.signal)) return { ok: false, failure: { kind: 'aborted', message: 'closed' } };
    return { ok: false, failure: networkFailure(error, 'connection lost mid-reply') };
  }
  if (outcome) return outcome;
  return finished
    ? { ok: true }
    : { ok: false, failure: { kind: 'ended-early', message: 'the reply ended before it finished' } };
}

/** Reconnection delays: `initialMs`, doubling, never above `maxMs`. */
export interface BackoffOptions {
  /** First delay, in milliseconds. */
  readonly initialMs: number;
  /** Cap, in milliseconds. */
  readonly maxMs: number;
}

/** 1 s, 2 s, 4 s, … capped at 15 s. */
export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 1000, maxMs: 15_000 };

/** The delay before reconnection attempt `attempt` (1 for the first retry), in milliseconds. */
export function backoffDelay(attempt: number, backoff: BackoffOptions = DEFAULT_BACKOFF): number {
  const exponent = Math.min(Math.max(attempt - 1, 0), 30);
  return Math.min(backoff.maxMs, backoff.initialMs * 2 ** exponent);
}

/** What a session controller needs. */
export interface SessionControllerOptions {
  readonly server: string;
  readonly model: string;
  readonly apiKey?: string | undefined;
  readonly fetch?: typeof fetch;
  readonly clock?: Clock;
  readonly backoff?: BackoffOptions;
  /** Upper bound of new tokens per reply. */
  readonly maxTokens?: number;
  /** Receives every state change as an action for `reduceSession`. */
  readonly dispatch: (action: SessionAction) => void;
  /** Receives every raw frame, for the event log. */
  readonly onFrame: (frame: RawFrame) => void;
}

/** Drives one session: load, reconnect, chat. */
export interface SessionController {
  /** Subscribes to `/load_model` (once; later calls are ignored until a failure). */
  start(): void;
  /** Cancels any wait or stream in flight and subscribes again at once, backoff reset. */
  retry(): void;
  /** Sends the conversation; ignored (returns false) while a reply is streaming. */
  sendChat(messages: readonly ChatTurn[]): boolean;
  /** Aborts everything and cancels timers. The controller stays closed. */
  close(): void;
}

/**
 * Creates a session controller. A retryable failure (lost or refused connection, stream cut short, 502/503/504/429)
 * dispatches `failed` with the time of the next attempt and reconnects after {@link backoffDelay}; any other failure
 * dispatches `failed` without one and waits for {@link SessionController.retry}. A chat whose connection is lost
 * also puts the session into reconnection, since the server may have restarted without the model.
 */
export function createSessionController(options: SessionControllerOptions): SessionController {
  const clock = options.clock ?? systemClock;
  const backoff = options.backoff ?? DEFAULT_BACKOFF;
  let attempt = 0;
  // Failures since the session last reached a terminal event: the backoff grows with these, not with `attempt`
  // (a chat's lost connection starts a streak without a connection attempt of its own).
  let failures = 0;
  let loadAbort: AbortController | undefined;
  let chatAbort: AbortController | undefined;
  let timer: TimerHandle | undefined;
  let closed = false;
  let started = false;

  const request = {
    server: options.server,
    apiKey: options.apiKey,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  };

  function cancelTimer(): void {
    if (timer !== undefined) clock.clearTimeout(timer);
    timer = undefined;
  }

  function connect(): void {
    if (closed) return;
    cancelTimer();
    loadAbort?.abort();
    const abort = new AbortController();
    loadAbort = abort;
    attempt++;
    options.dispatch({ type: 'connecting', at: clock.now(), attempt });
    void subscribeLoad({
      ...request,
      model: options.model,
      signal: abort.signal,
      onFrame: options.onFrame,
      onEvent: (event) => {
        if (loadAbort === abort) options.dispatch({ type: 'event', at: clock.now(), event });
      },
    }).then((outcome) => {
      if (loadAbort !== abort || closed) return;
      loadAbort = undefined;
      if (outcome.ok) {
        attempt = 0;
        failures = 0;
        return;
      }
      fail(outcome.failure);
    });
  }

  function fail(failure: Failure): void {
    if (failure.kind === 'aborted' || closed) return;
    if (isRetryable(failure)) {
      failures++;
      const delay = backoffDelay(failures, backoff);
      const retryAt = clock.now() + delay;
      options.dispatch({ type: 'failed', at: clock.now(), failure, retryAt });
      cancelTimer();
      timer = clock.setTimeout(() => {
        timer = undefined;
        connect();
      }, delay);
    } else {
      options.dispatch({ type: 'failed', at: clock.now(), failure, retryAt: null });
    }
  }

  return {
    start() {
      if (started) return;
      started = true;
      connect();
    },
    retry() {
      started = true;
      attempt = 0;
      failures = 0;
      connect();
    },
    sendChat(messages) {
      if (closed || chatAbort !== undefined) return false;
      const abort = new AbortController();
      chatAbort = abort;
      const last = messages[messages.length - 1];
      options.dispatch({ type: 'chat-sent', at: clock.now(), text: last?.content ?? '' });
      void streamChat({
        ...request,
        model: options.model,
        messages,
        signal: abort.signal,
        onFrame: options.onFrame,
        onDelta: (text) => {
          if (chatAbort === abort) options.dispatch({ type: 'chat-delta', at: clock.now(), text });
        },
        ...(options.maxTokens !== undefined ? { maxTokens: options.maxTokens } : {}),
      }).then((outcome) => {
        if (chatAbort !== abort) return;
        chatAbort = undefined;
        if (outcome.ok) {
          options.dispatch({ type: 'chat-done', at: clock.now() });
          return;
        }
        if (outcome.failure.kind === 'aborted') return;
        options.dispatch({ type: 'chat-failed', at: clock.now(), failure: outcome.failure });
        if (outcome.failure.kind === 'network' && loadAbort === undefined && timer === undefined) {
          attempt = 0;
          failures = 0;
          fail(outcome.failure);
        }
      });
      return true;
    },
    close() {
      closed = true;
      cancelTimer();
      loadAbort?.abort();
      chatAbort?.abort();
      loadAbort = undefined;
      chatAbort = undefined;
    },
  };
}

/**
 * Feeds `body` to `parser` until `settled()` says the caller has its outcome or the body ends; rethrows what reading
 * threw (a network error or an abort).
 */
async function pump(
  body: ReadableStream<Uint8Array>,
  parser: { feed(chunk: Uint8Array): void; end(): void },
  settled: () => boolean,
): Promise<void> {
  const reader = body.getReader();
  try {
    while (!settled()) {
      const { done, value } = await reader.read();
      if (done) {
        parser.end();
        return;
      }
      parser.feed(value);
    }
  } finally {
    // The server closes the stream after the terminal event; cancelling covers servers that keep it open.
    reader.cancel().catch(() => {});
  }
}
