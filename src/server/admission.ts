/**
 * Admission: what a request for a model gets, and when its load may run. A resident model is answered at once; a
 * load under way is joined; a new load needs a slot under `--max-models` (`model-slots.ts`: a free one, one made by
 * evicting the least recently used idle model, or a place in line) and then one of the `--max-loads` slots
 * (`load-limiter.ts`). A load that waits for either is told where it stands, as the `queue` of a `queued` event. A
 * model is resident in one dtype at a time, so a request for another is a conflict. Admission never disposes a model
 * or starts a load itself: it evicts through `evict` and answers with what the owner should do.
 */

import type { Clock } from '../common/clock.js';
import type { LoadQueue } from '../protocol/events.js';
import { createLoadLimiter } from './load-limiter.js';
import { LoadError, type LoadedModel, type ModelRef } from './loader-types.js';
import { createModelSlots } from './model-slots.js';
import type { ResidentTable } from './resident-table.js';

/** What admission needs to know of a load under way. */
export interface AdmittedLoad {
  /** The dtype preference the load was started with, if any. */
  readonly dtype: readonly string[] | undefined;
}

/** The loads under way, as admission reads them (by model key). */
export interface AdmittedLoads<Load extends AdmittedLoad> {
  get(key: string): Load | undefined;
}

/** Options of {@link createAdmission}. */
export interface AdmissionOptions<Load extends AdmittedLoad> {
  /** The most models resident at once, loads under way included; 0: no limit (`--max-models`). */
  readonly maxModels: number;
  /** The most loads running at once; 0: no cap (`--max-loads`). */
  readonly maxLoads: number;
  /** How long loads in line for a model slot wait while every slot is held by a generating model, in ms. */
  readonly modelSlotWaitMs: number;
  /** The most loads in line for a model slot at once. */
  readonly maxWaitingLoads: number;
  /** The models in memory (read, and touched when a request is answered from it). */
  readonly residents: ResidentTable;
  /** The loads under way (read only). */
  readonly loads: AdmittedLoads<Load>;
  /** Unloads a resident model to make room for another (the owner's unload, reason `evicted`). */
  readonly evict: (key: string) => void;
  /** The wait bound's timer. */
  readonly clock: Clock;
}

/** What a request for a model gets. */
export type Admitted<Load> =
  /** The model is resident (now marked used). */
  | { readonly kind: 'resident'; readonly model: LoadedModel }
  /** The server is closing: no new loads. */
  | { readonly kind: 'closed' }
  /** A load of the model is under way. */
  | { readonly kind: 'join'; readonly load: Load }
  /** Every model slot is taken and the line for one is full. */
  | { readonly kind: 'refused'; readonly error: LoadError }
  /** A new load may start; it takes its slots in {@link Admission.inSlots}. */
  | { readonly kind: 'start' };

/** The admission of one server. */
export interface Admission<Load extends AdmittedLoad> {
  /** What a request for `ref` gets. */
  admit(ref: ModelRef): Admitted<Load>;
  /**
   * Why a load of `ref` asking for `dtype` cannot be served now, or undefined when it can: a model is resident in one
   * dtype at a time, so a resident model in a dtype the list does not name (a list with `auto` accepts any), or a
   * load under way with another dtype preference, is a conflict. No `dtype` never conflicts.
   */
  dtypeConflict(ref: ModelRef, dtype: readonly string[] | undefined): string | undefined;
  /**
   * Runs a started load's `task` once it holds a model slot (taken synchronously when one is free or can be made by
   * an eviction) and then a load slot, each first come first served. While it waits, `onQueued` hears where it
   * stands, at once and whenever that changes. The model slot stays held after `task` ends, until
   * {@link Admission.release}; the load slot is given back when `task` ends.
   */
  inSlots<T>(
    ref: ModelRef,
    signal: AbortSignal | undefined,
    onQueued: (queue: LoadQueue) => void,
    task: () => Promise<T>,
  ): Promise<T>;
  /**
   * Runs a pull's `task` (`POST /pull_model`: files onto the disk, no memory) once it holds a `--max-loads` slot, in
   * the same line as the loads: a pull takes no model slot, but its download competes with theirs for the link and
   * the disk. While it waits, `onQueued` hears where it stands (reason `load_slot`).
   */
  inLoadSlot<T>(
    ref: ModelRef,
    signal: AbortSignal | undefined,
    onQueued: (queue: LoadQueue) => void,
    task: () => Promise<T>,
  ): Promise<T>;
  /** Whether the server is closing (no new load or pull is admitted). */
  readonly closed: boolean;
  /** The load of `key` has ended and said so (its model, if any, is in the resident table): its slot is free. */
  release(key: string): void;
  /** A model left memory or a reply ended: a load waiting for a model slot may now have one. */
  changed(): void;
  /** Admits no new load from now on: the server is closing. */
  close(): void;
}

/** Creates the admission of one server, open. */
export function createAdmission<Load extends AdmittedLoad>(options: AdmissionOptions<Load>): Admission<Load> {
  const { residents, loads } = options;
  const limiter = createLoadLimiter(options.maxLoads);
  const slots = createModelSlots({
    maxModels: options.maxModels,
    residents,
    evict: options.evict,
    busyWaitMs: options.modelSlotWaitMs,
    maxWaiting: options.maxWaitingLoads,
    clock: options.clock,
  });
  let closed = false;

  const inLoadSlot = <T>(
    ref: ModelRef,
    signal: AbortSignal | undefined,
    onQueued: (queue: LoadQueue) => void,
    task: () => Promise<T>,
  ): Promise<T> =>
    limiter.run(
      ref.key,
      signal,
      ({ position, running }) => onQueued({ position, reason: 'load_slot', running: running.length, held_by: running }),
      task,
    );
  return {
    admit(ref) {
      const model = residents.get(ref.key);
      if (model !== undefined) {
        residents.touch(ref.key);
        return { kind: 'resident', model };
      }
      if (closed) return { kind: 'closed' };
      const load = loads.get(ref.key);
      if (load !== undefined) return { kind: 'join', load };
      const error = slots.refusal(ref);
      return error === undefined ? { kind: 'start' } : { kind: 'refused', error };
    },
    dtypeConflict: (ref, dtype) => dtypeConflict(ref, dtype, options),
    inSlots(ref, signal, onQueued, task) {
      const run = () => inLoadSlot(ref, signal, onQueued, task);
      const waiting = slots.take(ref, signal, ({ position, heldBy }) =>
        onQueued({ position, reason: 'model_slot', held_by: heldBy }),
      );
      // Without a wait, no cap on loads runs the task inside this call, as a loader that reports synchronously needs.
      return waiting === undefined ? run() : waiting.then(run);
    },
    inLoadSlot,
    get closed() {
      return closed;
    },
    release: (key) => slots.release(key),
    changed: () => slots.changed(),
    close() {
      closed = true;
      slots.close();
    },
  };
}

function dtypeConflict<Load extends AdmittedLoad>(
  ref: ModelRef,
  dtype: readonly string[] | undefined,
  { residents, loads }: AdmissionOptions<Load>,
): string | undefined {
  if (dtype === undefined) return undefined;
  const resident = residents.get(ref.key);
  if (resident !== undefined) {
    if (resident.dtype === undefined || dtype.includes('auto') || dtype.includes(resident.dtype)) return undefined;
    return (
      `${ref.key} is loaded in dtype ${resident.dtype}, not ${dtype.join(', ')}: a model is resident in one dtype ` +
      'at a time. Unload it first (POST /unload_model) to load it in another, or ask without "dtype" to use it'
    );
  }
  const joined = loads.get(ref.key);
  if (joined === undefined || sameList(joined.dtype, dtype)) return undefined;
  return (
    `${ref.key} is being loaded ${joined.dtype === undefined ? "with the server's dtype choice" : `with dtype ${joined.dtype.join(', ')}`}, ` +
    `not ${dtype.join(', ')}: wait for it to finish and unload it (POST /unload_model), or ask without "dtype"`
  );
}

function sameList(a: readonly string[] | undefined, b: readonly string[]): boolean {
  return a !== undefined && a.length === b.length && a.every((entry, i) => entry === b[i]);
}
