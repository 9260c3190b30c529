/**
 * The dashboard: the terminal around its runtime (`dashboard-runtime.ts`, the one model and the units that feed it and
 * act for it): the screen (`render.ts`), the render loop, key presses and `shutdown()`, the only way out, which always
 * restores the terminal.
 */

import type { JournalEntry } from '../client/wire-journal.js';
import { systemClock } from '../common/clock.js';
import type { SessionSpec } from './config.js';
import { sessionStates } from './dashboard-model.js';
import { createRuntime, type DashboardOptions } from './dashboard-runtime.js';
import type { LogEntry } from './event-log.js';
import type { KeyPress, UiState } from './keys.js';
import { createRenderer } from './render.js';
import { createRenderScheduler } from './render-scheduler.js';
import type { ReplaySource } from './replay-log.js';
import type { SessionState } from './session-state.js';
import { keyWorld, toViewModel, type DashboardView, type Tone, type ViewInput } from './view-model.js';

export type { DashboardOptions } from './dashboard-runtime.js';

/** A running dashboard. */
export interface Dashboard {
  /** Opens a session and starts loading; returns its id (`s1`, `s2`, …; its tag too, unless the spec names it). */
  addSession(spec: SessionSpec): string;
  /** Shows a message in the status bar until the next key press (or the next notice). */
  setNotice(text: string, tone?: Tone): void;
  /** Changes the server the add-session prompt offers. */
  setDefaultServer(url: string): void;
  /** Resolves once the dashboard has shut down (the user quit, or {@link Dashboard.shutdown} was called). */
  readonly closed: Promise<void>;
  /** Aborts every session, stops the loops and restores the terminal. Idempotent; never throws. */
  shutdown(): void;
  /** The sessions' states, in screen order. */
  sessions(): readonly SessionState[];
  /** The keyboard state. */
  ui(): UiState;
  /** Feeds one key as if typed (the same path as the terminal's keys). */
  press(key: KeyPress): void;
  /** Draws any pending change, then returns the screen's text. */
  screenText(): string;
  /** The event log's entries, oldest first. */
  logEntries(): LogEntry[];
  /** The wire journal's entries (every stream's frames and life, as the tap saw them), oldest first. */
  journalEntries(): readonly JournalEntry[];
  /** The replay being played (with the `replay` option), else undefined. */
  readonly replay: ReplaySource | undefined;
  /** What the quit dialog's Save & quit saved (one line each), to say once the terminal is restored. */
  farewell(): readonly string[];
}

/**
 * The last frame's view when it shows the screen `input` would (the same keyboard state, size and sessions: only what
 * the servers said since differs, which moves a scroll limit by a frame's lines at most), else undefined.
 */
function sameScreen(
  shown: { input: ViewInput; view: DashboardView } | undefined,
  input: ViewInput,
): DashboardView | undefined {
  if (shown === undefined) return undefined;
  const before = shown.input;
  const same =
    before.ui === input.ui &&
    before.size.cols === input.size.cols &&
    before.size.rows === input.size.rows &&
    before.sessions.length === input.sessions.length &&
    before.sessions.every((s, i) => s.id === input.sessions[i]?.id);
  return same ? shown.view : undefined;
}

/** Opens the full-screen dashboard. Throws when the output is not a terminal. */
export function startDashboard(options: DashboardOptions = {}): Dashboard {
  const clock = options.clock ?? systemClock;
  let resolveClosed: () => void = () => {};
  const closed = new Promise<void>((res) => (resolveClosed = res));
  const renderer = createRenderer(options);
  // The last frame's view and what it was made from: a key press reads its page sizes and scroll limits from it
  // rather than building a whole view of its own (a frame's cost again, at a hundred sessions, before the echo).
  let shown: { input: ViewInput; view: DashboardView } | undefined;
  const scheduler = createRenderScheduler({
    draw: () => {
      const input = runtime.viewInput();
      const view = toViewModel(input);
      shown = { input, view };
      renderer.draw(view);
    },
    clock,
    ...(options.maxFps !== undefined ? { maxFps: options.maxFps } : {}),
    // Elapsed times, ETAs and reconnect countdowns change with time alone: redrawn twice a second.
    tickMs: 500,
  });
  const runtime = createRuntime(options, clock, {
    invalidate: () => scheduler.invalidate(),
    size: () => renderer.size(),
    quit: stop,
  });
  const { dispatch, recorder } = runtime;

  function press(key: KeyPress): void {
    // Urgent first: the key's own change then waits for the end of the turn with the rest, not drawn at once.
    scheduler.urgent();
    const input = runtime.viewInput();
    dispatch({ type: 'key', key, world: keyWorld(input, runtime.now(), sameScreen(shown, input)) });
    // Drawn as soon as the key handlers of this turn have run (the keys of one read, a paste, share it), not behind
    // the streams' socket reads queued for the next turn of the event loop: at a hundred sessions those held a key's
    // echo for a frame or more. The scheduler's own end-of-turn frame then finds nothing left to draw.
    queueMicrotask(scheduler.flush);
  }

  // Runs once, when the model has closed: the I/O side of quitting.
  let stopped = false;
  function stop(): void {
    if (stopped) return;
    stopped = true;
    runtime.close();
    scheduler.dispose();
    try {
      renderer.destroy();
    } finally {
      resolveClosed();
    }
  }

  function shutdown(): void {
    dispatch({ type: 'shutdown' });
    stop();
  }

  renderer.onKey(press);
  renderer.onResize(() => scheduler.invalidate());
  runtime.start();
  scheduler.invalidate();

  return {
    addSession: runtime.addSession,
    setNotice: runtime.notice,
    setDefaultServer(url) {
      dispatch({ type: 'default-server', url });
    },
    closed,
    shutdown,
    sessions: (): readonly SessionState[] => sessionStates(runtime.model()),
    ui: (): UiState => runtime.model().ui,
    press,
    screenText() {
      scheduler.flush();
      return renderer.text();
    },
    logEntries: (): LogEntry[] => recorder.log.toArray(),
    journalEntries: (): readonly JournalEntry[] => recorder.journal(),
    replay: runtime.replay,
    farewell: () => runtime.farewell,
  };
}
