/**
 * The life of one load, from the request that starts it to its one terminal event: its subscribers, its progress
 * coalescer, its abort controller and the promise `acquire` waits on. It runs the loader it is given and tells its
 * owner what happens through events (`sent`, `returned`, `settled`), so that the owner keeps its tables and its
 * watchers without reaching inside.
 */

import type { Clock } from '../common/clock.js';
import { SHUTTING_DOWN_CODE } from '../protocol/errors.js';
import type { LoadEvent, LoadingEvent, ReadyEvent } from '../protocol/events.js';
import type { UnloadReason } from '../protocol/feed.js';
import { createListenerSet } from './listener-set.js';
import { LoadError, type LoadedModel, type ModelRef } from './loader-types.js';
import { createProgressCoalescer, type LoadReport } from './progress-coalescer.js';

/**
 * What a load lands: a model in memory ({@link LoadedModel}), or a pull's files on disk (`POST /pull_model`). Its
 * `ready` names its size and dtype; `dispose` frees it when nobody is to have it.
 */
export type Landed = Pick<LoadedModel, 'ref' | 'weightBytes' | 'dtype' | 'dispose'>;

/** Receives the wire events of one subscription, in order; the last one it receives is terminal. */
export type LoadListener = (event: LoadEvent) => void;

/** A subscription to a model's load. */
export interface Subscription {
  /** Stops delivery. Never cancels the load itself. Idempotent. */
  unsubscribe(): void;
}

/**
 * Where a load is. Under way: `loading`; `cancelling` (cancelled, its loader being aborted: it ends `cancelled`);
 * `aborting` (the server is closing, its loader being aborted: it ends `failed`, or `abandoned` if the loader
 * finishes anyway). Terminal: `ready` (resident; subscribers got `ready`), `failed` and `cancelled` (subscribers got
 * an `error`), `abandoned` (the model was disposed; subscribers got nothing more, the server's close ends them).
 */
export type LoadPhase = 'loading' | 'cancelling' | 'aborting' | TerminalPhase;

/** The phases a load ends in. */
export type TerminalPhase = 'ready' | 'failed' | 'cancelled' | 'abandoned';

/** What a load tells its owner, in this order: any `sent`s, one `returned`, the terminal `sent` if any, `settled`. */
export type LoadLifeEvent<M extends Landed = LoadedModel> =
  /** A wire event went to the subscribers (the terminal one included). */
  | { readonly type: 'sent'; readonly event: LoadEvent }
  /**
   * The loader returned: the load is no longer under way. `resident` is the model to keep in memory (the owner adds
   * it now, before `ready` goes out); undefined when it failed or is being disposed.
   */
  | { readonly type: 'returned'; readonly resident: M | undefined }
  /**
   * The load reached its terminal phase; its terminal event, if any, has gone out. `unload`: it ended without a model
   * by a deliberate act, named as the feed's `unload` names it (`cancelled`, `reset`; `shutdown` when the server
   * closed during it).
   */
  | { readonly type: 'settled'; readonly phase: TerminalPhase; readonly unload?: UnloadReason }
  /** A bug, not a user's error: a subscriber threw (it was dropped), or the load failed with no {@link LoadError}. */
  | { readonly type: 'internal-error'; readonly error: unknown };

/** Options of {@link createLoadLife}. */
export interface LoadLifeOptions<M extends Landed = LoadedModel> {
  readonly ref: ModelRef;
  /** What the load does, as its messages say it (`loading`, or `pulling` for a pull); `loading` by default. */
  readonly verb?: 'loading' | 'pulling';
  /** The dtype preference the load was started with, if any. */
  readonly dtype: readonly string[] | undefined;
  /** Minimum spacing of progress events within a stage, in milliseconds (stage changes are never delayed). */
  readonly intervalMs: number;
  readonly clock: Clock;
  /** Runs the loader (after its turn, which it reports as `queued`): it reports to `onEvent`, `signal` aborts it. */
  readonly load: (onEvent: (event: LoadReport) => void, signal: AbortSignal) => Promise<M>;
  /** Receives what happens to the load. */
  readonly on: (event: LoadLifeEvent<M>) => void;
}

/** One load of one model (or one pull of its files), shared by all its subscribers. */
export interface LoadLife<M extends Landed = LoadedModel> {
  readonly ref: ModelRef;
  /** The dtype preference it was started with, if any. */
  readonly dtype: readonly string[] | undefined;
  readonly phase: LoadPhase;
  /** Resolves with the model once it is resident; rejects with why it is not. */
  readonly model: Promise<M>;
  /** The latest progress event sent: what a late joiner gets first. */
  readonly last: LoadingEvent | undefined;
  /** Subscribers attached. */
  readonly subscribers: number;
  /**
   * Attaches a subscriber, which first gets the latest progress event, synchronously, if there is one. A load that
   * has ended takes no more subscribers (the returned subscription does nothing).
   */
  join(listener: LoadListener): Subscription;
  /** Runs the loader; call it once, after the first subscriber joined, so that it sees every event. */
  start(): void;
  /**
   * Cancels the load (`POST /unload_model`, or `POST /reset` when `by` is `reset`): its loader is aborted (or its
   * wait for a slot given up), and it ends `cancelled` with one `CANCELLED` error event. False when it is not under
   * way or already cancelled.
   */
  cancel(by?: CancelReason): boolean;
  /** Aborts the load because the server is closing (a cancelled one stays cancelled). */
  abort(): void;
}

/** Who cancelled a load: `POST /unload_model` (`cancelled`) or `POST /reset` (`reset`), as the feed names it. */
export type CancelReason = Extract<UnloadReason, 'cancelled' | 'reset'>;

const terminal: ReadonlySet<LoadPhase> = new Set<TerminalPhase>(['ready', 'failed', 'cancelled', 'abandoned']);

/** Creates a load under way, with no subscriber yet; {@link LoadLife.start} runs its loader. */
export function createLoadLife<M extends Landed = LoadedModel>(options: LoadLifeOptions<M>): LoadLife<M> {
  const { ref, on, intervalMs, clock } = options;
  const verb = options.verb ?? 'loading';
  const controller = new AbortController();
  const internalError = (error: unknown): void => on({ type: 'internal-error', error });
  const subscribers = createListenerSet<LoadEvent>(internalError);
  const send = (event: LoadEvent): void => {
    subscribers.emit(event);
    on({ type: 'sent', event });
  };
  const progress = createProgressCoalescer({ model: ref.key, intervalMs, clock, emit: send });
  const outcome = settlement<M>();
  let phase: LoadPhase = 'loading';
  let endedBy: UnloadReason | undefined; // set once a deliberate act ends it without a model
  const end = (next: TerminalPhase, event?: LoadEvent): void => {
    phase = next;
    if (event !== undefined) send(event);
    subscribers.clear();
    on({ type: 'settled', phase: next, ...(next !== 'ready' && endedBy !== undefined ? { unload: endedBy } : {}) });
  };
  const fail = (next: 'failed' | 'cancelled', error: unknown): void => {
    outcome.reject(error);
    end(next, errorEvent(ref, error, internalError));
  };
  const landed = (model: M): void => {
    progress.flush();
    progress.stop();
    on({ type: 'returned', resident: phase === 'loading' ? model : undefined });
    if (phase === 'loading') {
      outcome.resolve(model);
      return end('ready', readyEvent(model, false));
    }
    // Cancelled, or the server closed while it loaded: nobody is to have the model.
    void model.dispose();
    if (phase === 'cancelling') return fail('cancelled', cancelledError(ref, endedBy, verb));
    outcome.reject(shuttingDownError());
    end('abandoned');
  };
  const fell = (error: unknown): void => {
    progress.stop();
    on({ type: 'returned', resident: undefined });
    if (phase === 'cancelling') fail('cancelled', cancelledError(ref, endedBy, verb));
    else fail('failed', error);
  };

  return {
    ref,
    dtype: options.dtype,
    get phase() {
      return phase;
    },
    model: outcome.promise,
    get last() {
      return progress.last;
    },
    get subscribers() {
      return subscribers.size;
    },
    join(listener) {
      if (terminal.has(phase)) return { unsubscribe: () => undefined };
      const unsubscribe = subscribers.add(listener);
      if (progress.last) listener(progress.last);
      return { unsubscribe };
    },
    start() {
      attempt(() => options.load(progress.push, controller.signal)).then(landed, fell);
    },
    cancel(by = 'cancelled') {
      if (phase !== 'loading' && phase !== 'aborting') return false;
      [phase, endedBy] = ['cancelling', by];
      controller.abort(cancelledError(ref, by, verb));
      return true;
    },
    abort() {
      if (phase !== 'loading') return;
      [phase, endedBy] = ['aborting', 'shutdown'];
      controller.abort();
    },
  };
}

/** `run()`'s promise, with a synchronous throw turned into a rejection. */
function attempt<T>(run: () => Promise<T>): Promise<T> {
  try {
    return run();
  } catch (error) {
    return Promise.reject(error);
  }
}

/** A promise with its two ends. */
function settlement<T>(): { promise: Promise<T>; resolve(value: T): void; reject(error: unknown): void } {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // acquire() callers attach their own handlers; this keeps an unobserved failure from crashing the process.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

/** Why a request gets no load once the server has begun to close. */
export function shuttingDownError(): LoadError {
  return new LoadError(SHUTTING_DOWN_CODE, 'the server is shutting down');
}

function cancelledError(ref: ModelRef, by: UnloadReason | undefined, verb: string): LoadError {
  const route = by === 'reset' ? 'POST /reset' : 'POST /unload_model';
  return new LoadError(
    'CANCELLED',
    `${verb} ${ref.key} was cancelled (${route}); the files fetched so far stay in the cache`,
  );
}

/**
 * The `ready` event of `model`: `cached` says it was resident already; modeldeck adds the size of its weights
 * (`null` when unknown) and its dtype (when known), so that a watcher learns them without a snapshot.
 */
export function readyEvent(model: Pick<LoadedModel, 'ref' | 'weightBytes' | 'dtype'>, cached: boolean): ReadyEvent {
  return {
    status: 'ready',
    model: model.ref.key,
    cached,
    size_bytes: model.weightBytes ?? null,
    ...(model.dtype === undefined ? {} : { dtype: model.dtype }),
  };
}

/**
 * Turns a load failure into the wire's terminal `error` event. A {@link LoadError} keeps its code and message; any
 * other failure (a bug) is reported to `onInternalError` and becomes `LOAD_FAILED` with the error's own message.
 */
export function errorEvent(ref: ModelRef, error: unknown, onInternalError?: (error: unknown) => void): LoadEvent {
  if (error instanceof LoadError) {
    return { status: 'error', model: ref.key, message: error.message, code: error.code };
  }
  onInternalError?.(error);
  const detail = error instanceof Error ? error.message : String(error);
  return {
    status: 'error',
    model: ref.key,
    message: `loading ${ref.key} failed: ${detail}`,
    code: 'LOAD_FAILED',
  };
}
