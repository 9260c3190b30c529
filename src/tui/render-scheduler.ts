/**
 * One throttled render loop: changes mark the screen dirty, and drawing happens at most `maxFps` times a second.
 * The first change after a quiet spell is drawn at once (a key press echoes without waiting for a tick); changes
 * during the cool-down are coalesced into one trailing draw, so the last state is never dropped.
 */

import { systemClock, type Clock, type TimerHandle } from '../common/clock.js';

/** Options of {@link createRenderScheduler}. */
export interface RenderSchedulerOptions {
  /** Draws the current state. */
  readonly draw: () => void;
  /** Most frames per second (default 30). */
  readonly maxFps?: number;
  readonly clock?: Clock;
  /** Also marks the screen dirty this often, in ms, for what changes with time alone (elapsed times, countdowns). */
  readonly tickMs?: number;
}

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
  const interval = 1000 / (options.maxFps ?? 30);
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
    options.draw();
  }

  function invalidate(): void {
    if (disposed) return;
    dirty = true;
    // A key's frame is due at the end of this turn: it draws this change too, once (not a frame now and another then).
    if (timer !== undefined || soon !== undefined) return;
    const wait = lastDraw + interval - clock.now();
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
