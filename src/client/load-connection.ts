/**
 * A session's `/load_model` subscription, kept connected: each attempt is one {@link subscribeLoad}; a failure is
 * planned by {@link planRetry} (wait and reconnect, or wait for the user). Its state is what the I/O needs: the
 * attempt in flight, the one timer, the attempt number and the failure streak.
 */

import type { Clock, TimerHandle } from '../common/clock.js';
import { planAttach } from './attach-only.js';
import type { LoadEvent } from '../protocol/events.js';
import { readLoadExtras, type LoadExtras } from '../protocol/residency-fields.js';
import { loadWithKind, type KindResolver } from './engine-adapter.js';
import type { Failure } from './failures.js';
import type { RawFrame } from './frames.js';
import { subscribeLoad, type LoadOutcome } from './load-subscription.js';
import { DEFAULT_BACKOFF, planRetry, type BackoffOptions } from './reconnect.js';
import type { SessionUpdate } from './session-update.js';

/** Options of {@link createLoadConnection}. */
export interface LoadConnectionOptions {
  readonly server: string;
  readonly model: string;
  readonly apiKey?: string | undefined;
  /** The load request's `dtype` (see `load-subscription.ts`). */
  readonly dtype?: readonly string[] | undefined;
  readonly fetch?: typeof fetch;
  readonly clock: Clock;
  readonly backoff?: BackoffOptions;
  readonly dispatch: (update: SessionUpdate) => void;
  readonly onFrame: (frame: RawFrame) => void;
  /**
   * Read-only: never start a load. Each attempt first asks `GET /v1/models`: a resident model is ready as it is (no
   * `/load_model`, which would count as use), a load under way is joined, anything else is a `read-only` failure.
   */
  readonly attachOnly?: boolean | undefined;
  /** The session's kind of server and its adapter; absent, `/load_model` as modeldeck speaks it. */
  readonly resolver?: KindResolver | undefined;
}

/** The subscription's controls. */
export interface LoadConnection {
  /** Subscribes (once; later calls are ignored). */
  start(): void;
  /** Cancels any wait or stream in flight and subscribes again at once, backoff reset. */
  retry(): void;
  /** After a chat lost its connection: starts a fresh reconnection streak unless an attempt or a wait is running. */
  reconnectIfIdle(failure: Failure): void;
  /** Aborts the stream and cancels the timer, for good. */
  close(): void;
}

/**
 * One attempt: the connection's request, with the attempt's own abort signal; what it hears is dispatched while
 * `current()` (a later attempt silences it). modeldeck's own fields of an event (a queued load's place, a ready
 * model's unload countdown) are read leniently beside it. A read-only session first asks whether there is anything to attach
 * to (`attach-only.ts`).
 */
async function subscribeOnce(
  options: LoadConnectionOptions,
  signal: AbortSignal,
  current: () => boolean,
): Promise<LoadOutcome> {
  const { clock } = options;
  const onEvent = (event: LoadEvent, raw: string, extras?: LoadExtras): void => {
    if (!current()) return;
    const { queue, expiresInMs } = extras ?? readLoadExtras(raw);
    options.dispatch({
      type: 'event',
      at: clock.now(),
      event,
      ...(queue ? { queue } : {}),
      ...(expiresInMs !== undefined ? { expiresInMs } : {}),
    });
  };
  const onAccepted = (): void => {
    if (current()) options.dispatch({ type: 'accepted', at: clock.now() });
  };
  if (options.attachOnly === true) {
    // The server's kind decides which list says what is in memory; finding it out asks only read-only probes.
    const resolved = options.resolver ? await options.resolver.resolve(signal) : undefined;
    if (resolved !== undefined && !resolved.ok) return resolved;
    const plan = await planAttach({
      server: options.server,
      model: options.model,
      apiKey: options.apiKey,
      kind: resolved?.adapter.kind,
      ...(options.fetch ? { fetch: options.fetch } : {}),
      signal,
    });
    if (plan.kind === 'stop') return { ok: false, failure: plan.failure };
    if (plan.kind === 'resident') {
      const event = { status: 'ready', model: plan.id, cached: true } as const;
      onEvent(event, JSON.stringify(event));
      return { ok: true, event };
    }
  }
  const request = {
    server: options.server,
    model: options.model,
    apiKey: options.apiKey,
    ...(options.dtype === undefined ? {} : { dtype: options.dtype }),
    ...(options.fetch ? { fetch: options.fetch } : {}),
    signal,
    onFrame: options.onFrame,
    onEvent,
    onAccepted,
  };
  const outcome = await (options.resolver ? loadWithKind(options.resolver, request) : subscribeLoad(request));
  return options.attachOnly === true ? watchOnlyJoin(outcome, options.model) : outcome;
}

/**
 * A read-only session whose key may only watch cannot join a load (`POST /load_model` is refused with 403): it waits
 * for the model to be resident instead, as the server's feed or list tells (`attachWaiting` in the dashboard's model
 * asks again then, when it sees the model resident).
 */
function watchOnlyJoin(outcome: LoadOutcome, model: string): LoadOutcome {
  if (outcome.ok || outcome.failure.kind !== 'http' || outcome.failure.status !== 403) return outcome;
  return {
    ok: false,
    failure: {
      kind: 'read-only',
      status: 403,
      message:
        `${model} is loading on the server, and this key may only watch (it cannot join the load): ` +
        'the session follows the server and is ready once the model is loaded',
    },
  };
}

/** Creates the subscription, not yet started. */
export function createLoadConnection(options: LoadConnectionOptions): LoadConnection {
  const { clock } = options;
  const backoff = options.backoff ?? DEFAULT_BACKOFF;
  let attempt = 0;
  // Failures since the session last reached a terminal event: the backoff grows with these, not with `attempt`
  // (a chat's lost connection starts a streak without a connection attempt of its own).
  let streak = 0;
  let inFlight: AbortController | undefined;
  let timer: TimerHandle | undefined;
  let closed = false;
  let started = false;

  function cancelTimer(): void {
    if (timer !== undefined) clock.clearTimeout(timer);
    timer = undefined;
  }

  function connect(): void {
    if (closed) return;
    cancelTimer();
    inFlight?.abort();
    const abort = new AbortController();
    inFlight = abort;
    attempt++;
    options.dispatch({ type: 'connecting', at: clock.now(), attempt });
    void subscribeOnce(options, abort.signal, () => inFlight === abort).then((outcome) => {
      if (inFlight !== abort || closed) return;
      inFlight = undefined;
      if (outcome.ok) {
        attempt = 0;
        streak = 0;
      } else fail(outcome.failure);
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
    reconnectIfIdle(failure) {
      if (inFlight !== undefined || timer !== undefined) return;
      attempt = 0;
      streak = 0;
      fail(failure);
    },
    close() {
      closed = true;
      cancelTimer();
      inFlight?.abort();
      inFlight = undefined;
    },
  };
}
