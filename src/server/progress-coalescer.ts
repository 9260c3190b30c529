/**
 * The per-load progress coalescer: turns one load's loader events into the wire's `loading` events at a bounded
 * rate. The first event of a stage, its completion, stage changes and anything after a quiet interval go out at once;
 * progress in between is coalesced into its latest value and sent when the interval has passed. Before its loader
 * runs, a load that waits its turn is reported as stage `queued`: each new place in line goes out at once (a place
 * changes only when a load ahead of it starts or leaves), the same place never twice.
 */

import { monotonicNow, type Clock, type TimerHandle } from '../common/clock.js';
import { QUEUED_STAGE, type LoadingEvent, type LoadQueue } from '../protocol/events.js';
import type { LoaderEvent, LoadStage } from './loader-types.js';

/** What a load reports: its loader's events, and, before its loader runs, where it waits (admission's). */
export type LoadReport = LoaderEvent | { readonly type: 'queued'; readonly queue: LoadQueue };

/** Options of {@link createProgressCoalescer}. */
export interface ProgressCoalescerOptions {
  /** The normalised `id@revision` the events name. */
  readonly model: string;
  /** Minimum spacing of progress events within a stage, in milliseconds (stage changes are never delayed). */
  readonly intervalMs: number;
  readonly clock: Clock;
  /** Receives each wire event, in order. */
  readonly emit: (event: LoadingEvent) => void;
}

/** One load's coalescer. */
export interface ProgressCoalescer {
  /** Feeds one report. */
  push(event: LoadReport): void;
  /** Sends the coalesced progress now, if any is held (before a terminal event). */
  flush(): void;
  /** Drops held progress and its timer; nothing is emitted afterwards. Idempotent. */
  stop(): void;
  /** The latest event emitted: what a late joiner is shown first. */
  readonly last: LoadingEvent | undefined;
}

/** Stages whose wire events carry `progress`; their stage event waits for the first progress so it has a total. */
const progressStages: ReadonlySet<LoadStage> = new Set(['download', 'weights']);

/** Creates the coalescer of one load. */
export function createProgressCoalescer(options: ProgressCoalescerOptions): ProgressCoalescer {
  const { model, intervalMs, clock, emit } = options;
  let last: LoadingEvent | undefined;
  /** A stage that began but whose first progress (which carries its total) has not arrived yet. */
  let heldStage: LoadStage | undefined;
  let pending: LoadingEvent | undefined;
  let timer: TimerHandle | undefined;
  let lastProgressAt = Number.NEGATIVE_INFINITY;
  let stopped = false;

  const send = (event: LoadingEvent): void => {
    last = event;
    emit(event);
  };

  const clearTimer = (): void => {
    if (timer !== undefined) clock.clearTimeout(timer);
    timer = undefined;
  };

  const flush = (): void => {
    clearTimer();
    const held = pending;
    if (held === undefined || stopped) return;
    pending = undefined;
    lastProgressAt = monotonicNow(clock);
    send(held);
  };

  const push = (event: LoadReport): void => {
    if (stopped) return;
    switch (event.type) {
      case 'queued':
        if (!waitsAlike(last, event.queue)) send(queuedEvent(model, event.queue));
        return;
      case 'stage': {
        flush();
        heldStage = undefined;
        if (progressStages.has(event.stage)) heldStage = event.stage;
        else send({ status: 'loading', model, stage: event.stage });
        return;
      }
      case 'progress': {
        const wire = progressEvent(model, event);
        const first = heldStage === event.stage;
        heldStage = undefined;
        const now = monotonicNow(clock);
        if (first || event.current >= event.total || now - lastProgressAt >= intervalMs) {
          pending = undefined;
          clearTimer();
          lastProgressAt = now;
          send(wire);
          return;
        }
        pending = wire;
        // flush() forgets the timer, and clearing one that has fired is a no-op (Clock.clearTimeout).
        timer ??= clock.setTimeout(flush, Math.max(0, intervalMs - (now - lastProgressAt)));
        return;
      }
      default: {
        const never: never = event;
        throw new Error(`unknown loader event ${JSON.stringify(never)}`);
      }
    }
  };

  return {
    push,
    flush,
    stop() {
      stopped = true;
      pending = undefined;
      clearTimer();
    },
    get last() {
      return last;
    },
  };
}

function queuedEvent(model: string, queue: LoadQueue): LoadingEvent {
  return { status: 'loading', model, stage: QUEUED_STAGE, queue };
}

/** Whether `last` already told this place in line (a place is sent once). */
function waitsAlike(last: LoadingEvent | undefined, queue: LoadQueue): boolean {
  const told = last?.stage === QUEUED_STAGE ? last.queue : undefined;
  return (
    told !== undefined &&
    told.position === queue.position &&
    told.reason === queue.reason &&
    told.running === queue.running &&
    (told.held_by ?? []).join('\n') === (queue.held_by ?? []).join('\n')
  );
}

/** The wire's `loading` event of one progress report. */
function progressEvent(model: string, event: Extract<LoaderEvent, { type: 'progress' }>): LoadingEvent {
  return { status: 'loading', model, stage: event.stage, progress: { current: event.current, total: event.total } };
}
