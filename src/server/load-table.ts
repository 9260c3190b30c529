/**
 * The loads under way, one per model: a load enters when it is opened and leaves when its loader returns, before
 * its terminal event goes out (so a request that hears it finds the model resident, or starts a new load). It
 * passes every event of every load on to its owner.
 */

import type { Clock } from '../common/clock.js';
import { createLoadLife, type Landed, type LoadLife, type LoadLifeEvent } from './load-life.js';
import type { LoadedModel, LoadOptions, ModelRef } from './loader-types.js';
import type { LoadReport } from './progress-coalescer.js';

/** Options of {@link createLoadTable}. */
export interface LoadTableOptions<M extends Landed = LoadedModel> {
  /** What its loads do, as their messages say it (`loading` by default; `pulling` for the table of pulls). */
  readonly verb?: 'loading' | 'pulling';
  /** Minimum spacing of progress events within a stage, in milliseconds (each load's coalescer). */
  readonly intervalMs: number;
  readonly clock: Clock;
  /** Runs the loader of one load. */
  readonly load: (
    ref: ModelRef,
    onEvent: (event: LoadReport) => void,
    signal: AbortSignal,
    options: LoadOptions | undefined,
  ) => Promise<M>;
  /** Receives every event of every load; a `returned` load has left the table already. */
  readonly on: (ref: ModelRef, event: LoadLifeEvent<M>) => void;
}

/** The loads under way of one server. */
export interface LoadTable<M extends Landed = LoadedModel> {
  /** Opens a load of `ref` (none may be under way); it runs once {@link LoadLife.start} is called. */
  open(ref: ModelRef, options?: LoadOptions): LoadLife<M>;
  /** The load of a model under way, if any. */
  get(key: string): LoadLife<M> | undefined;
  /** The keys of the models being loaded, in the order their loads were opened. */
  keys(): IterableIterator<string>;
  /** The loads under way, in the order they were opened. */
  values(): LoadLife<M>[];
  readonly size: number;
  /** Subscribers attached to the loads under way. */
  subscribers(): number;
  /** Aborts every load under way (the server is closing) and resolves once each has ended, however it ended. */
  abortAll(): Promise<void>;
}

/** Creates an empty table. */
export function createLoadTable<M extends Landed = LoadedModel>(options: LoadTableOptions<M>): LoadTable<M> {
  const loads = new Map<string, LoadLife<M>>();
  return {
    open(ref, loadOptions) {
      const life = createLoadLife<M>({
        ref,
        ...(options.verb === undefined ? {} : { verb: options.verb }),
        dtype: loadOptions?.dtype,
        intervalMs: options.intervalMs,
        clock: options.clock,
        load: (onEvent, signal) => options.load(ref, onEvent, signal, loadOptions),
        on: (event) => {
          if (event.type === 'returned') loads.delete(ref.key);
          options.on(ref, event);
        },
      });
      loads.set(ref.key, life);
      return life;
    },
    get: (key) => loads.get(key),
    keys: () => loads.keys(),
    values: () => [...loads.values()],
    get size() {
      return loads.size;
    },
    subscribers: () => [...loads.values()].reduce((n, load) => n + load.subscribers, 0),
    async abortAll() {
      for (const load of loads.values()) load.abort();
      await Promise.allSettled([...loads.values()].map((load) => load.model));
    },
  };
}
