/**
 * Admission: what a request for a model gets, and when its load may run. A resident model is answered at once; a
 * load under way is joined; a new load needs room under `--max-models` (the least recently used idle model is
 * evicted to make it, or the request is refused with `MODELS_BUSY`) and then one of the `--max-loads` slots. A
 * model is resident in one dtype at a time, so a request for another is a conflict. Admission never disposes a model
 * or starts a load itself: it evicts through `evict` and answers with what the owner should do.
 */

import { createLoadLimiter } from './load-limiter.js';
import { LoadError, type LoadedModel, type ModelRef } from './loader-types.js';
import type { ResidentTable } from './resident-table.js';

/** What admission needs to know of a load under way. */
export interface AdmittedLoad {
  /** The dtype preference the load was started with, if any. */
  readonly dtype: readonly string[] | undefined;
}

/** The loads under way, as admission reads them (by model key). */
export interface AdmittedLoads<Load extends AdmittedLoad> {
  get(key: string): Load | undefined;
  keys(): Iterable<string>;
  readonly size: number;
}

/** Options of {@link createAdmission}. */
export interface AdmissionOptions<Load extends AdmittedLoad> {
  /** The most models resident at once, loads under way included; 0: no limit (`--max-models`). */
  readonly maxModels: number;
  /** The most loads running at once; 0: no cap (`--max-loads`). */
  readonly maxLoads: number;
  /** The models in memory (read, and touched when a request is answered from it). */
  readonly residents: ResidentTable;
  /** The loads under way (read only). */
  readonly loads: AdmittedLoads<Load>;
  /** Unloads a resident model to make room for another (the owner's unload, reason `evicted`). */
  readonly evict: (key: string) => void;
}

/** What a request for a model gets. */
export type Admitted<Load> =
  /** The model is resident (now marked used). */
  | { readonly kind: 'resident'; readonly model: LoadedModel }
  /** The server is closing: no new loads. */
  | { readonly kind: 'closed' }
  /** A load of the model is under way. */
  | { readonly kind: 'join'; readonly load: Load }
  /** No room under `--max-models`, and no model can be evicted to make it. */
  | { readonly kind: 'refused'; readonly error: LoadError }
  /** A new load may start (room was made if needed). */
  | { readonly kind: 'start' };

/** The admission of one server. */
export interface Admission<Load extends AdmittedLoad> {
  /** What a request for `ref` gets; a `start` has already evicted a model if room was needed. */
  admit(ref: ModelRef): Admitted<Load>;
  /**
   * Why a load of `ref` asking for `dtype` cannot be served now, or undefined when it can: a model is resident in one
   * dtype at a time, so a resident model in a dtype the list does not name (a list with `auto` accepts any), or a
   * load under way with another dtype preference, is a conflict. No `dtype` never conflicts.
   */
  dtypeConflict(ref: ModelRef, dtype: readonly string[] | undefined): string | undefined;
  /** Runs a load's `task` in one of the `--max-loads` slots, first come first served (`load-limiter.ts`). */
  inSlot<T>(signal: AbortSignal | undefined, task: () => Promise<T>): Promise<T>;
  /** Admits no new load from now on: the server is closing. */
  close(): void;
}

/** Creates the admission of one server, open. */
export function createAdmission<Load extends AdmittedLoad>(options: AdmissionOptions<Load>): Admission<Load> {
  const { residents, loads } = options;
  const limiter = createLoadLimiter(options.maxLoads);
  let closed = false;

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
      const error = makeRoom(ref, options);
      return error === undefined ? { kind: 'start' } : { kind: 'refused', error };
    },
    dtypeConflict: (ref, dtype) => dtypeConflict(ref, dtype, options),
    inSlot: (signal, task) => limiter.run(signal, task),
    close() {
      closed = true;
    },
  };
}

/**
 * Makes room for one more model under `maxModels`: evicts the least recently used resident model that is not
 * generating, or returns the refusal when every slot is busy.
 */
function makeRoom<Load extends AdmittedLoad>(ref: ModelRef, options: AdmissionOptions<Load>): LoadError | undefined {
  const { maxModels, residents, loads } = options;
  if (maxModels <= 0 || residents.size + loads.size < maxModels) return undefined;
  const victim = leastRecentlyUsedIdle(residents);
  if (victim !== undefined) {
    options.evict(victim);
    return undefined;
  }
  const busy = [
    ...residents.refs().map((r) => `${r.key} (generating ${residents.info(r.key)?.holds ?? 0})`),
    ...[...loads.keys()].map((key) => `${key} (loading)`),
  ];
  return new LoadError(
    'MODELS_BUSY',
    `cannot load ${ref.key}: the server holds its maximum of ${maxModels} model${maxModels === 1 ? '' : 's'} ` +
      `(--max-models) and none can be unloaded: ${busy.join(', ')}; retry when one is idle, or raise --max-models`,
  );
}

/** The key of the resident model used least recently among those not generating; the first added wins a tie. */
function leastRecentlyUsedIdle(residents: ResidentTable): string | undefined {
  let victim: { key: string; lastUsedAt: number } | undefined;
  for (const resident of residents.refs()) {
    const info = residents.info(resident.key);
    if (info === undefined || info.holds > 0) continue;
    if (victim === undefined || info.lastUsedAt < victim.lastUsedAt) {
      victim = { key: resident.key, lastUsedAt: info.lastUsedAt };
    }
  }
  return victim?.key;
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
