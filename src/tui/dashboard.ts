/**
 * The dashboard's runtime: it owns the I/O only (the blessed screen, the render loop and the redraw tick, the
 * sessions' connections, the log file) and the one model, which changes only through `updateDashboard`
 * (`dashboard-model.ts`): keys, what the sessions report and the runtime's own calls all arrive as actions, and the
 * effects the update returns are run here. The event log is the one other store: a bounded ring buffer with a single
 * `append`, kept out of the model so that 5,000 frames a second cost no copying.
 * `shutdown()` is the only way out and always restores the terminal.
 */

import { listModels, unloadModel } from '../client/model-admin.js';
import { DEFAULT_SERVER_URL } from '../client/server-url.js';
import type { BackoffOptions } from '../client/reconnect.js';
import { systemClock, type Clock, type TimerHandle } from '../common/clock.js';
import type { SessionSpec } from './config.js';
import {
  createDashboardModel,
  promptModelChoices,
  serverStates,
  sessionStates,
  updateDashboard,
  type DashboardAction,
  type DashboardModel,
  type Effect,
} from './dashboard-model.js';
import { createEventLog, redactSecrets, type EventLog, type LogEntry } from './event-log.js';
import type { KeyPress, UiState } from './keys.js';
import { saveReplayLog, saveShownLines } from './log-file.js';
import { createReplaySource, type ReplayRecord, type ReplaySource } from './replay-log.js';
import type { SessionUpdate } from '../client/session-update.js';
import { createRenderer, type Renderer, type RendererOptions } from './render.js';
import { createRenderScheduler } from './render-scheduler.js';
import { createFeedPool } from './feed-pool.js';
import { LIST_TIMEOUT_MS } from './model-list.js';
import { createSessionPool } from './session-pool.js';
import type { SessionState } from './session-state.js';
import { debugLogView, helpPageCount, toViewModel, type Tone, type ViewInput } from './view-model.js';
import { shownText } from './wire-log-view.js';
import { createWireJournal, type JournalEntry } from '../client/wire-journal.js';
import { createWireTap, type WireRecord } from '../client/wire-tap.js';

/** Default bound of the event log, in entries. */
export const DEFAULT_LOG_LINES = 5000;

/** Options of {@link startDashboard}. */
export interface DashboardOptions extends RendererOptions {
  /** Sessions to open at once. */
  readonly sessions?: readonly SessionSpec[];
  /** Most event-log entries kept (default {@link DEFAULT_LOG_LINES}). */
  readonly logLines?: number;
  /** Key for sessions added with `a` on a server no open session uses. */
  readonly defaultApiKey?: string;
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
  /** Where relative `w` save paths go (default the process's working directory). */
  readonly cwd?: string;
  /**
   * Plays a saved log instead of opening sessions (`modeldeck replay`): its sessions open and change as they did,
   * at the original gaps divided by `speed`, and nothing goes to the network. `sessions` is ignored.
   */
  readonly replay?: { readonly records: readonly ReplayRecord[]; readonly speed?: number };
}

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
}

/** Opens the full-screen dashboard. Throws when the output is not a terminal. */
export function startDashboard(options: DashboardOptions = {}): Dashboard {
  const clock = options.clock ?? systemClock;
  // A replay opens no connection: the effects that would (sessions, feeds, unloads) are not run.
  const live = options.replay === undefined;
  // What the sessions were opened with and every update they reported: `w` saves them beside the frames so that a
  // replay can rebuild the panes. Trimmed in halves like the journal; the opens are always kept.
  const opens: ReplayRecord[] = [];
  let updates: ReplayRecord[] = [];
  const updateCapacity = (options.logLines ?? DEFAULT_LOG_LINES) * 4;
  // And the wire tap's records, which the journal is built from: saved too, a replay rebuilds the debug views.
  let wires: ReplayRecord[] = [];
  const wireCapacity = (options.logLines ?? DEFAULT_LOG_LINES) * 8;
  const log: EventLog = createEventLog(options.logLines ?? DEFAULT_LOG_LINES);
  let model: DashboardModel = createDashboardModel({
    defaultServer: options.defaultServer ?? options.sessions?.[0]?.server ?? DEFAULT_SERVER_URL,
    defaultApiKey: options.defaultApiKey,
  });
  let tick: TimerHandle | undefined;
  let resolveClosed: () => void = () => {};
  const closed = new Promise<void>((res) => (resolveClosed = res));

  // The wire journal: every stream of every session, as the tap read it off the socket. Bounded like the log; the
  // array is trimmed in halves so that appending stays O(1) amortised.
  const journalCapacity = options.logLines ?? DEFAULT_LOG_LINES;
  let journal: JournalEntry[] = [];
  const journalWriter = createWireJournal({
    ...(options.stallMs !== undefined ? { stallMs: options.stallMs } : {}),
    onEntry: (entry) => {
      if (model.closed) return;
      journal.push(redactEntry(entry, model.secrets));
      if (journal.length >= journalCapacity * 2) journal = journal.slice(-journalCapacity);
      scheduler.invalidate();
    },
  });
  function recordWire(record: WireRecord): void {
    journalWriter.feed(record);
    wires.push({ time: record.at, session: record.stream.split(' ')[0] ?? record.stream, kind: 'wire', record });
    if (wires.length >= wireCapacity * 2) wires = wires.slice(-wireCapacity);
  }
  const tap = createWireTap({
    onRecord: recordWire,
    now: () => clock.now(),
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  const journalShown = (): JournalEntry[] =>
    journal.length > journalCapacity ? journal.slice(-journalCapacity) : journal;

  const renderer: Renderer = createRenderer(options);
  const scheduler = createRenderScheduler({
    draw,
    clock,
    ...(options.maxFps !== undefined ? { maxFps: options.maxFps } : {}),
  });
  const pool = createSessionPool({
    clock,
    // The tap and the log name a session by its tag (its configured name, else its id).
    fetchFor: (id) => tap.taggedFetch(tagOf(id)),
    backoff: options.backoff,
    maxTokens: options.maxTokens,
    onUpdate: (id, update) => sessionUpdate(id, update),
    onFrame: (id, frame) => {
      if (model.closed) return;
      log.append(clock.now(), tagOf(id), frame.kind, redactSecrets(frame.raw, model.secrets));
      scheduler.invalidate();
    },
  });

  const feeds = createFeedPool({
    clock,
    // The event feed and the /v1/models polls go through the tap like the sessions' requests, under the feed's tag.
    fetch: (input, init) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      return tap.taggedFetch(feedTag(new URL(url).origin))(input, init);
    },
    onAction: (root, action) => dispatch({ type: 'server', root, action }),
    onFrame: (root, frame) => {
      if (model.closed) return;
      log.append(clock.now(), feedTag(root), frame.kind, redactSecrets(frame.raw, model.secrets));
      scheduler.invalidate();
    },
  });

  /** A session's tag (its configured name, else its id `s1`, `s2`, …). */
  function tagOf(id: string): string {
    return model.sessions[id]?.state.tag ?? id;
  }

  function viewInput(): ViewInput {
    return {
      sessions: sessionStates(model),
      ui: model.ui,
      log,
      size: renderer.size(),
      now: clock.now(),
      notice: model.notice,
      defaultServer: model.defaultServer,
      servers: serverStates(model),
      journal: journalShown(),
      modelChoices: promptModelChoices(model),
    };
  }

  function draw(): void {
    renderer.draw(toViewModel(viewInput()));
  }

  // Elapsed times, ETAs and reconnect countdowns change with time alone: redraw twice a second.
  function scheduleTick(): void {
    tick = clock.setTimeout(() => {
      if (model.closed) return;
      scheduler.invalidate();
      scheduleTick();
    }, 500);
  }

  function sessionUpdate(id: string, update: SessionUpdate): void {
    if (model.closed) return;
    updates.push({ time: update.at, session: tagOf(id), kind: 'update', update });
    if (updates.length >= updateCapacity * 2) updates = updates.slice(-updateCapacity);
    dispatch({ type: 'session', id, update });
  }

  /** The one way the model changes; returns the effects it ran. */
  function dispatch(action: DashboardAction): readonly Effect[] {
    if (model.closed) return [];
    const result = updateDashboard(model, action);
    model = result.model;
    for (const effect of result.effects) run(effect);
    if (!model.closed) scheduler.invalidate();
    return result.effects;
  }

  function run(effect: Effect): void {
    if (effect.type === 'replay') {
      if (!replay) return;
      if (effect.action === 'toggle') replay.toggle();
      else replay.step();
      replayNotice();
      return;
    }
    if (!live && effect.type === 'list-models') {
      dispatch({
        type: 'models-listed',
        root: effect.root,
        outcome: { ok: false, message: 'a replay asks no server' },
      });
      return;
    }
    if (!live && effect.type !== 'save-log' && effect.type !== 'quit') {
      if (effect.type === 'start-session') {
        opens.push({
          time: clock.now(),
          session: tagOf(effect.id),
          kind: 'open',
          server: effect.spec.server,
          model: effect.spec.model,
        });
      }
      return;
    }
    switch (effect.type) {
      case 'start-session':
        opens.push({
          time: clock.now(),
          session: tagOf(effect.id),
          kind: 'open',
          server: effect.spec.server,
          model: effect.spec.model,
        });
        pool.start(effect.id, effect.spec);
        return;
      case 'close-session':
        pool.close(effect.id);
        return;
      case 'retry':
        pool.retry(effect.id);
        return;
      case 'send-chat':
        if (!pool.sendChat(effect.id, effect.messages, effect.sampling))
          dispatch({ type: 'chat-refused', id: effect.id });
        return;
      case 'stop-chat':
        pool.stopChat(effect.id);
        return;
      case 'save-log':
        // The debug views always save the lines shown; the frames view does so for a `.txt` path, and otherwise
        // saves the whole filtered history as JSON Lines (what `modeldeck replay` reads).
        if (model.ui.log.view !== 'frames' || /\.txt$/i.test(effect.path)) {
          const text =
            model.ui.log.view !== 'frames'
              ? shownText(debugLogView(viewInput()))
              : toViewModel(viewInput())
                  .log.lines.map((line) => `${line.map((s) => s.text).join('')}\n`)
                  .join('');
          void saveShownLines(text, {
            path: effect.path,
            cwd: options.cwd ?? process.cwd(),
            secrets: model.secrets,
          }).then((notice) => dispatch({ type: 'notice', ...notice }));
          return;
        }
        void saveReplayLog(log.toArray(), [...opens, ...updates, ...wires], {
          path: effect.path,
          filter: effect.filter,
          cwd: options.cwd ?? process.cwd(),
          secrets: model.secrets,
        }).then((notice) => dispatch({ type: 'notice', ...notice }));
        return;
      case 'open-feed':
        feeds.open(effect.root, effect.apiKey);
        return;
      case 'close-feed':
        feeds.close(effect.root);
        return;
      case 'poll-models':
        feeds.poll(effect.root, effect.apiKey);
        return;
      case 'list-models':
        askModels(effect.root, effect.apiKey);
        return;
      case 'unload':
        void unloadModel({
          server: effect.server,
          model: effect.model,
          apiKey: effect.apiKey,
          fetch: tap.taggedFetch(tagOf(effect.id)),
        }).then((outcome) =>
          dispatch({
            type: 'unload-done',
            id: effect.id,
            kind: effect.kind,
            model: effect.model,
            failure: outcome.ok ? null : outcome.failure,
          }),
        );
        return;
      case 'quit':
        stop();
        return;
      default: {
        const never: never = effect;
        throw new TypeError(`unknown effect ${JSON.stringify(never)}`);
      }
    }
  }

  // The model prompt's asks in flight, aborted on quitting.
  const asks = new Set<{ abort: AbortController; timer: TimerHandle }>();
  /** `GET /v1/models` for the model prompt, given up after {@link LIST_TIMEOUT_MS}; the answer comes back as an action. */
  function askModels(root: string, apiKey: string | undefined): void {
    const abort = new AbortController();
    let timedOut = false;
    const timer = clock.setTimeout(() => {
      timedOut = true;
      abort.abort();
    }, LIST_TIMEOUT_MS);
    const ask = { abort, timer };
    asks.add(ask);
    void listModels({
      server: root,
      apiKey,
      signal: abort.signal,
      fetch: tap.taggedFetch(feedTag(root)),
    }).then((outcome) => {
      clock.clearTimeout(timer);
      asks.delete(ask);
      dispatch({
        type: 'models-listed',
        root,
        outcome: outcome.ok
          ? { ok: true, ids: outcome.value.map((m) => m.id) }
          : { ok: false, message: timedOut ? `no answer in ${LIST_TIMEOUT_MS / 1000} s` : outcome.failure.message },
      });
    });
  }

  function press(key: KeyPress): void {
    // The screen as it stands bounds what the keys may scroll to (a transcript's oldest line, the help's last page).
    const shown = toViewModel(viewInput());
    const scrollLimits = Object.fromEntries(
      shown.cells.flatMap((cell) => (cell.scrollLimit === undefined ? [] : [[cell.id, cell.scrollLimit]])),
    );
    dispatch({
      type: 'key',
      key,
      world: {
        lastSeq: log.lastSeq(),
        logPage: Math.max(1, shown.log.rect.height - 2),
        helpPages: helpPageCount(renderer.size()),
        scrollLimits,
        now: clock.now(),
        lastJournalSeq: journal.at(-1)?.seq ?? 0,
        ...(model.ui.log.view !== 'frames' ? { nextFault: debugLogView(viewInput()).nextFault } : {}),
      },
    });
  }

  function addSession(spec: SessionSpec): string {
    const started = dispatch({ type: 'add-session', spec }).find((e) => e.type === 'start-session');
    return started?.id ?? '';
  }

  // Runs once, when the model has closed: the I/O side of quitting.
  let stopped = false;
  function stop(): void {
    if (stopped) return;
    stopped = true;
    replay?.dispose();
    pool.closeAll();
    feeds.closeAll();
    for (const ask of asks) {
      clock.clearTimeout(ask.timer);
      ask.abort.abort();
    }
    asks.clear();
    scheduler.dispose();
    if (tick !== undefined) clock.clearTimeout(tick);
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

  // The replay: each saved record becomes what a live session would have produced, through the same paths.
  const tags = new Map<string, string>();
  function play(record: ReplayRecord, now: number): void {
    if (model.closed) return;
    if (record.kind === 'open') {
      // A named session's tag is its name: it comes back under that name (an `s1` is renumbered in opening order).
      const name = /^s[0-9]+$/.test(record.session) ? {} : { name: record.session };
      tags.set(record.session, addSession({ server: record.server, model: record.model, ...name }));
    } else if (record.kind === 'update') {
      const id = tags.get(record.session);
      if (id !== undefined) sessionUpdate(id, retime(record.update, now, options.replay?.speed ?? 1));
    } else if (record.kind === 'wire') {
      // At its original time: the debug view's gaps and stall marks are the ones the live dashboard saw.
      const id = tags.get(record.session);
      const { stream } = record.record;
      const renamed =
        id !== undefined && stream.startsWith(`${record.session} `)
          ? `${tagOf(id)}${stream.slice(record.session.length)}`
          : stream;
      recordWire({ ...record.record, stream: renamed });
    } else {
      log.append(
        now,
        tagOf(tags.get(record.session) ?? record.session),
        record.kind,
        redactSecrets(record.raw, model.secrets),
      );
      scheduler.invalidate();
    }
  }
  function replayNotice(): void {
    if (!replay) return;
    const where = `${replay.played()}/${replay.total}`;
    const text =
      replay.played() === replay.total
        ? `replay: finished (${where})`
        : replay.paused()
          ? `replay: paused at ${where} · space plays · . steps`
          : `replay: playing (${where}) · space pauses`;
    dispatch({ type: 'notice', text, tone: 'normal' });
  }
  const replay: ReplaySource | undefined = options.replay
    ? createReplaySource({
        records: options.replay.records,
        clock,
        ...(options.replay.speed !== undefined ? { speed: options.replay.speed } : {}),
        onRecord: play,
        onEnd: replayNotice,
      })
    : undefined;

  renderer.onKey(press);
  renderer.onResize(() => scheduler.invalidate());
  scheduleTick();
  if (replay) replay.start();
  else for (const spec of options.sessions ?? []) addSession(spec);
  scheduler.invalidate();

  return {
    addSession,
    setNotice(text, tone: Tone = 'normal') {
      dispatch({ type: 'notice', text, tone });
    },
    setDefaultServer(url) {
      dispatch({ type: 'default-server', url });
    },
    closed,
    shutdown,
    sessions: (): readonly SessionState[] => sessionStates(model),
    ui: (): UiState => model.ui,
    press,
    screenText() {
      scheduler.flush();
      return renderer.text();
    },
    logEntries: (): LogEntry[] => log.toArray(),
    journalEntries: (): readonly JournalEntry[] => journalShown(),
    replay,
  };
}

/**
 * A saved update as if it happened `now`: its times move with the replay (a reconnect countdown keeps its length,
 * divided by the speed).
 */
function retime(update: SessionUpdate, now: number, speed: number): SessionUpdate {
  if (update.type === 'failed' && update.retryAt !== null) {
    return { ...update, at: now, retryAt: now + (update.retryAt - update.at) / speed };
  }
  return { ...update, at: now };
}

/** An entry with every secret replaced in what it shows (its text and its lines). */
function redactEntry(entry: JournalEntry, secrets: readonly string[]): JournalEntry {
  if (secrets.length === 0) return entry;
  return {
    ...entry,
    text: redactSecrets(entry.text, secrets),
    lines: entry.lines.map((l) => ({
      ...l,
      text: redactSecrets(l.text, secrets),
      value: redactSecrets(l.value, secrets),
    })),
  };
}

/** The event log's tag for a server's feed frames: `feed:host:port`. */
function feedTag(root: string): string {
  try {
    return `feed:${new URL(root).host}`;
  } catch {
    return `feed:${root}`;
  }
}
