/**
 * The table of models resident in memory: which are there, which are working (held by a generation), and when each
 * will be unloaded for idleness (its expiry: one value per model, computed in one place, which the idle timer, the
 * views and the feed all read). It never disposes a model itself: when a model's expiry comes it calls `onIdle`, and
 * the owner unloads it (removing it from here first).
 */

import { monotonicNow, type Clock, type TimerHandle } from '../common/clock.js';
import type { LoadedModel, ModelRef } from './loader-types.js';

/** Options of {@link createResidentTable}. */
export interface ResidentTableOptions {
  /** Milliseconds without use before `onIdle` is called for a model; 0 disables. */
  readonly idleTimeoutMs: number;
  readonly clock: Clock;
  /**
   * Called when a model not held reaches its expiry: `idle` when the server's idle timeout set it, `keep_alive` when
   * a request's own keep-alive did.
   */
  readonly onIdle: (key: string, reason: 'idle' | 'keep_alive') => void;
  /**
   * Called when a model's expiry changed (it was used, began or ended its last generation): not when it is added
   * (its owner announces a new model) nor removed, and not when a use leaves it unchanged (`never`, `paused`).
   */
  readonly onExpiry?: (key: string) => void;
  /** Models (`id@revision`) never unloaded for idleness nor evicted (`serve --pin`). */
  readonly pinned?: ReadonlySet<string>;
}

/**
 * When a resident model will be unloaded for idleness: `never` (no idle timeout), `paused` (it is generating: its
 * timer starts again when its last generation ends), or `at` a time, both on the wall clock (milliseconds since the
 * epoch, for `expires_at`) and on the clock's monotonic time (for the timer and for `expires_in_ms`).
 */
export type Expiry =
  | { readonly kind: 'never' }
  | { readonly kind: 'paused' }
  | { readonly kind: 'at'; readonly at: number; readonly monotonicAt: number };

/** What the table knows of one resident model. */
export interface ResidentInfo {
  readonly model: LoadedModel;
  /** Generations under way. */
  readonly holds: number;
  /** When it was last used, on the clock's monotonic time (milliseconds). */
  readonly lastUsedAt: number;
  /** When it will be unloaded for idleness. */
  readonly expiry: Expiry;
  /** Pinned (`serve --pin`): never unloaded for idleness, never evicted. */
  readonly pinned: boolean;
}

/** The resident models of one server. */
export interface ResidentTable {
  /** Adds a model that has just loaded, used now. */
  add(model: LoadedModel): void;
  /** The resident model, without marking it used. */
  get(key: string): LoadedModel | undefined;
  /**
   * Marks a resident model as used now (restarts its idle timer); false when it is not resident. `keepMs` is the
   * use's own keep-alive ({@link KeepAlive}); absent, the server's idle timeout.
   */
  touch(key: string, keepMs?: KeepAlive): boolean;
  /**
   * Keeps a resident model from going idle while it works; the returned function releases it, and its idle timer
   * starts again from then, for `keepMs` when given. A model that is not resident gets a release that does nothing.
   */
  hold(key: string, keepMs?: KeepAlive): () => void;
  /** Removes a model from the table (its timer with it) and returns it; undefined when it was not resident. */
  remove(key: string): LoadedModel | undefined;
  /** The resident models' refs, in the order they were added. */
  refs(): ModelRef[];
  /** What the table knows of one model. */
  info(key: string): ResidentInfo | undefined;
  readonly size: number;
}

/**
 * A request's own keep-alive, in milliseconds from its end: 0 unloads the model then, `Infinity` never (Ollama's
 * `keep_alive`). Of the keep-alives asked of one model, the longest wins; a use that asks none adds the server's idle
 * timeout to them.
 */
export type KeepAlive = number;

interface Entry {
  readonly model: LoadedModel;
  idleTimer: TimerHandle | undefined;
  holds: number;
  /** On the clock's monotonic time. */
  lastUsedAt: number;
  /** The same moment on the wall clock. */
  lastUsedWall: number;
  /** The server's idle timeout, in milliseconds; 0 or less: for ever. */
  readonly idleMs: number;
  /**
   * The latest end any request's own keep-alive asked for, on the monotonic clock (`Infinity`: for ever); undefined
   * when none asked. The one place a keep-alive goes.
   */
  keptUntil: number | undefined;
  /** Whether the last use asked a keep-alive of its own (then the server's idle timeout does not count). */
  lastAsked: boolean;
  /** `serve --pin`: it never expires. */
  readonly pinned: boolean;
}

/**
 * When a model goes, on the monotonic clock, and what set it: the longest of the keep-alives asked, and the server's
 * idle timeout from the last use unless that use asked its own.
 */
function deadlineOf(entry: Entry): { at: number; by: 'idle' | 'keep_alive' } {
  const idle = entry.lastAsked ? -Infinity : entry.idleMs <= 0 ? Infinity : entry.lastUsedAt + entry.idleMs;
  const kept = entry.keptUntil ?? -Infinity;
  return kept >= idle ? { at: kept, by: 'keep_alive' } : { at: idle, by: 'idle' };
}

/** A model's expiry: the one computation of it. */
function expiryOf(entry: Entry): Expiry {
  if (entry.holds > 0) return { kind: 'paused' };
  const { at } = deadlineOf(entry);
  if (at === Infinity || entry.pinned) return { kind: 'never' };
  return { kind: 'at', at: entry.lastUsedWall + (at - entry.lastUsedAt), monotonicAt: at };
}

function sameExpiry(a: Expiry, b: Expiry): boolean {
  return a.kind === b.kind && (a.kind !== 'at' || (b.kind === 'at' && a.monotonicAt === b.monotonicAt));
}

/** Creates an empty table. */
export function createResidentTable(options: ResidentTableOptions): ResidentTable {
  const { clock, idleTimeoutMs, onIdle } = options;
  const entries = new Map<string, Entry>();
  const arm = (key: string, entry: Entry): void =>
    armIdle(clock, entry, () => {
      if (entries.get(key) === entry) onIdle(key, deadlineOf(entry).by);
    });
  // A use of `entry` (`holds` moved by `by`, `keepMs` asked or not), its timer re-armed for its expiry (none while
  // paused or never), the expiry reported if it moved. A hold asks nothing as it begins: keep-alive counts from its end.
  const use = (key: string, entry: Entry, by = 0, keepMs?: KeepAlive): void => {
    const before = expiryOf(entry);
    entry.holds += by;
    entry.lastUsedAt = monotonicNow(clock);
    entry.lastUsedWall = clock.now();
    if (keepMs !== undefined) {
      entry.keptUntil = Math.max(entry.keptUntil ?? -Infinity, entry.lastUsedAt + keepMs);
      entry.lastAsked = true;
    } else if (by <= 0) {
      entry.lastAsked = false;
    }
    arm(key, entry);
    if (!sameExpiry(before, expiryOf(entry))) options.onExpiry?.(key);
  };

  return {
    add(model) {
      const entry: Entry = {
        model,
        idleTimer: undefined,
        holds: 0,
        lastUsedAt: 0,
        lastUsedWall: 0,
        idleMs: idleTimeoutMs,
        keptUntil: undefined,
        lastAsked: false,
        pinned: options.pinned?.has(model.ref.key) ?? false,
      };
      entries.set(model.ref.key, entry);
      entry.lastUsedAt = monotonicNow(clock);
      entry.lastUsedWall = clock.now();
      arm(model.ref.key, entry);
    },
    get: (key) => entries.get(key)?.model,
    touch(key, keepMs) {
      const entry = entries.get(key);
      if (entry === undefined) return false;
      use(key, entry, 0, keepMs);
      return true;
    },
    hold(key, keepMs) {
      const entry = entries.get(key);
      if (entry === undefined) return () => undefined;
      use(key, entry, +1);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        if (entries.get(key) === entry) use(key, entry, -1, keepMs);
        else entry.holds -= 1;
      };
    },
    remove(key) {
      const entry = entries.get(key);
      if (entry === undefined) return undefined;
      entries.delete(key);
      clearIdle(clock, entry);
      return entry.model;
    },
    refs: () => [...entries.values()].map((entry) => entry.model.ref),
    info(key) {
      const entry = entries.get(key);
      if (entry === undefined) return undefined;
      const { model, holds, lastUsedAt, pinned } = entry;
      return { model, holds, lastUsedAt, expiry: expiryOf(entry), pinned };
    },
    get size() {
      return entries.size;
    },
  };
}

function clearIdle(clock: Clock, entry: Entry): void {
  if (entry.idleTimer !== undefined) clock.clearTimeout(entry.idleTimer);
  entry.idleTimer = undefined;
}

/** Sets `entry`'s idle timer for its expiry (`onDue` then), or none while it is paused or never expires. */
function armIdle(clock: Clock, entry: Entry, onDue: () => void): void {
  clearIdle(clock, entry);
  const expiry = expiryOf(entry);
  if (expiry.kind !== 'at') return;
  const due = (): void => {
    entry.idleTimer = undefined;
    onDue();
  };
  entry.idleTimer = clock.setTimeout(due, Math.max(0, expiry.monotonicAt - monotonicNow(clock)));
}
