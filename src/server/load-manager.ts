import { monotonicNow, systemClock, type Clock } from '../common/clock.js';
import type { LoadEvent } from '../protocol/events.js';
import type { FeedModel, UnloadReason } from '../protocol/feed.js';
import { createAdmission, type Admitted } from './admission.js';
import { feedModels } from './feed-view.js';
import { createListenerSet } from './listener-set.js';
import {
  errorEvent,
  shuttingDownError,
  type LoadLife,
  type LoadLifeEvent,
  type LoadListener,
  type Subscription,
} from './load-life.js';
import type { LoadedModel, LoadOptions, ModelLoader, ModelRef } from './loader-types.js';
import { createLoadTable } from './load-table.js';
import { createResidentTable } from './resident-table.js';

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
  /** The most loads running at once (`--max-loads`); more wait their turn, first come first served. 0 or absent: no cap. */
  readonly maxLoads?: number;
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

/**
 * Creates the load manager of one server. It composes units that each have one job: the table of loads under way
 * (`load-table.ts`), each load a load life (`load-life.ts`: its subscribers, its coalescer, its one terminal event);
 * the resident table (`resident-table.ts`: what is in memory, and when it goes idle); admission (`admission.ts`: what
 * a request gets, room under `--max-models`, a `--max-loads` slot, dtype conflicts); and the feed's view
 * (`feed-view.ts`). What is left here is the wiring: a load's events move its model between the two tables and reach
 * the watchers; unloads, with their reasons; shutdown.
 */
export function createLoadManager(options: LoadManagerOptions): LoadManager {
  const clock = options.clock ?? systemClock;
  const residents = createResidentTable({
    idleTimeoutMs: options.idleTimeoutMs ?? 0,
    clock,
    onIdle: (key) => void unloadResident(key, 'idle'),
  });
  const loads = createLoadTable({
    intervalMs: options.progressIntervalMs ?? 100,
    clock,
    load: (ref, onEvent, signal, loadOptions) =>
      admission.inSlot(signal, () => options.loader.load(ref, onEvent, signal, loadOptions)),
    on: (ref, event) => follow(ref, event),
  });
  const admission = createAdmission({
    maxModels: options.maxModels ?? 0,
    maxLoads: options.maxLoads ?? 0,
    residents,
    loads,
    evict: (key) => void unloadResident(key, 'evicted'),
  });
  const watchers = createListenerSet<ManagerEvent>((error, event) => options.onInternalError?.(error, event.ref));

  const unloaded = (ref: ModelRef, reason: UnloadReason): void => {
    options.onUnload?.(ref, reason);
    watchers.emit({ type: 'unload', ref, reason });
  };
  const unloadResident = async (key: string, reason: UnloadReason): Promise<boolean> => {
    const model = residents.remove(key);
    if (model === undefined) return false;
    unloaded(model.ref, reason);
    await model.dispose();
    return true;
  };
  // What a load's events do here: its model moves into memory; its events and its cancellation reach the watchers.
  const follow = (ref: ModelRef, event: LoadLifeEvent): void => {
    if (event.type === 'sent') watchers.emit({ type: 'load', ref, event: event.event });
    else if (event.type === 'returned' && event.resident !== undefined) residents.add(event.resident);
    else if (event.type === 'settled' && event.phase === 'cancelled') unloaded(ref, 'cancelled');
    else if (event.type === 'internal-error') options.onInternalError?.(event.error, ref);
  };
  const entrance: Entrance = { open: loads.open, refused: (ref, event) => watchers.emit({ type: 'load', ref, event }) };

  return {
    subscribe: (ref, listener, loadOptions) => subscribe(entrance, admission.admit(ref), ref, listener, loadOptions),
    dtypeConflict: (ref, dtype) => admission.dtypeConflict(ref, dtype),
    acquire: (ref) => acquire(entrance, admission.admit(ref), ref),
    resident: (key) => (residents.touch(key) ? residents.get(key) : undefined),
    residentRefs: () => residents.refs(),
    loadingRefs: () => loads.values().map((load) => load.ref),
    cachedRefs: () => options.loader.listCached(),
    subscriberCount: () => loads.subscribers(),
    touch: (key) => void residents.touch(key),
    hold: (key) => residents.hold(key),
    unload: (key) => unloadResident(key, 'request'),
    cancel: (key) => loads.get(key)?.cancel() ?? false,
    async unloadAll() {
      const refs = residents.refs();
      await Promise.all(refs.map((ref) => unloadResident(ref.key, 'reset')));
      return refs;
    },
    watch: (listener) => watchers.add(listener),
    models: () => feedModels(residents, loads.values(), monotonicNow(clock)),
    async close(beforeUnload) {
      admission.close();
      await loads.abortAll();
      await beforeUnload?.();
      await Promise.all(residents.refs().map((ref) => unloadResident(ref.key, 'shutdown')));
    },
  };
}

/** What `subscribe` and `acquire` may do once admission has answered. */
interface Entrance {
  /** A load of `ref`, under way from now on; {@link LoadLife.start} runs it. */
  open(ref: ModelRef, loadOptions?: LoadOptions): LoadLife;
  /** Tells the watchers that a load was refused, with the refusal's event. */
  refused(ref: ModelRef, event: LoadEvent): void;
}

const noSubscription: Subscription = { unsubscribe: () => undefined };

/** {@link LoadManager.subscribe}: a resident model's `ready`, a refusal, or a load to join or to start. */
function subscribe(
  entrance: Entrance,
  admitted: Admitted<LoadLife>,
  ref: ModelRef,
  listener: LoadListener,
  loadOptions: LoadOptions | undefined,
): Subscription {
  switch (admitted.kind) {
    case 'resident':
      listener({ status: 'ready', model: ref.key, cached: true });
      return noSubscription;
    case 'closed':
      listener(errorEvent(ref, shuttingDownError()));
      return noSubscription;
    case 'refused': {
      const event = errorEvent(ref, admitted.error);
      listener(event);
      entrance.refused(ref, event);
      return noSubscription;
    }
    case 'join':
      return admitted.load.join(listener);
    case 'start': {
      const life = entrance.open(ref, loadOptions);
      // Joined before the loader runs, so that it sees even the events the loader reports synchronously.
      const subscription = life.join(listener);
      life.start();
      return subscription;
    }
    default: {
      const never: never = admitted;
      throw new Error(`unknown admission ${JSON.stringify(never)}`);
    }
  }
}

/** {@link LoadManager.acquire}: the resident model, or the one a load under way or started now will give. */
function acquire(entrance: Entrance, admitted: Admitted<LoadLife>, ref: ModelRef): Promise<LoadedModel> {
  switch (admitted.kind) {
    case 'resident':
      return Promise.resolve(admitted.model);
    case 'closed':
      return Promise.reject(shuttingDownError());
    case 'refused':
      entrance.refused(ref, errorEvent(ref, admitted.error));
      return Promise.reject(admitted.error);
    case 'join':
      return admitted.load.model;
    case 'start': {
      const life = entrance.open(ref);
      life.start();
      return life.model;
    }
    default: {
      const never: never = admitted;
      throw new Error(`unknown admission ${JSON.stringify(never)}`);
    }
  }
}
