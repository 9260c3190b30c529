/**
 * Drives one session's I/O: its `/load_model` subscription, reconnected by the {@link planRetry} policy, and its
 * chat requests. It holds only what I/O needs (abort controllers, the one timer, the attempt count); everything a
 * person sees is reported as a {@link SessionUpdate} for the caller's reducer.
 */

import { systemClock, type Clock, type TimerHandle } from '../common/clock.js';
import type { LoadEvent } from '../protocol/events.js';
import { streamChat, type ChatTurn } from './chat-stream.js';
import type { Failure } from './failures.js';
import type { RawFrame } from './frames.js';
import { subscribeLoad } from './load-subscription.js';
import { DEFAULT_BACKOFF, planRetry, type BackoffOptions } from './reconnect.js';

/** What a controller reports; times are milliseconds since the epoch, from its clock. */
export type SessionUpdate =
  | { readonly type: 'connecting'; readonly at: number; readonly attempt: number }
  | { readonly type: 'event'; readonly at: number; readonly event: LoadEvent }
  /** `retryAt` is when the controller reconnects, or `null` when it waits for the user. */
  | { readonly type: 'failed'; readonly at: number; readonly failure: Failure; readonly retryAt: number | null }
  | { readonly type: 'chat-sent'; readonly at: number; readonly text: string }
  | { readonly type: 'chat-delta'; readonly at: number; readonly text: string }
  | { readonly type: 'chat-done'; readonly at: number }
  | { readonly type: 'chat-failed'; readonly at: number; readonly failure: Failure };

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
  /** Receives every change, for the caller's reducer. */
  readonly dispatch: (update: SessionUpdate) => void;
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
 * dispatches `failed` with the time of the next attempt and reconnects after the policy's delay; any other failure
 * dispatches `failed` without one and waits for {@link SessionController.retry}. A chat whose connection is lost
 * also puts the session into reconnection, since the server may have restarted without the model.
 */
export function createSessionController(options: SessionControllerOptions): SessionController {
  const clock = options.clock ?? systemClock;
  const backoff = options.backoff ?? DEFAULT_BACKOFF;
  let attempt = 0;
  // Failures since the session last reached a terminal event: the backoff grows with these, not with `attempt`
  // (a chat's lost connection starts a streak without a connection attempt of its own).
  let streak = 0;
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
        streak = 0;
        return;
      }
      fail(outcome.failure);
    });
  }

  function fail(failure: Failure): void {
    if (failure.kind === 'aborted' || closed) return;
    const plan = planRetry(streak, failure, backoff);
    streak = plan.streak;
    if (plan.delayMs === null) {
      options.dispatch({ type: 'failed', at: clock.now(), failure, retryAt: null });
      return;
    }
    options.dispatch({ type: 'failed', at: clock.now(), failure, retryAt: clock.now() + plan.delayMs });
    cancelTimer();
    timer = clock.setTimeout(() => {
      timer = undefined;
      connect();
    }, plan.delayMs);
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
      streak = 0;
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
          streak = 0;
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
