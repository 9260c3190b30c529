/**
 * The dashboard without its terminal (`dashboard.ts` is the terminal around it): the one model, which changes only
 * through `updateDashboard` (`dashboard-model.ts`) — keys, what the sessions and servers report and the runtime's own
 * calls all arrive as actions through `dispatch`, and the effects the update returns go to the effect runner
 * (`effect-runner.ts`), whose results come back as actions. Beside the model, the recorder (`recorder.ts`) is the one
 * other store (the event log, the wire journal, what a save writes), filled through its one `record`. What feeds them
 * is the sockets (`connections.ts`), or in a replay the player (`replay-player.ts`), through the same paths.
 */

import { DEFAULT_SERVER_URL } from '../client/server-url.js';
import type { BackoffOptions } from '../client/reconnect.js';
import type { SessionUpdate } from '../client/session-update.js';
import type { Clock } from '../common/clock.js';
import type { KeyOrigin, SessionSpec } from './config.js';
import {
  createDashboardModel,
  updateDashboard,
  viewInputOf,
  type DashboardAction,
  type DashboardModel,
  type Effect,
} from './dashboard-model.js';
import { openConnections } from './connections.js';
import { createEffectRunner, type SaveLogEffect } from './effect-runner.js';
import { saveLog, type SaveSource } from './log-file.js';
import { createRecorder, type Recorder } from './recorder.js';
import type { RendererOptions } from './render.js';
import type { ReplayRecord, ReplaySource } from './replay-log.js';
import { createReplayPlayer, replayPosition } from './replay-player.js';
import type { ServerAction } from './server-state.js';
import { feedTag } from './log-tags.js';
import type { StreamReport } from './stream-reports.js';
import type { ScreenSize } from './screen-layout.js';
import { logPaneText, type Tone, type ViewInput } from './view-model.js';

/** Default bound of the event log, in entries. */
export const DEFAULT_LOG_LINES = 5000;

/** Options of {@link startDashboard}. */
export interface DashboardOptions extends RendererOptions {
  /** Sessions to open at once. */
  readonly sessions?: readonly SessionSpec[];
  /** Most event-log entries kept (default {@link DEFAULT_LOG_LINES}). */
  readonly logLines?: number;
  /** Key for sessions added with Ctrl-N on a server no open session uses. */
  readonly defaultApiKey?: string;
  /** Where {@link DashboardOptions.defaultApiKey} came from (`--api-key`, `$MODELDECK_API_KEY`), for Ctrl-S. */
  readonly defaultKeyOrigin?: KeyOrigin;
  /** Watch-only (`--read-only`): no unload, no cancel, and no session loads a model itself. */
  readonly readOnly?: boolean;
  /**
   * The `--config` file the sessions came from and what it holds: Ctrl-S writes the open sessions back to it, and
   * quitting offers to when they changed.
   */
  readonly config?: { readonly path: string; readonly sessions: readonly SessionSpec[] };
  /** Where a typed key's variable is looked for when the sessions are written (default the process's). */
  readonly env?: NodeJS.ProcessEnv;
  /** Offered by the add-session prompt (default: the first session's server, else {@link DEFAULT_SERVER_URL}). */
  readonly defaultServer?: string;
  readonly clock?: Clock;
  readonly fetch?: typeof fetch;
  readonly backoff?: BackoffOptions;
  /** Most frames per second (default 30). */
  readonly maxFps?: number;
  /** Upper bound of new tokens per chat reply. */
  readonly maxTokens?: number;
  /** A silence longer than this on a stream, in ms, is marked as a stall in the log's debug views (default 10,000). */
  readonly stallMs?: number;
  /** Where relative Ctrl-S save paths go (default the process's working directory). */
  readonly cwd?: string;
  /**
   * Plays a saved log instead of opening sessions (`modeldeck replay`): its sessions open and change as they did,
   * at the original gaps divided by `speed`, and nothing goes to the network. `sessions` is ignored.
   */
  readonly replay?: { readonly records: readonly ReplayRecord[]; readonly speed?: number };
}

/** What the runtime needs of the terminal. */
export interface Terminal {
  /** Marks the screen dirty. */
  invalidate(): void;
  size(): ScreenSize;
  /** The model has closed: stop the runtime and restore the terminal. */
  quit(): void;
}

/** The dashboard without its terminal: the model and the units that feed it and act for it. */
export interface Runtime {
  model(): DashboardModel;
  /** The one way the model changes; returns the effects it ran. */
  dispatch(action: DashboardAction): readonly Effect[];
  /** Opens a session as `a` does; returns its id. */
  addSession(spec: SessionSpec): string;
  notice(text: string, tone?: Tone): void;
  /** What the view model reads now. */
  viewInput(): ViewInput;
  /** The time the screen shows: the clock's, or in a replay the recording's. */
  now(): number;
  readonly recorder: Recorder;
  readonly replay: ReplaySource | undefined;
  /** What the saves made on the way out said. */
  readonly farewell: readonly string[];
  /** Plays the replay, or opens the configured sessions. */
  start(): void;
  /** Stops the replay and closes the sockets and the requests in flight. */
  close(): void;
}

/**
 * The model, the recorder beside it, and what feeds it and acts for it: the sockets (or a replay) report through the
 * runtime's own paths (`dispatch`, a session's update, the recorder's entry), and the effects go to the effect runner.
 */
export function createRuntime(options: DashboardOptions, clock: Clock, terminal: Terminal): Runtime {
  let model = initialModel(options);
  const recorder = createRecorder({
    capacity: options.logLines ?? DEFAULT_LOG_LINES,
    stallMs: options.stallMs,
    secrets: () => model.secrets,
    closed: () => model.closed,
    onChange: terminal.invalidate,
  });
  const notice = (text: string, tone: Tone = 'normal'): void => void dispatch({ type: 'notice', text, tone });
  // The runtime's own paths, which the sockets, a replay and the effects' results all take.
  // What a server reported is kept for Ctrl-S (a replay rebuilds the server view and the sessions' models from it).
  const server = (root: string, action: ServerAction): void => {
    recorder.record({ time: action.at, session: feedTag(root), kind: 'server', root, action });
    report({ type: 'server', root, action });
  };
  const paths = { clock, record: recorder.record, tagOf, sessionUpdate, server, addSession, dispatch, notice };
  const io = openConnections({
    ...paths,
    fetch: options.fetch,
    backoff: options.backoff,
    maxTokens: options.maxTokens,
  });
  const player = options.replay && createReplayPlayer({ ...options.replay, clock, target: paths });
  const runner = createEffectRunner({
    ...paths,
    sessions: io.pool,
    feeds: io.feeds,
    fetchFor: io.tagged,
    saveLog: (effect) =>
      saveLog(effect.path, effect.filter, saveSource(model, viewInput, recorder, options.cwd, effect)),
    replay: player,
    quit: terminal.quit,
    cwd: options.cwd ?? process.cwd(),
    env: options.env ?? process.env,
  });

  /** A session's tag (its configured name, else its id `s1`, `s2`, …). */
  function tagOf(id: string): string {
    return model.sessions[id]?.state.tag ?? id;
  }

  function now(): number {
    return player ? player.now() : clock.now();
  }

  function viewInput(): ViewInput {
    // The frame being drawn shows what the sockets reported this turn: no second frame for it.
    applyReports(false);
    const input = viewInputOf(model, recorder.log, recorder.journal(), terminal.size(), now());
    return player ? { ...input, replay: replayPosition(player.source) } : input;
  }

  function sessionUpdate(id: string, update: SessionUpdate): void {
    recorder.record({ time: update.at, session: tagOf(id), kind: 'update', update });
    report({ type: 'session', id, update });
  }

  const batches = createReportBatches((reports, redraw) => apply({ type: 'batch', reports }, redraw));
  const report = (r: StreamReport): void => {
    if (!model.closed) batches.push(r);
  };
  const applyReports = batches.flush;

  // While the configured sessions open, what they would start waits until their first frame is drawn.
  let held: Effect[] | null = null;

  function dispatch(action: DashboardAction): readonly Effect[] {
    applyReports(true);
    return apply(action, true);
  }

  function apply(action: DashboardAction, redraw: boolean): readonly Effect[] {
    if (model.closed) return [];
    const result = updateDashboard(model, action);
    model = result.model;
    if (held !== null) {
      held.push(...result.effects);
      return result.effects;
    }
    for (const effect of result.effects) runner.run(effect);
    if (redraw && !model.closed) terminal.invalidate();
    return result.effects;
  }

  /**
   * Opens the configured sessions: all of them on screen first, in one frame, then their connections on the next turn
   * (a hundred sessions dialled one by one before the first frame kept the screen blank for a quarter of a second).
   */
  function openConfigured(specs: readonly SessionSpec[]): void {
    held = [];
    for (const spec of specs) addSession(spec);
    const effects = held;
    held = null;
    terminal.invalidate();
    // On the next turn: blessed writes a frame out at the end of this one.
    setImmediate(() => {
      for (const effect of effects) {
        if (model.closed) break;
        runner.run(effect);
      }
    });
  }

  function addSession(spec: SessionSpec): string {
    const started = dispatch({ type: 'add-session', spec }).find((e) => e.type === 'start-session');
    return started?.id ?? '';
  }

  return {
    model: () => {
      applyReports(true);
      return model;
    },
    dispatch,
    addSession,
    notice,
    viewInput,
    now,
    recorder,
    replay: player?.source,
    farewell: runner.farewell,
    start() {
      if (player) player.start();
      else openConfigured(options.sessions ?? []);
    },
    close() {
      batches.dispose();
      player?.dispose();
      io.pool.closeAll();
      io.feeds.closeAll();
      runner.dispose();
    },
  };
}

/**
 * How long the sockets' reports wait to be applied together, in ms: a fifth of a 30 fps frame, unseen, and effects
 * they start (a retry, a poll) wait no longer. Real time, as the sockets' own callbacks are.
 */
const REPORT_BATCH_MS = 5;

/**
 * What the sockets report, held for one batch {@link REPORT_BATCH_MS} after the first of them (a fleet's servers send
 * thousands of events a second, two or three a turn of the event loop: a batch a turn copied the hundred sessions'
 * record and ran the dashboard's update a thousand times a second), or applied sooner by `flush`, which the runtime
 * calls before any other action and any read of the model: every action and every reader sees the reports in the
 * order they came. `flush(redraw)`: `redraw` false from inside a frame's draw, which shows them already.
 */
function createReportBatches(apply: (reports: StreamReport[], redraw: boolean) => void): {
  push(report: StreamReport): void;
  flush(redraw: boolean): void;
  dispose(): void;
} {
  let reports: StreamReport[] = [];
  let due: ReturnType<typeof setTimeout> | undefined;
  function flush(redraw: boolean): void {
    if (reports.length === 0) return;
    const batch = reports;
    reports = [];
    apply(batch, redraw);
  }
  return {
    push(report) {
      reports.push(report);
      due ??= setTimeout(() => {
        due = undefined;
        flush(true);
      }, REPORT_BATCH_MS);
    },
    flush,
    dispose() {
      if (due !== undefined) clearTimeout(due);
      due = undefined;
      reports = [];
    },
  };
}

/** The model before anything happened: the options the dashboard was started with. */
function initialModel(options: DashboardOptions): DashboardModel {
  return createDashboardModel({
    defaultServer: options.defaultServer ?? options.sessions?.[0]?.server ?? DEFAULT_SERVER_URL,
    defaultApiKey: options.defaultApiKey,
    defaultKeyOrigin: options.defaultKeyOrigin,
    readOnly: options.readOnly,
    config: options.config,
    replay: options.replay !== undefined,
  });
}

/**
 * What a log save reads, as the screen stands (its text computed only when a debug view or `.txt` needs it); the
 * quit dialog's save (`whole`) is the whole history, for replay, whatever the log pane shows.
 */
function saveSource(
  model: DashboardModel,
  view: () => ViewInput,
  recorder: Recorder,
  cwd: string | undefined,
  effect: SaveLogEffect,
): SaveSource {
  return {
    view: effect.whole === true ? 'frames' : model.ui.log.view,
    shownText: () => logPaneText(view()),
    entries: () => recorder.log.toArray(),
    records: () => recorder.sessionRecords(),
    cwd: cwd ?? process.cwd(),
    secrets: model.secrets,
  };
}
