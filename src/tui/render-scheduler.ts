/**
 * One throttled render loop: changes mark the screen dirty, and drawing happens at most `maxFps` times a second.
 * The first change after a quiet spell is drawn at once (a key press echoes without waiting for a tick); changes
 * during the cool-down are coalesced into one trailing draw, so the last state is never dropped.
 *
 * Frames have a budget too: when a frame costs more than `frameShare` of the interval (a hundred sessions all
 * streaming), the frames nothing urgent asked for are spaced so that drawing takes at most that share of a core
 * (a frame of 4 ms of CPU at a twelfth: one every 48 ms, 21 a second), but never fewer than `minFps` a second while
 * things change. A key's frame is still drawn at once.
 */

import { systemClock, type Clock, type TimerHandle } from '../common/clock.js';

/** Options of {@link createRenderScheduler}. */
export interface RenderSchedulerOptions {
  /** Draws the current state. */
  readonly draw: () => void;
  /** Most frames per second (default 30). */
  readonly maxFps?: number;
  /** Fewest frames per second while things change, whatever they cost (default 15). */
  readonly minFps?: number;
  readonly clock?: Clock;
  /** Also marks the screen dirty this often, in ms, for what changes with time alone (elapsed times, countdowns). */
  readonly tickMs?: number;
  /**
   * Most of a core the frames drawn for changes alone may take (default 1/12): a frame's cost, in CPU time smoothed
   * over the last few, divided by this is the least time between two of them.
   */
  readonly frameShare?: number;
  /** CPU ms the process has used so far: a frame's cost is its difference (default `process.cpuUsage()`). */
  readonly cpuMs?: () => number;
}

function processCpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/** How much of a new frame's cost moves the smoothed cost: the last few frames count, one slow frame does not. */
const COST_WEIGHT = 0.25;

/** The loop's controls. */
export interface RenderScheduler {
  /** Marks the screen dirty: draws now if the last frame is old enough, else once the interval has passed. */
  invalidate(): void;
  /**
   * Marks the screen dirty and draws it as soon as the current turn of the event loop ends, past the frame interval:
   * for a key press, whose echo must not wait behind a stream's frames. The keys of one turn (a paste) share a frame.
   */
  urgent(): void;
  /** Draws now if dirty (used before reading the screen, and on shutdown). */
  flush(): void;
  /** Cancels the pending draw and the tick; later calls do nothing. */
  dispose(): void;
  /** Frames drawn so far. */
  frames(): number;
}

/** Creates a render loop. */
export function createRenderScheduler(options: RenderSchedulerOptions): RenderScheduler {
  const clock = options.clock ?? systemClock;
  const minInterval = 1000 / (options.maxFps ?? 30);
  const maxInterval = Math.max(minInterval, 1000 / (options.minFps ?? 15));
  const frameShare = options.frameShare ?? 1 / 12;
  const cpuMs = options.cpuMs ?? processCpuMs;
  /** A frame's cost, ms: smoothed over the last few. */
  let cost = 0;
  let lastDraw = -Infinity;
  let dirty = false;
  let timer: TimerHandle | undefined;
  let disposed = false;
  let frames = 0;
  let tick: TimerHandle | undefined;
  let soon: TimerHandle | undefined;

  function draw(): void {
    if (timer !== undefined) clock.clearTimeout(timer);
    timer = undefined;
    if (soon !== undefined) clock.clearTimeout(soon);
    soon = undefined;
    if (!dirty || disposed) return;
    dirty = false;
    lastDraw = clock.now();
    frames++;
    const before = cpuMs();
    options.draw();
    cost += (Math.max(0, cpuMs() - before) - cost) * COST_WEIGHT;
  }

  /** The least time between two frames drawn for changes alone: the rate's, or longer when frames cost more. */
  function interval(): number {
    return Math.min(maxInterval, Math.max(minInterval, cost / frameShare));
  }

  function invalidate(): void {
    if (disposed) return;
    dirty = true;
    // A key's frame is due at the end of this turn: it draws this change too, once (not a frame now and another then).
    if (timer !== undefined || soon !== undefined) return;
    const wait = lastDraw + interval() - clock.now();
    if (wait <= 0) draw();
    else timer = clock.setTimeout(draw, wait);
  }

  function scheduleTick(ms: number): void {
    tick = clock.setTimeout(() => {
      if (disposed) return;
      invalidate();
      scheduleTick(ms);
    }, ms);
  }
  if (options.tickMs !== undefined) scheduleTick(options.tickMs);

  return {
    invalidate,
    urgent() {
      if (disposed) return;
      dirty = true;
      soon ??= clock.setTimeout(draw, 0);
    },
    flush: draw,
    dispose() {
      disposed = true;
      if (timer !== undefined) clock.clearTimeout(timer);
      timer = undefined;
      if (soon !== undefined) clock.clearTimeout(soon);
      soon = undefined;
      if (tick !== undefined) clock.clearTimeout(tick);
    },
    frames: () => frames,
  };
}
