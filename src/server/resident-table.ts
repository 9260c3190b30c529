/**
 * The table of models resident in memory: which are there, which are working (held by a generation), and the idle
 * timer of each. It never disposes a model itself: when a model has been idle too long it calls `onIdle`, and the
 * owner unloads it (removing it from here first).
 */

import { monotonicNow, type Clock, type TimerHandle } from '../common/clock.js';
import type { LoadedModel, ModelRef } from './loader-types.js';

/** Options of {@link createResidentTable}. */
export interface ResidentTableOptions {
  /** Milliseconds without use before `onIdle` is called for a model; 0 disables. */
  readonly idleTimeoutMs: number;
  readonly clock: Clock;
  /** Called when a model not held has gone unused for the idle timeout. */
  readonly onIdle: (key: string) => void;
}

/** What the table knows of one resident model. */
export interface ResidentInfo {
  readonly model: LoadedModel;
  /** Generations under way. */
  readonly holds: number;
  /** When it was last used, on the clock's monotonic time (milliseconds). */
  readonly lastUsedAt: number;
}

/** The resident models of one server. */
export interface ResidentTable {
  /** Adds a model that has just loaded, used now. */
  add(model: LoadedModel): void;
  /** The resident model, without marking it used. */
  get(key: string): LoadedModel | undefined;
  /** Marks a resident model as used now (restarts its idle timer); false when it is not resident. */
  touch(key: string): boolean;
  /**
   * Keeps a resident model from going idle while it works; the returned function releases it, and its idle timer
   * starts again from then. A model that is not resident gets a release that does nothing.
   */
  hold(key: string): () => void;
  /** Removes a model from the table (its timer with it) and returns it; undefined when it was not resident. */
  remove(key: string): LoadedModel | undefined;
  /** The resident models' refs, in the order they were added. */
  refs(): ModelRef[];
  /** What the table knows of one model. */
  info(key: string): ResidentInfo | undefined;
  readonly size: number;
}

interface Entry {
  readonly model: LoadedModel;
  idleTimer: TimerHandle | undefined;
  holds: number;
  lastUsedAt: number;
}

/** Creates an empty table. */
export function createResidentTable(options: ResidentTableOptions): ResidentTable {
  const { clock, idleTimeoutMs, onIdle } = options;
  const entries = new Map<string, Entry>();

  const clearIdle = (entry: Entry): void => {
    if (entry.idleTimer !== undefined) clock.clearTimeout(entry.idleTimer);
    entry.idleTimer = undefined;
  };

  const use = (key: string, entry: Entry): void => {
    entry.lastUsedAt = monotonicNow(clock);
    clearIdle(entry);
    if (idleTimeoutMs <= 0 || entry.holds > 0) return;
    entry.idleTimer = clock.setTimeout(() => {
      entry.idleTimer = undefined;
      if (entries.get(key) === entry) onIdle(key);
    }, idleTimeoutMs);
  };

  return {
    add(model) {
      const entry: Entry = { model, idleTimer: undefined, holds: 0, lastUsedAt: 0 };
      entries.set(model.ref.key, entry);
      use(model.ref.key, entry);
    },
    get: (key) => entries.get(key)?.model,
    touch(key) {
      const entry = entries.get(key);
      if (entry === undefined) return false;
      use(key, entry);
      return true;
    },
    hold(key) {
      const entry = entries.get(key);
      if (entry === undefined) return () => undefined;
      entry.holds += 1;
      use(key, entry);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        entry.holds -= 1;
        if (entries.get(key) === entry) use(key, entry);
      };
    },
    remove(key) {
      const entry = entries.get(key);
      if (entry === undefined) return undefined;
      entries.delete(key);
      clearIdle(entry);
      return entry.model;
    },
    refs: () => [...entries.values()].map((entry) => entry.model.ref),
    info(key) {
      const entry = entries.get(key);
      return entry === undefined ? undefined : { model: entry.model, holds: entry.holds, lastUsedAt: entry.lastUsedAt };
    },
    get size() {
      return entries.size;
    },
  };
}
