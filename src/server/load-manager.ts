import { SHUTTING_DOWN_CODE } from '../protocol/errors.js';
import type { LoadEvent, LoadingEvent } from '../protocol/events.js';
import {
  LoadError,
  type LoadedModel,
  type LoaderEvent,
  type LoadStage,
  type ModelLoader,
  type ModelRef,
} from './loader-types.js';

/** Receives the wire events of one subscription, in order; the last one it receives is terminal. */
export type LoadListener = (event: LoadEvent) => void;

/** A subscription to a model's load. */
export interface Subscription {
  /** Stops delivery. Never cancels the load itself. Idempotent. */
  unsubscribe(): void;
}

/** Injectable timers, so coalescing can be tested without waiting. */
export interface ManagerClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
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
  /** Called for failures that are bugs rather than user errors (the message a user sees stays generic). */
  readonly onInternalError?: (error: unknown, ref: ModelRef) => void;
  /** Called when a model is unloaded, with why. */
  readonly onUnload?: (ref: ModelRef, reason: 'idle' | 'request' | 'shutdown') => void;
  readonly clock?: ManagerClock;
}

/** One load per model, shared by every subscriber, plus the table of models resident in memory. */
export interface LoadManager {
  /**
   * Subscribes to `ref`'s load, starting one if none runs. A resident model gets a single `ready` with
   * `cached: true`; a late joiner first gets the latest event of the current stage. The listener may be called
   * synchronously from inside this call.
   */
  subscribe(ref: ModelRef, listener: LoadListener): Subscription;
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
  /** Unloads every resident model; returns their refs. */
  unloadAll(): Promise<ModelRef[]>;
  /** Aborts running loads and unloads everything. */
  close(): Promise<void>;
}

interface RunningLoad {
  readonly ref: ModelRef;
  readonly listeners: Set<LoadListener>;
  readonly controller: AbortController;
  readonly promise: Promise<LoadedModel>;
  /** The latest event sent to listeners: what a late joiner sees first. */
  last: LoadingEvent | undefined;
  /** A stage that began but whose first progress (which carries its total) has not arrived yet. */
  heldStage: LoadStage | undefined;
  pending: LoadingEvent | undefined;
  pendingTimer: unknown;
  lastProgressAt: number;
}

interface Resident {
  readonly model: LoadedModel;
  idleTimer: unknown;
  /** Generations under way; a held model is never unloaded for idleness. */
  holds: number;
}

const systemClock: ManagerClock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** Stages whose wire events carry `progress`; their stage event waits for the first progress so it has a total. */
const progressStages: ReadonlySet<LoadStage> = new Set(['download', 'weights']);

/** Creates the load manager of one server. */
export function createLoadManager(options: LoadManagerOptions): LoadManager {
  const { loader } = options;
  const interval = options.progressIntervalMs ?? 100;
  const idleMs = options.idleTimeoutMs ?? 0;
  const clock = options.clock ?? systemClock;
  const running = new Map<string, RunningLoad>();
  const residents = new Map<string, Resident>();
  let closed = false;

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
  };

  const send = (load: RunningLoad, event: LoadingEvent): void => {
    load.last = event;
    broadcast(load, event);
  };

  const flushPending = (load: RunningLoad): void => {
    if (load.pendingTimer !== undefined) {
      clock.clearTimeout(load.pendingTimer);
      load.pendingTimer = undefined;
    }
    const pending = load.pending;
    if (pending) {
      load.pending = undefined;
      load.lastProgressAt = clock.now();
      send(load, pending);
    }
  };

  const onLoaderEvent = (load: RunningLoad, event: LoaderEvent): void => {
    if (running.get(load.ref.key) !== load) return;
    switch (event.type) {
      case 'stage': {
        flushPending(load);
        load.heldStage = undefined;
        if (progressStages.has(event.stage)) {
          load.heldStage = event.stage;
        } else {
          send(load, { status: 'loading', model: load.ref.key, stage: event.stage });
        }
        return;
      }
      case 'progress': {
        const wire: LoadingEvent = {
          status: 'loading',
          model: load.ref.key,
          stage: event.stage,
          progress: { current: event.current, total: event.total },
        };
        const first = load.heldStage === event.stage;
        load.heldStage = undefined;
        const now = clock.now();
        // The first event of a stage, its completion, and anything after a quiet interval go out at once;
        // the rest is coalesced into the latest value and sent when the interval has passed.
        if (first || event.current >= event.total || now - load.lastProgressAt >= interval) {
          load.pending = undefined;
          if (load.pendingTimer !== undefined) {
            clock.clearTimeout(load.pendingTimer);
            load.pendingTimer = undefined;
          }
          load.lastProgressAt = now;
          send(load, wire);
          return;
        }
        load.pending = wire;
        load.pendingTimer ??= clock.setTimeout(
          () => {
            load.pendingTimer = undefined;
            flushPending(load);
          },
          Math.max(0, interval - (now - load.lastProgressAt)),
        );
        return;
      }
      default: {
        const never: never = event;
        throw new Error(`unknown loader event ${JSON.stringify(never)}`);
      }
    }
  };

  const armIdle = (key: string): void => {
    const resident = residents.get(key);
    if (!resident || idleMs <= 0) return;
    if (resident.idleTimer !== undefined) clock.clearTimeout(resident.idleTimer);
    resident.idleTimer = undefined;
    if (resident.holds > 0) return;
    resident.idleTimer = clock.setTimeout(() => {
      resident.idleTimer = undefined;
      void unloadResident(key, 'idle');
    }, idleMs);
  };

  const unloadResident = async (key: string, reason: 'idle' | 'request' | 'shutdown'): Promise<boolean> => {
    const resident = residents.get(key);
    if (!resident) return false;
    residents.delete(key);
    if (resident.idleTimer !== undefined) clock.clearTimeout(resident.idleTimer);
    options.onUnload?.(resident.model.ref, reason);
    await resident.model.dispose();
    return true;
  };

  /** Starts a load; `first` is subscribed before the loader runs, so it sees even events reported synchronously. */
  const start = (ref: ModelRef, first?: LoadListener): RunningLoad => {
    const controller = new AbortController();
    let resolveLoad!: (model: LoadedModel) => void;
    let rejectLoad!: (error: unknown) => void;
    const promise = new Promise<LoadedModel>((resolve, reject) => {
      resolveLoad = resolve;
      rejectLoad = reject;
    });
    // acquire() callers attach their own handlers; this keeps an unobserved failure from crashing the process.
    promise.catch(() => undefined);
    const load: RunningLoad = {
      ref,
      listeners: new Set(),
      controller,
      promise,
      last: undefined,
      heldStage: undefined,
      pending: undefined,
      pendingTimer: undefined,
      lastProgressAt: Number.NEGATIVE_INFINITY,
    };
    running.set(ref.key, load);
    if (first) load.listeners.add(first);

    const finish = (): void => {
      if (load.pendingTimer !== undefined) clock.clearTimeout(load.pendingTimer);
      load.pending = undefined;
      running.delete(ref.key);
    };

    let loading: Promise<LoadedModel>;
    try {
      loading = loader.load(ref, (event) => onLoaderEvent(load, event), controller.signal);
    } catch (error) {
      loading = Promise.reject(error);
    }
    loading.then(
      (model) => {
        flushPending(load);
        finish();
        if (closed) {
          void model.dispose();
          rejectLoad(shuttingDown());
          return;
        }
        residents.set(ref.key, { model, idleTimer: undefined, holds: 0 });
        armIdle(ref.key);
        resolveLoad(model);
        broadcast(load, { status: 'ready', model: ref.key, cached: false });
        load.listeners.clear();
      },
      (error: unknown) => {
        finish();
        rejectLoad(error);
        broadcast(load, errorEvent(ref, error, options.onInternalError));
        load.listeners.clear();
      },
    );
    return load;
  };

  const subscribe = (ref: ModelRef, listener: LoadListener): Subscription => {
    const resident = residents.get(ref.key);
    if (resident) {
      armIdle(ref.key);
      listener({ status: 'ready', model: ref.key, cached: true });
      return { unsubscribe: () => undefined };
    }
    if (closed) {
      listener({ status: 'error', model: ref.key, message: SHUTTING_DOWN_MESSAGE, code: SHUTTING_DOWN_CODE });
      return { unsubscribe: () => undefined };
    }
    const unsubscribeFrom = (load: RunningLoad): Subscription => ({
      unsubscribe: () => void load.listeners.delete(listener),
    });
    const joined = running.get(ref.key);
    if (!joined) return unsubscribeFrom(start(ref, listener));
    joined.listeners.add(listener);
    if (joined.last) listener(joined.last);
    return unsubscribeFrom(joined);
  };

  return {
    subscribe,
    acquire(ref) {
      const resident = residents.get(ref.key);
      if (resident) {
        armIdle(ref.key);
        return Promise.resolve(resident.model);
      }
      if (closed) return Promise.reject(shuttingDown());
      return (running.get(ref.key) ?? start(ref)).promise;
    },
    resident(key) {
      const resident = residents.get(key);
      if (resident) armIdle(key);
      return resident?.model;
    },
    residentRefs: () => [...residents.values()].map((r) => r.model.ref),
    loadingRefs: () => [...running.values()].map((l) => l.ref),
    cachedRefs: () => loader.listCached(),
    subscriberCount: () => [...running.values()].reduce((n, l) => n + l.listeners.size, 0),
    touch: (key) => armIdle(key),
    hold(key) {
      const resident = residents.get(key);
      if (!resident) return () => undefined;
      resident.holds += 1;
      armIdle(key);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        resident.holds -= 1;
        armIdle(key);
      };
    },
    unload: (key) => unloadResident(key, 'request'),
    async unloadAll() {
      const refs = [...residents.values()].map((r) => r.model.ref);
      await Promise.all(refs.map((ref) => unloadResident(ref.key, 'request')));
      return refs;
    },
    async close() {
      closed = true;
      for (const load of running.values()) load.controller.abort();
      await Promise.allSettled([...running.values()].map((l) => l.promise));
      await Promise.all([...residents.keys()].map((key) => unloadResident(key, 'shutdown')));
    },
  };
}

const SHUTTING_DOWN_MESSAGE = 'the server is shutting down';

function shuttingDown(): LoadError {
  return new LoadError(SHUTTING_DOWN_CODE, SHUTTING_DOWN_MESSAGE);
}

/** Turns a load failure into the wire's terminal `error` event; unexpected failures get a generic message. */
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
