import { monotonicNow, systemClock, type Clock } from '../common/clock.js';
import type { LoadEvent, LoadQueue } from '../protocol/events.js';
import type { ExpiryPayload, FeedModel, FeedPull, UnloadReason } from '../protocol/feed.js';
import { createAdmission, type Admission, type Admitted } from './admission.js';
import { createCacheClaims, type CacheClaims } from './cache-claims.js';
import { expiryFields, feedModels, feedPulls } from './feed-view.js';
import { createListenerSet, type ListenerSet } from './listener-set.js';
import {
  errorEvent,
  readyEvent,
  shuttingDownError,
  type LoadLife,
  type LoadLifeEvent,
  type LoadListener,
  type Subscription,
} from './load-life.js';
import { LoadError, type LoadedModel, type LoadOptions, type ModelLoader, type ModelRef } from './loader-types.js';
import { createLoadTable, type LoadTable } from './load-table.js';
import { DEFAULT_MAX_WAITING_LOADS, DEFAULT_MODEL_SLOT_WAIT_MS } from './model-slots.js';
import { createResidentTable, type KeepAlive, type ResidentTable } from './resident-table.js';
import { createMemoryBudget, type MemoryBudget } from './memory-budget.js';

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
   * waits its turn (`model-slots.ts`).
   */
  readonly maxModels?: number;
  /**
   * How long loads waiting for a model slot wait while every slot is held by a model generating replies, before they
   * fail with `MODELS_BUSY` (default {@link DEFAULT_MODEL_SLOT_WAIT_MS}).
   */
  readonly modelSlotWaitMs?: number;
  /** The most loads waiting for a model slot; one more fails at once (default {@link DEFAULT_MAX_WAITING_LOADS}). */
  readonly maxWaitingLoads?: number;
  /** The most loads running at once (`--max-loads`); more wait their turn, first come first served. 0 or absent: no cap. */
  readonly maxLoads?: number;
  /** Timers of coalescing and idle unloads (the system clock by default), injected so tests need not wait. */
  readonly clock?: Clock;
  /** Models (`id@revision`) never unloaded for idleness nor evicted once resident (`serve --pin`). */
  readonly pinned?: ReadonlySet<string>;
  /** The bytes of weights the resident models may hold together (`--max-memory`); 0 or absent: no budget. */
  readonly maxMemoryBytes?: number;
}

/** What {@link LoadManager.watch} reports: every load's wire events, every unload, every move of an expiry. */
export type ManagerEvent =
  | { readonly type: 'load'; readonly ref: ModelRef; readonly event: LoadEvent }
  /** A pull's wire events (`POST /pull_model`), as its subscribers get them. */
  | { readonly type: 'pull'; readonly ref: ModelRef; readonly event: LoadEvent }
  | { readonly type: 'unload'; readonly ref: ModelRef; readonly reason: UnloadReason }
  /** A model unloaded has been disposed of (its worker has exited): the memory it held is given back by now. */
  | { readonly type: 'freed'; readonly ref: ModelRef }
  /** When a resident model will be unloaded for idleness moved (or it just became resident), as of now. */
  | { readonly type: 'expiry'; readonly ref: ModelRef; readonly expiry: Omit<ExpiryPayload, 'model'> };

/** What {@link LoadManager.unloadAll} did. */
export interface ResetOutcome {
  /** The models that were resident, now unloaded. */
  readonly unloaded: ModelRef[];
  /** The loads and pulls that were under way (running or waiting their turn), now cancelled. */
  readonly cancelled: ModelRef[];
}

/** What a pull landed: its files on disk, as its `ready` names them (nothing to dispose). */
interface PulledFiles {
  readonly ref: ModelRef;
  readonly weightBytes: number;
  readonly dtype: string;
  dispose(): Promise<void>;
}

/** What {@link LoadManager.deleteCached} answers. */
export type DeleteClaim<T> =
  /** A revision of the repository is resident, loading or pulling: nothing was deleted. */
  | { readonly kind: 'busy'; readonly by: ModelRef; readonly state: 'resident' | 'loading' | 'pulling' }
  /** The repository is claimed; the removal runs (its result, or its failure). */
  | { readonly kind: 'claimed'; readonly result: Promise<T> };

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
  /**
   * Subscribes to `ref`'s pull (`POST /pull_model`: its files onto the disk, no memory), starting one if none runs.
   * A pull takes a `--max-loads` slot as a load does (stage `queued` while it waits), is in the feed (`pull` events)
   * and in {@link LoadManager.pulls}, and is cancelled by {@link LoadManager.cancel}; a subscriber that leaves never
   * cancels it. Only for a loader that can pull.
   */
  pull(ref: ModelRef, listener: LoadListener, options?: LoadOptions): Subscription;
  /** Why a pull of `ref` asking for `dtype` cannot join the pull under way (another dtype preference), if so. */
  pullConflict(ref: ModelRef, dtype: readonly string[] | undefined): string | undefined;
  /** Pulls under way. */
  pullingRefs(): ModelRef[];
  /** The pulls under way as the feed's snapshot and `GET /v1/models` show them. */
  pulls(): FeedPull[];
  /**
   * Deletes from the disk cache atomically with respect to loads and pulls: when no revision of `ref`'s repository
   * is resident, loading or pulling, claims the repository (in this same call) and runs `remove`; a load or pull of
   * it opened meanwhile waits (stage `queued`, reason `deletion`) until the removal has ended.
   */
  deleteCached<T>(ref: ModelRef, remove: () => Promise<T>): DeleteClaim<T>;
  /** Models whose complete snapshot is in the local disk cache. */
  cachedRefs(): Promise<ModelRef[]>;
  /** Subscribers currently attached to running loads (for tests and benchmarks). */
  subscriberCount(): number;
  /** Marks a resident model as used now (resets its idle timer), asking `keepMs` of it when given (`keep_alive`). */
  touch(key: string, keepMs?: KeepAlive): void;
  /**
   * Keeps a resident model from being unloaded for idleness while it works (a generation); the returned function
   * releases it, and its idle timer starts again from then, for `keepMs` when given (the request's `keep_alive`).
   */
  hold(key: string, keepMs?: KeepAlive): () => void;
  /**
   * Unloads one resident model; false when it was not resident. `reason`: `request` (`POST /unload_model`, the
   * default) or `keep_alive` (a `/load_model` with `keep_alive: 0`).
   */
  unload(key: string, reason?: Extract<UnloadReason, 'request' | 'keep_alive'>): Promise<boolean>;
  /**
   * Cancels a running load, and a pull of the model under way: every subscriber gets one `error` event with code
   * `CANCELLED`, the loader is aborted (its worker is freed; complete files stay in the cache). False when no load
   * or pull of `key` runs.
   */
  cancel(key: string): boolean;
  /**
   * `POST /reset`: cancels every load under way (each subscriber gets `CANCELLED`) and waits for them to end, then
   * unloads every resident model; each with reason `reset`.
   */
  unloadAll(): Promise<ResetOutcome>;
  /**
   * Calls `listener` with every load's wire events (as its subscribers get them, coalesced, terminal included; not
   * the `cached: true` answers of resident models), every unload and every move of a resident's expiry (the first
   * right after its `ready`). Returns the function that stops it.
   */
  watch(listener: (event: ManagerEvent) => void): () => void;
  /** The resident models and the loads under way, as the feed's snapshot and `GET /v1/models` show them. */
  models(): FeedModel[];
  /** Bytes of the resident models' weights, and the `--max-memory` budget (null: none). */
  memory(): { readonly weights_bytes: number; readonly budget_bytes: number | null };
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
    onIdle: (key, reason) => void unloadResident(key, reason),
    onExpiry: (key) => expiry.moved(key),
    ...(options.pinned === undefined ? {} : { pinned: options.pinned }),
  });
  const claims = createCacheClaims();
  const loads: LoadTable = createLoadTable({
    intervalMs: options.progressIntervalMs ?? 100,
    clock,
    load: (ref, onEvent, signal, loadOptions) => {
      const queued = (queue: LoadQueue): void => onEvent({ type: 'queued', queue });
      return claims.after(ref.id, signal, queued, () =>
        admission.inSlots(ref, signal, queued, () =>
          options.loader.load(ref, onEvent, signal, {
            ...loadOptions,
            admit: (bytes) => budget.admit(ref, bytes, loadOptions?.force === true),
          }),
        ),
      );
    },
    on: (ref, event) => followLoad(parts, ref, event),
  });
  const pulls = createPullTable(
    options,
    clock,
    claims,
    () => admission,
    (event) => watchers.emit(event),
  );
  const admission: Admission<LoadLife> = createAdmission({
    maxModels: options.maxModels ?? 0,
    maxLoads: options.maxLoads ?? 0,
    modelSlotWaitMs: options.modelSlotWaitMs ?? DEFAULT_MODEL_SLOT_WAIT_MS,
    maxWaitingLoads: options.maxWaitingLoads ?? DEFAULT_MAX_WAITING_LOADS,
    residents,
    loads,
    evict: (key) => void unloadResident(key, 'evicted'),
    clock,
  });
  const budget = createMemoryBudget({
    maxBytes: options.maxMemoryBytes ?? 0,
    residents,
    evict: (key) => unloadResident(key, 'evicted'),
  });
  const watchers = createListenerSet<ManagerEvent>((error, event) => options.onInternalError?.(error, event.ref));
  const expiry = createExpiryTeller(residents, clock, (event) => watchers.emit(event));
  const unloaded = (ref: ModelRef, reason: UnloadReason): void => {
    options.onUnload?.(ref, reason);
    watchers.emit({ type: 'unload', ref, reason });
  };
  const unloadResident = async (key: string, reason: UnloadReason): Promise<boolean> => {
    const model = residents.remove(key);
    if (model === undefined) return false;
    expiry.forget(key);
    unloaded(model.ref, reason);
    admission.changed();
    await model.dispose();
    watchers.emit({ type: 'freed', ref: model.ref });
    return true;
  };
  const parts: Parts = {
    residents,
    loads,
    pulls,
    admission,
    budget,
    watchers,
    expiry,
    unloaded,
    unloadResident,
    options,
  };
  const entrance: Entrance = { open: loads.open, refused: (ref, event) => watchers.emit({ type: 'load', ref, event }) };

  return {
    subscribe: (ref, listener, loadOptions) => subscribe(entrance, admission.admit(ref), ref, listener, loadOptions),
    dtypeConflict: (ref, dtype) => admission.dtypeConflict(ref, dtype),
    acquire: (ref) => acquire(entrance, admission.admit(ref), ref),
    resident: (key) => (residents.touch(key) ? residents.get(key) : undefined),
    residentRefs: () => residents.refs(),
    loadingRefs: () => loads.values().map((load) => load.ref),
    pull: (ref, listener, loadOptions) => startPull(pulls, admission.closed, ref, listener, loadOptions),
    pullConflict: (ref, dtype) => pullConflict(pulls.get(ref.key), ref, dtype),
    pullingRefs: () => pulls.values().map((pull) => pull.ref),
    pulls: () => feedPulls(pulls.values()),
    deleteCached: (ref, remove) => deleteCached(parts, claims, ref, remove),
    cachedRefs: () => options.loader.listCached(),
    subscriberCount: () => loads.subscribers(),
    touch: (key, keepMs) => void residents.touch(key, keepMs),
    hold(key, keepMs) {
      const release = residents.hold(key, keepMs);
      // A model whose last reply ended may be evicted for a load waiting its turn.
      return () => {
        release();
        admission.changed();
      };
    },
    unload: (key, reason = 'request') => unloadResident(key, reason),
    cancel(key) {
      const load = loads.get(key)?.cancel() ?? false;
      const pull = pulls.get(key)?.cancel() ?? false;
      return load || pull;
    },
    unloadAll: () => reset(parts),
    watch: (listener) => watchers.add(listener),
    models: () => feedModels(residents, loads.values(), monotonicNow(clock)),
    memory: () => ({ weights_bytes: budget.residentBytes(), budget_bytes: options.maxMemoryBytes || null }),
    async close(beforeUnload) {
      admission.close();
      await Promise.all([loads.abortAll(), pulls.abortAll()]);
      await beforeUnload?.();
      await Promise.all(residents.refs().map((ref) => unloadResident(ref.key, 'shutdown')));
    },
  };
}

/** The units one manager composes, and its two ways of saying that a model left (or never reached) memory. */
interface Parts {
  readonly residents: ResidentTable;
  readonly loads: LoadTable;
  readonly pulls: LoadTable<PulledFiles>;
  readonly admission: Admission<LoadLife>;
  readonly budget: MemoryBudget;
  readonly watchers: ListenerSet<ManagerEvent>;
  readonly expiry: ExpiryTeller;
  /** Tells that `ref` left memory, or that its load ended by a deliberate act, and why. */
  readonly unloaded: (ref: ModelRef, reason: UnloadReason) => void;
  /** Unloads a resident model (false when it was not resident), telling why. */
  readonly unloadResident: (key: string, reason: UnloadReason) => Promise<boolean>;
  readonly options: LoadManagerOptions;
}

/**
 * What a load's events do: its model moves into memory; its events, its end without a model by a deliberate act, and
 * its model's first expiry reach the watchers; then it gives back its model slot. Only then, once its terminal event
 * is out, may a load waiting its turn evict the model it brought.
 */
function followLoad(parts: Parts, ref: ModelRef, event: LoadLifeEvent): void {
  switch (event.type) {
    case 'sent':
      return parts.watchers.emit({ type: 'load', ref, event: event.event });
    case 'returned':
      if (event.resident !== undefined) parts.residents.add(event.resident);
      return;
    case 'settled':
      parts.budget.release(ref.key);
      if (event.unload !== undefined) parts.unloaded(ref, event.unload);
      if (event.phase === 'ready') parts.expiry.moved(ref.key, true);
      return parts.admission.release(ref.key);
    case 'internal-error':
      return parts.options.onInternalError?.(event.error, ref);
    default: {
      const never: never = event;
      throw new Error(`unknown load life event ${JSON.stringify(never)}`);
    }
  }
}

/** {@link LoadManager.unloadAll}: every load under way cancelled (and ended), then every resident model unloaded. */
async function reset({ loads, pulls, residents, unloadResident }: Parts): Promise<ResetOutcome> {
  const cancelled = loads.values().filter((load) => load.cancel('reset'));
  const cancelledPulls = pulls.values().filter((pull) => pull.cancel('reset'));
  await Promise.allSettled([...cancelled, ...cancelledPulls].map((load) => load.model));
  const unloaded = residents.refs();
  await Promise.all(unloaded.map((ref) => unloadResident(ref.key, 'reset')));
  return { unloaded, cancelled: [...cancelled, ...cancelledPulls].map((load) => load.ref) };
}

/**
 * The pulls under way (`POST /pull_model`), one per model, each a load life that lands files rather than a model:
 * it waits for a deletion of its repository, then for a `--max-loads` slot (stage `queued`), runs the loader's pull,
 * and tells the watchers its events as `pull` events. It never enters the resident table, and a pull that ends by a
 * deliberate act (cancelled, reset, shutdown) has only its `error` event: no model left memory.
 */
function createPullTable(
  options: LoadManagerOptions,
  clock: Clock,
  claims: CacheClaims,
  admission: () => Admission<LoadLife>,
  emit: (event: ManagerEvent) => void,
): LoadTable<PulledFiles> {
  return createLoadTable<PulledFiles>({
    verb: 'pulling',
    intervalMs: options.progressIntervalMs ?? 100,
    clock,
    load: (ref, onEvent, signal, loadOptions) => {
      const queued = (queue: LoadQueue): void => onEvent({ type: 'queued', queue });
      return claims.after(ref.id, signal, queued, () =>
        admission().inLoadSlot(ref, signal, queued, async () => {
          const files = await options.loader.pull?.(ref, onEvent, signal, loadOptions);
          if (files === undefined) throw new LoadError('LOAD_FAILED', 'this server has no disk cache to pull into');
          return { ref, ...files, dispose: () => Promise.resolve() };
        }),
      );
    },
    on(ref, event) {
      if (event.type === 'sent') emit({ type: 'pull', ref, event: event.event });
      if (event.type === 'internal-error') options.onInternalError?.(event.error, ref);
    },
  });
}

/** {@link LoadManager.pull}: joins the pull of `ref` under way, or starts one; a closing server starts none. */
function startPull(
  pulls: LoadTable<PulledFiles>,
  closed: boolean,
  ref: ModelRef,
  listener: LoadListener,
  loadOptions: LoadOptions | undefined,
): Subscription {
  const running = pulls.get(ref.key);
  if (running !== undefined) return running.join(listener);
  if (closed) {
    listener(errorEvent(ref, shuttingDownError()));
    return noSubscription;
  }
  const life = pulls.open(ref, loadOptions);
  const subscription = life.join(listener);
  life.start();
  return subscription;
}

/** {@link LoadManager.pullConflict}. */
function pullConflict(
  running: LoadLife<PulledFiles> | undefined,
  ref: ModelRef,
  dtype: readonly string[] | undefined,
): string | undefined {
  if (running === undefined || dtype === undefined) return undefined;
  if (running.dtype !== undefined && running.dtype.join() === dtype.join()) return undefined;
  const its = running.dtype === undefined ? "with the server's dtype choice" : `with dtype ${running.dtype.join(', ')}`;
  return (
    `${ref.key} is being pulled ${its}, not ${dtype.join(', ')}: wait for that pull to end and pull again, ` +
    'or ask without "dtype" to join it'
  );
}

/** {@link LoadManager.deleteCached}: the check that nothing uses the repository and its claim, in one turn. */
function deleteCached<T>(
  { residents, loads, pulls }: Parts,
  claims: CacheClaims,
  ref: ModelRef,
  remove: () => Promise<T>,
): DeleteClaim<T> {
  const ofRepo = (refs: ModelRef[]): ModelRef | undefined => refs.find((other) => other.id === ref.id);
  const resident = ofRepo(residents.refs());
  if (resident !== undefined) return { kind: 'busy', by: resident, state: 'resident' };
  const loading = ofRepo(loads.values().map((load) => load.ref));
  if (loading !== undefined) return { kind: 'busy', by: loading, state: 'loading' };
  const pulling = ofRepo(pulls.values().map((pull) => pull.ref));
  if (pulling !== undefined) return { kind: 'busy', by: pulling, state: 'pulling' };
  return { kind: 'claimed', result: claims.claim(ref.id, ref.key, remove) };
}

/** Tells the watchers when a resident model's expiry moves. */
interface ExpiryTeller {
  /** `key`'s expiry may have moved (`first`: it just became resident, tell it in any case). */
  moved(key: string, first?: boolean): void;
  /** `key` left memory. */
  forget(key: string): void;
}

/**
 * Keeps what the watchers were last told of each resident's expiry, so that a move the wire cannot tell (to and from
 * a pause with no idle timeout: both null) is not sent.
 */
function createExpiryTeller(residents: ResidentTable, clock: Clock, emit: (event: ManagerEvent) => void): ExpiryTeller {
  const told = new Map<string, string | null>();
  return {
    moved(key, first = false) {
      const info = residents.info(key);
      if (info === undefined) return;
      const expiry = expiryFields(info.expiry, monotonicNow(clock));
      if (!first && told.get(key) === expiry.expires_at) return;
      told.set(key, expiry.expires_at);
      emit({ type: 'expiry', ref: info.model.ref, expiry });
    },
    forget: (key) => void told.delete(key),
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
      listener(readyEvent(admitted.model, true));
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
