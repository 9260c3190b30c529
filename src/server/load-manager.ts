import { monotonicNow, systemClock, type Clock } from '../common/clock.js';
import { SHUTTING_DOWN_CODE } from '../protocol/errors.js';
import type { LoadEvent } from '../protocol/events.js';
import type { FeedModel, UnloadReason } from '../protocol/feed.js';
import { LoadError, type LoadedModel, type LoadOptions, type ModelLoader, type ModelRef } from './loader-types.js';
import { createProgressCoalescer, type ProgressCoalescer } from './progress-coalescer.js';
import { createResidentTable } from './resident-table.js';

/** Receives the wire events of one subscription, in order; the last one it receives is terminal. */
export type LoadListener = (event: LoadEvent) => void;

/** A subscription to a model's load. */
export interface Subscription {
  /** Stops delivery. Never cancels the load itself. Idempotent. */
  unsubscribe(): void;
}

/** Options of {@link createLoadManager}. */
export interface LoadManagerOptions {
  readonly loader: ModelLoader;
  /** Minimum spacing of progress events within a stage, in milliseconds (stage changes are never delayed). */
  readonly progressIntervalMs?: number;
  /**
   * Unloads a resident model after this many milliseconds without use; 0 disables. Every load request and every
   * generation resets it.
   */
  readonly idleTimeoutMs?: number;
  /**
   * Called for failures that are bugs rather than user errors (a failure that is not a {@link LoadError}). The user
   * is not given a generic message for them: the `LOAD_FAILED` event says `loading … failed:` and the error's own
   * message, and this callback gets the error itself (for the log, with its stack).
   */
  readonly onInternalError?: (error: unknown, ref: ModelRef) => void;
  /** Called when a model is unloaded (or a load cancelled), with why. */
  readonly onUnload?: (ref: ModelRef, reason: UnloadReason) => void;
  /**
   * The most models resident at once (loads under way count); 0 or absent: no limit. A load that would exceed it
   * first unloads the least recently used resident model that is not generating (`evicted`); when there is none, it
   * fails at once with `MODELS_BUSY`.
   */
  readonly maxModels?: number;
  /** Timers of coalescing and idle unloads (the system clock by default), injected so tests need not wait. */
  readonly clock?: Clock;
}

/** What {@link LoadManager.watch} reports: every load's wire events, and every unload. */
export type ManagerEvent =
  | { readonly type: 'load'; readonly ref: ModelRef; readonly event: LoadEvent }
  | { readonly type: 'unload'; readonly ref: ModelRef; readonly reason: UnloadReason };

/** One load per model, shared by every subscriber, plus the table of models resident in memory. */
export interface LoadManager {
  /**
   * Subscribes to `ref`'s load, starting one if none runs. A resident model gets a single `ready` with
   * `cached: true`; a late joiner first gets the latest event of the current stage. The listener may be called
   * synchronously from inside this call.
   */
  subscribe(ref: ModelRef, listener: LoadListener, options?: LoadOptions): Subscription;
  /**
   * Why a load of `ref` asking for `dtype` cannot be served now, or undefined when it can: a model is resident in one
   * dtype at a time, so a resident model in a dtype the list does not name (a list with `auto` accepts any), or a
   * load under way with another dtype preference, is a conflict. No `dtype` never conflicts.
   */
  dtypeConflict(ref: ModelRef, dtype: readonly string[] | undefined): string | undefined;
  /** Resolves with the resident model, loading it first if needed (without a subscriber). */
  acquire(ref: ModelRef): Promise<LoadedModel>;
  /** The resident model, if any, marking it used. */
  resident(key: string): LoadedModel | undefined;
  /** Models resident in memory. */
  residentRefs(): ModelRef[];
  /** Loads under way. */
  loadingRefs(): ModelRef[];
  /** Models whose complete snapshot is in the local disk cache. */
  cachedRefs(): Promise<ModelRef[]>;
  /** Subscribers currently attached to running loads (for tests and benchmarks). */
  subscriberCount(): number;
  /** Marks a resident model as used now (resets its idle timer). */
  touch(key: string): void;
  /**
   * Keeps a resident model from being unloaded for idleness while it works (a generation); the returned function
   * releases it, and its idle timer starts again from then.
   */
  hold(key: string): () => void;
  /** Unloads one resident model; false when it was not resident. */
  unload(key: string): Promise<boolean>;
  /**
   * Cancels a running load: every subscriber gets one `error` event with code `CANCELLED`, the loader is aborted (its
   * worker is freed; complete files stay in the cache). False when no load of `key` runs.
   */
  cancel(key: string): boolean;
  /** Unloads every resident model (reason `reset`); returns their refs. */
  unloadAll(): Promise<ModelRef[]>;
  /**
   * Calls `listener` with every load's wire events (as its subscribers get them, coalesced, terminal included; not
   * the `cached: true` answers of resident models) and every unload. Returns the function that stops it.
   */
  watch(listener: (event: ManagerEvent) => void): () => void;
  /** The resident models and the loads under way, as the feed's snapshot and `GET /v1/models` show them. */
  models(): FeedModel[];
  /**
   * Aborts running loads (their subscribers get `ABORTED`, waiting `acquire`s reject with it), awaits
   * `beforeUnload` (the generations under way get to finish), then unloads everything.
   */
  close(beforeUnload?: () => Promise<void>): Promise<void>;
}

interface RunningLoad {
  readonly ref: ModelRef;
  /** The dtype preference the load was started with, if any. */
  readonly dtype: readonly string[] | undefined;
  readonly listeners: Set<LoadListener>;
  readonly controller: AbortController;
  readonly promise: Promise<LoadedModel>;
  readonly progress: ProgressCoalescer;
  /** Set by {@link LoadManager.cancel}. */
  cancelled: boolean;
}

/**
 * Creates the load manager of one server. It composes two units: a {@link ProgressCoalescer} per running load (the
 * rate of its events) and the {@link ResidentTable} (what is in memory, and when it goes idle); what is left here is
 * the life of a load: who listens to it and where its model goes when it is done.
 */
export function createLoadManager(options: LoadManagerOptions): LoadManager {
  const { loader } = options;
  const interval = options.progressIntervalMs ?? 100;
  const clock = options.clock ?? systemClock;
  const running = new Map<string, RunningLoad>();
  const residents = createResidentTable({
    idleTimeoutMs: options.idleTimeoutMs ?? 0,
    clock,
    onIdle: (key) => void unloadResident(key, 'idle'),
  });
  const maxModels = options.maxModels ?? 0;
  const watchers = new Set<(event: ManagerEvent) => void>();
  let closed = false;

  const notify = (event: ManagerEvent): void => {
    for (const watcher of [...watchers]) {
      try {
        watcher(event);
      } catch (error) {
        watchers.delete(watcher);
        options.onInternalError?.(error, event.ref);
      }
    }
  };

  const broadcast = (load: RunningLoad, event: LoadEvent): void => {
    // A listener that throws (a broken socket) must not starve the others.
    for (const listener of [...load.listeners]) {
      try {
        listener(event);
      } catch (error) {
        load.listeners.delete(listener);
        options.onInternalError?.(error, load.ref);
      }
    }
    notify({ type: 'load', ref: load.ref, event });
  };

  const unloaded = (ref: ModelRef, reason: UnloadReason): void => {
    options.onUnload?.(ref, reason);
    notify({ type: 'unload', ref, reason });
  };

  const unloadResident = async (key: string, reason: UnloadReason): Promise<boolean> => {
    const model = residents.remove(key);
    if (model === undefined) return false;
    unloaded(model.ref, reason);
    await model.dispose();
    return true;
  };

  /**
   * Makes room for one more model under `maxModels`: evicts the least recently used resident model that is not
   * generating, or returns the refusal when every slot is busy.
   */
  const makeRoom = (ref: ModelRef): LoadError | undefined => {
    if (maxModels <= 0 || residents.size + running.size < maxModels) return undefined;
    let victim: { key: string; lastUsedAt: number } | undefined;
    for (const resident of residents.refs()) {
      const info = residents.info(resident.key);
      if (info === undefined || info.holds > 0) continue;
      if (victim === undefined || info.lastUsedAt < victim.lastUsedAt) {
        victim = { key: resident.key, lastUsedAt: info.lastUsedAt };
      }
    }
    if (victim !== undefined) {
      void unloadResident(victim.key, 'evicted');
      return undefined;
    }
    const busy = [
      ...residents.refs().map((r) => `${r.key} (generating ${residents.info(r.key)?.holds ?? 0})`),
      ...[...running.keys()].map((key) => `${key} (loading)`),
    ];
    return new LoadError(
      'MODELS_BUSY',
      `cannot load ${ref.key}: the server holds its maximum of ${maxModels} model${maxModels === 1 ? '' : 's'} ` +
        `(--max-models) and none can be unloaded: ${busy.join(', ')}; retry when one is idle, or raise --max-models`,
    );
  };

  /** Starts a load; `first` is subscribed before the loader runs, so it sees even events reported synchronously. */
  const start = (ref: ModelRef, first?: LoadListener, loadOptions?: LoadOptions): RunningLoad => {
    const controller = new AbortController();
    let resolveLoad!: (model: LoadedModel) => void;
    let rejectLoad!: (error: unknown) => void;
    const promise = new Promise<LoadedModel>((resolve, reject) => {
      resolveLoad = resolve;
      rejectLoad = reject;
    });
    // acquire() callers attach their own handlers; this keeps an unobserved failure from crashing the process.
    promise.catch(() => undefined);
    const listeners = new Set<LoadListener>();
    const load: RunningLoad = {
      ref,
      dtype: loadOptions?.dtype,
      listeners,
      controller,
      promise,
      progress: createProgressCoalescer({
        model: ref.key,
        intervalMs: interval,
        clock,
        emit: (event) => broadcast(load, event),
      }),
      cancelled: false,
    };
    running.set(ref.key, load);
    if (first) listeners.add(first);

    const finish = (): void => {
      load.progress.stop();
      running.delete(ref.key);
    };

    let loading: Promise<LoadedModel>;
    try {
      loading = loader.load(ref, (event) => load.progress.push(event), controller.signal, loadOptions);
    } catch (error) {
      loading = Promise.reject(error);
    }
    loading.then(
      (model) => {
        load.progress.flush();
        finish();
        if (closed || load.cancelled) {
          void model.dispose();
          if (load.cancelled) failed(cancelledError(ref));
          else rejectLoad(shuttingDown());
          return;
        }
        residents.add(model);
        resolveLoad(model);
        broadcast(load, { status: 'ready', model: ref.key, cached: false });
        listeners.clear();
      },
      (error: unknown) => {
        finish();
        failed(load.cancelled ? cancelledError(ref) : error);
      },
    );
    function failed(error: unknown): void {
      rejectLoad(error);
      broadcast(load, errorEvent(ref, error, options.onInternalError));
      listeners.clear();
      if (load.cancelled) unloaded(ref, 'cancelled');
    }
    return load;
  };

  const subscribe = (ref: ModelRef, listener: LoadListener, loadOptions?: LoadOptions): Subscription => {
    if (residents.touch(ref.key)) {
      listener({ status: 'ready', model: ref.key, cached: true });
      return { unsubscribe: () => undefined };
    }
    if (closed) {
      listener({ status: 'error', model: ref.key, message: SHUTTING_DOWN_MESSAGE, code: SHUTTING_DOWN_CODE });
      return { unsubscribe: () => undefined };
    }
    const unsubscribeFrom = (load: RunningLoad): Subscription => ({
      unsubscribe: () => {
        load.listeners.delete(listener);
      },
    });
    const joined = running.get(ref.key);
    if (!joined) {
      const refused = makeRoom(ref);
      if (refused) {
        const event = errorEvent(ref, refused, options.onInternalError);
        listener(event);
        notify({ type: 'load', ref, event });
        return { unsubscribe: () => undefined };
      }
      return unsubscribeFrom(start(ref, listener, loadOptions));
    }
    joined.listeners.add(listener);
    const last = joined.progress.last;
    if (last) listener(last);
    return unsubscribeFrom(joined);
  };

  const dtypeConflict = (ref: ModelRef, dtype: readonly string[] | undefined): string | undefined => {
    if (dtype === undefined) return undefined;
    const resident = residents.get(ref.key);
    if (resident !== undefined) {
      if (resident.dtype === undefined || dtype.includes('auto') || dtype.includes(resident.dtype)) return undefined;
      return (
        `${ref.key} is loaded in dtype ${resident.dtype}, not ${dtype.join(', ')}: a model is resident in one dtype ` +
        'at a time. Unload it first (POST /unload_model) to load it in another, or ask without "dtype" to use it'
      );
    }
    const joined = running.get(ref.key);
    if (joined === undefined || sameList(joined.dtype, dtype)) return undefined;
    return (
      `${ref.key} is being loaded ${joined.dtype === undefined ? "with the server's dtype choice" : `with dtype ${joined.dtype.join(', ')}`}, ` +
      `not ${dtype.join(', ')}: wait for it to finish and unload it (POST /unload_model), or ask without "dtype"`
    );
  };

  return {
    subscribe,
    dtypeConflict,
    acquire(ref) {
      const model = residents.get(ref.key);
      if (model) {
        residents.touch(ref.key);
        return Promise.resolve(model);
      }
      if (closed) return Promise.reject(shuttingDown());
      const joined = running.get(ref.key);
      if (joined) return joined.promise;
      const refused = makeRoom(ref);
      if (refused) {
        notify({ type: 'load', ref, event: errorEvent(ref, refused, options.onInternalError) });
        return Promise.reject(refused);
      }
      return start(ref).promise;
    },
    resident(key) {
      residents.touch(key);
      return residents.get(key);
    },
    residentRefs: () => residents.refs(),
    loadingRefs: () => [...running.values()].map((l) => l.ref),
    cachedRefs: () => loader.listCached(),
    subscriberCount: () => [...running.values()].reduce((n, l) => n + l.listeners.size, 0),
    touch: (key) => {
      residents.touch(key);
    },
    hold: (key) => residents.hold(key),
    unload: (key) => unloadResident(key, 'request'),
    cancel(key) {
      const load = running.get(key);
      if (load === undefined || load.cancelled) return false;
      load.cancelled = true;
      load.controller.abort(cancelledError(load.ref));
      return true;
    },
    async unloadAll() {
      const refs = residents.refs();
      await Promise.all(refs.map((ref) => unloadResident(ref.key, 'reset')));
      return refs;
    },
    watch(listener) {
      watchers.add(listener);
      return () => {
        watchers.delete(listener);
      };
    },
    models() {
      const now = monotonicNow(clock);
      const list: FeedModel[] = [];
      for (const ref of residents.refs()) {
        const info = residents.info(ref.key);
        if (info === undefined) continue;
        list.push({
          model: ref.key,
          state: 'resident',
          size_bytes: info.model.weightBytes ?? null,
          ...(info.model.dtype === undefined ? {} : { dtype: info.model.dtype }),
          ...(info.model.hasChatTemplate === undefined ? {} : { has_chat_template: info.model.hasChatTemplate }),
          idle_ms: info.holds > 0 ? 0 : Math.max(0, Math.round(now - info.lastUsedAt)),
          active_requests: info.holds,
        });
      }
      for (const load of running.values()) {
        const last = load.progress.last;
        list.push({
          model: load.ref.key,
          state: 'loading',
          ...(last ? { stage: last.stage } : {}),
          ...(last?.progress ? { progress: last.progress } : {}),
          subscribers: load.listeners.size,
        });
      }
      return list;
    },
    async close(beforeUnload) {
      closed = true;
      for (const load of running.values()) load.controller.abort();
      await Promise.allSettled([...running.values()].map((l) => l.promise));
      await beforeUnload?.();
      await Promise.all(residents.refs().map((ref) => unloadResident(ref.key, 'shutdown')));
    },
  };
}

const SHUTTING_DOWN_MESSAGE = 'the server is shutting down';

function shuttingDown(): LoadError {
  return new LoadError(SHUTTING_DOWN_CODE, SHUTTING_DOWN_MESSAGE);
}

function cancelledError(ref: ModelRef): LoadError {
  return new LoadError(
    'CANCELLED',
    `loading ${ref.key} was cancelled (POST /unload_model); the files fetched so far stay in the cache`,
  );
}

/**
 * Turns a load failure into the wire's terminal `error` event. A {@link LoadError} keeps its code and message; any
 * other failure (a bug) is reported to `onInternalError` and becomes `LOAD_FAILED` with the error's own message.
 */
function errorEvent(ref: ModelRef, error: unknown, onInternalError: LoadManagerOptions['onInternalError']): LoadEvent {
  if (error instanceof LoadError) {
    return { status: 'error', model: ref.key, message: error.message, code: error.code };
  }
  onInternalError?.(error, ref);
  const detail = error instanceof Error ? error.message : String(error);
  return {
    status: 'error',
    model: ref.key,
    message: `loading ${ref.key} failed: ${detail}`,
    code: 'LOAD_FAILED',
  };
}

function sameList(a: readonly string[] | undefined, b: readonly string[]): boolean {
  return a !== undefined && a.length === b.length && a.every((entry, i) => entry === b[i]);
}
