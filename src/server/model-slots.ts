/**
 * The slots of `--max-models`: at most N models in memory, loads under way included. A load takes a slot before it
 * runs: a free one, or one it makes by evicting the least recently used resident model that is not generating. When
 * every slot is held by a model that is loading or generating, the load waits its turn in a line, first come first
 * served, told where it stands (its subscribers get a `queued` event), instead of failing: the line moves whenever a
 * slot frees (a load ends without a model, a model is unloaded) or a resident model can be evicted (a load became
 * ready, a reply ended). The line is bounded twice: at most `maxWaiting` loads wait (one more is refused at once), and
 * when every slot has been held by a model generating replies for `busyWaitMs` (no load under way, no model idle,
 * nothing that will free a slot by itself) the loads in line fail with `MODELS_BUSY`, naming what holds the slots.
 */

import type { Clock, TimerHandle } from '../common/clock.js';
import { abortReason } from './load-limiter.js';
import { LoadError, type ModelRef } from './loader-types.js';
import type { ResidentTable } from './resident-table.js';

/** How long loads wait while every model slot is held by a model generating replies (as `/unload_model` waits). */
export const DEFAULT_MODEL_SLOT_WAIT_MS = 10_000;

/** The most loads waiting for a model slot at once; one more is refused with `MODELS_BUSY`. */
export const DEFAULT_MAX_WAITING_LOADS = 32;

/** Options of {@link createModelSlots}. */
export interface ModelSlotsOptions {
  /** The most models in memory at once, loads under way included; 0: no limit. */
  readonly maxModels: number;
  /** The models in memory (read only: evictions go through `evict`). */
  readonly residents: ResidentTable;
  /** Unloads a resident model to make room (the owner's unload, reason `evicted`); it leaves the table at once. */
  readonly evict: (key: string) => void;
  /** How long the line waits while every slot is held by a generating model, in milliseconds. */
  readonly busyWaitMs: number;
  /** The most loads waiting at once. */
  readonly maxWaiting: number;
  readonly clock: Clock;
}

/** Where a load waiting for a model slot stands. */
export interface ModelSlotPlace {
  /** 1 is next. */
  readonly position: number;
  /** The models holding the slots: those in memory (in the order they arrived), then the loads under way. */
  readonly heldBy: readonly string[];
}

/** The model slots of one server. */
export interface ModelSlots {
  /** The refusal a new load of `ref` gets now because the line is full, or undefined. Evicts nothing. */
  refusal(ref: ModelRef): LoadError | undefined;
  /**
   * Takes a slot for a load of `ref`: at once when one is free or can be made (evicting a model), returning
   * undefined; else in line, returning a promise of the slot, while `onWait` hears its place at once, synchronously,
   * and whenever it changes. The promise rejects when `signal` fires while it waits (with the signal's reason when it
   * is a {@link LoadError}, else `ABORTED`), or with `MODELS_BUSY` (see the file's doc). The slot is held until
   * {@link ModelSlots.release}.
   */
  take(
    ref: ModelRef,
    signal: AbortSignal | undefined,
    onWait: (place: ModelSlotPlace) => void,
  ): Promise<void> | undefined;
  /** The load of `key` has ended: its model is resident now (added to the table before this call), or there is none. */
  release(key: string): void;
  /** Something that may free a slot happened (a model left memory, a reply ended): the line moves if it can. */
  changed(): void;
  /** Stops the wait bound's timer (the server is closing; its loads are aborted). */
  close(): void;
}

/** Creates the slots, all free. */
export function createModelSlots(options: ModelSlotsOptions): ModelSlots {
  const { maxModels, residents, clock } = options;
  const holding = new Set<string>();
  const heldBy = (): string[] => [...residents.refs().map((ref) => ref.key), ...holding];
  const line = createLine(heldBy, () => watchBusy());
  let busyTimer: TimerHandle | undefined;

  const free = (): boolean => maxModels <= 0 || residents.size + holding.size < maxModels;
  /** Room for one more: a free slot, or one made by evicting the least recently used idle model. */
  const makeRoom = (): boolean => {
    if (free()) return true;
    const victim = leastRecentlyUsedIdle(residents);
    if (victim === undefined) return false;
    options.evict(victim);
    return free();
  };
  /** Nothing will free a slot by itself: no load under way holds one, and every model in memory is generating. */
  const stuck = (): boolean => holding.size === 0 && leastRecentlyUsedIdle(residents) === undefined;
  const watchBusy = (): void => {
    if (line.length > 0 && stuck()) {
      busyTimer ??= clock.setTimeout(giveUp, options.busyWaitMs);
    } else if (busyTimer !== undefined) {
      clock.clearTimeout(busyTimer);
      busyTimer = undefined;
    }
  };
  // The bound passed with every slot still held by generating models: every load in line is refused.
  const giveUp = (): void => {
    busyTimer = undefined;
    pump();
    if (line.length > 0 && stuck()) line.failAll((ref) => busyError(ref, options));
    watchBusy();
  };
  // Moves the line as far as it goes. An eviction unloads a model, which calls changed() and so this again: that
  // nested call only asks for another round.
  const pump = rerunnable(() => {
    while (line.length > 0 && makeRoom()) {
      const next = line.next();
      if (next !== undefined) holding.add(next.key);
    }
    line.tell();
    watchBusy();
  });

  return {
    refusal(ref) {
      const wouldWait = line.length > 0 || (!free() && leastRecentlyUsedIdle(residents) === undefined);
      if (!wouldWait || line.length < options.maxWaiting) return undefined;
      return lineFullError(ref, line.length, options);
    },
    take(ref, signal, onWait) {
      if (signal?.aborted) return Promise.reject(abortReason(signal));
      if (line.length === 0 && makeRoom()) {
        holding.add(ref.key);
        return undefined;
      }
      const waiting = line.join(ref, signal, onWait);
      watchBusy();
      return waiting;
    },
    release(key) {
      holding.delete(key);
      pump();
    },
    changed: () => pump(),
    close() {
      if (busyTimer !== undefined) clock.clearTimeout(busyTimer);
      busyTimer = undefined;
    },
  };
}

/** `round`, run to its end, and again as long as a call made during it asked for another. */
function rerunnable(round: () => void): () => void {
  let running = false;
  let again = false;
  return () => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      do {
        again = false;
        round();
      } while (again);
    } finally {
      running = false;
    }
  };
}

/** The loads waiting for a slot, first come first served, each told its place. */
interface Line {
  readonly length: number;
  /**
   * Puts a load at the end of the line and tells it its place; resolves once {@link Line.next} lets it go. A load
   * whose `signal` fires leaves (rejected with the signal's reason, the others told their new places, `onLeave`).
   */
  join(ref: ModelRef, signal: AbortSignal | undefined, onWait: (place: ModelSlotPlace) => void): Promise<void>;
  /** Lets the first load go, and returns its key. */
  next(): { readonly key: string } | undefined;
  /** Tells every load its place and what holds the slots now (a load's life drops a place it was told already). */
  tell(): void;
  /** Refuses every load in line. */
  failAll(error: (ref: ModelRef) => LoadError): void;
}

interface Waiter {
  readonly ref: ModelRef;
  readonly onWait: (place: ModelSlotPlace) => void;
  grant(): void;
  fail(error: LoadError): void;
}

function createLine(heldBy: () => readonly string[], onLeave: () => void): Line {
  const waiters: Waiter[] = [];
  const tell = (): void => {
    const holders = heldBy();
    waiters.forEach((waiter, i) => waiter.onWait({ position: i + 1, heldBy: holders }));
  };
  return {
    get length() {
      return waiters.length;
    },
    join: (ref, signal, onWait) =>
      new Promise<void>((resolve, reject) => {
        const leave = (): void => {
          const i = waiters.indexOf(waiter);
          if (i >= 0) waiters.splice(i, 1);
          reject(abortReason(signal));
          tell();
          onLeave();
        };
        const waiter: Waiter = {
          ref,
          onWait,
          grant() {
            signal?.removeEventListener('abort', leave);
            resolve();
          },
          fail(error) {
            signal?.removeEventListener('abort', leave);
            reject(error);
          },
        };
        signal?.addEventListener('abort', leave, { once: true });
        waiters.push(waiter);
        onWait({ position: waiters.length, heldBy: heldBy() });
      }),
    next() {
      const waiter = waiters.shift();
      waiter?.grant();
      return waiter === undefined ? undefined : { key: waiter.ref.key };
    },
    tell,
    failAll(error) {
      for (const waiter of waiters.splice(0)) waiter.fail(error(waiter.ref));
    },
  };
}

/**
 * The key of the resident model used least recently among those not generating and not pinned (`serve --pin`); the
 * first added wins a tie.
 */
function leastRecentlyUsedIdle(residents: ResidentTable): string | undefined {
  let victim: { key: string; lastUsedAt: number } | undefined;
  for (const resident of residents.refs()) {
    const info = residents.info(resident.key);
    if (info === undefined || info.holds > 0 || info.pinned) continue;
    if (victim === undefined || info.lastUsedAt < victim.lastUsedAt) {
      victim = { key: resident.key, lastUsedAt: info.lastUsedAt };
    }
  }
  return victim?.key;
}

function modelsCap(maxModels: number): string {
  return `the server holds its maximum of ${maxModels} model${maxModels === 1 ? '' : 's'} (--max-models)`;
}

/** Advice for whoever asked, in the server's own terms (a client adds its own). */
const ADVICE = 'unload a model (POST /unload_model), raise --max-models, or retry later';

function lineFullError(ref: ModelRef, waiting: number, options: ModelSlotsOptions): LoadError {
  return new LoadError(
    'MODELS_BUSY',
    `cannot load ${ref.key}: ${modelsCap(options.maxModels)} and ${waiting} loads already wait for room, the ` +
      `most that may: ${ADVICE}`,
  );
}

function busyError(ref: ModelRef, options: ModelSlotsOptions): LoadError {
  const { residents } = options;
  const busy = residents.refs().map((r) => {
    const info = residents.info(r.key);
    const replies = info?.holds ?? 0;
    if (info?.pinned === true && replies === 0) return `${r.key} (pinned: serve --pin)`;
    return `${r.key} (${replies} ${replies === 1 ? 'reply' : 'replies'})`;
  });
  return new LoadError(
    'MODELS_BUSY',
    `cannot load ${ref.key}: ${modelsCap(options.maxModels)} and each was generating replies for the last ` +
      `${options.busyWaitMs / 1000} s${busy.some((b) => b.includes('(pinned')) ? ' or is pinned' : ''}: ` +
      `${busy.join(', ')}; ${ADVICE}`,
  );
}
