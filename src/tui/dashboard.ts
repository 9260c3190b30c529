/**
 * The dashboard, wired: session controllers feed actions to the pure reducer and frames to the event log; every
 * change marks the screen dirty; one throttled loop turns state into a view model and draws it; one key handler
 * routes every key. `shutdown()` is the only way out and always restores the terminal.
 */

import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { systemClock, type Clock, type TimerHandle } from '../common/clock.js';
import type { SessionSpec } from './config.js';
import { createEventLog, matchesFilter, redactSecrets, toJsonl, type EventLog, type LogEntry } from './event-log.js';
import { createUiState, routeKey, type Command, type KeyContext, type KeyPress, type UiState } from './keys.js';
import { createRenderer, type Renderer, type RendererOptions } from './render.js';
import { createRenderScheduler } from './render-scheduler.js';
import {
  createSessionController,
  type BackoffOptions,
  type RawFrame,
  type SessionController,
} from './session-client.js';
import {
  canChat,
  chatHistory,
  createSessionState,
  reduceSession,
  type SessionAction,
  type SessionState,
} from './session-state.js';
import { screenLayout, toViewModel, type Notice, type Tone } from './view-model.js';

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
  /** Offered by the add-session prompt (default: the first session's server, else `http://127.0.0.1:8000`). */
  readonly defaultServer?: string;
  readonly clock?: Clock;
  readonly fetch?: typeof fetch;
  readonly backoff?: BackoffOptions;
  /** Most frames per second (default 30). */
  readonly maxFps?: number;
  /** Upper bound of new tokens per chat reply. */
  readonly maxTokens?: number;
  /** Where relative `w` save paths go (default the process's working directory). */
  readonly cwd?: string;
}

/** A running dashboard. */
export interface Dashboard {
  /** Opens a session and starts loading; returns its id (also its log tag, `s1`, `s2`, …). */
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
}

interface Entry {
  state: SessionState;
  readonly spec: SessionSpec;
  readonly controller: SessionController;
}

/** Opens the full-screen dashboard. Throws when the output is not a terminal. */
export function startDashboard(options: DashboardOptions = {}): Dashboard {
  const clock = options.clock ?? systemClock;
  const log: EventLog = createEventLog(options.logLines ?? DEFAULT_LOG_LINES);
  const entries = new Map<string, Entry>();
  const order: string[] = [];
  const secrets = new Set<string>();
  if (options.defaultApiKey) secrets.add(options.defaultApiKey);
  let ui = createUiState();
  let notice: Notice | null = null;
  let defaultServer = options.defaultServer ?? options.sessions?.[0]?.server ?? 'http://127.0.0.1:8000';
  let counter = 0;
  let isClosed = false;
  let tick: TimerHandle | undefined;
  let resolveClosed: () => void = () => {};
  const closed = new Promise<void>((res) => (resolveClosed = res));

  const renderer: Renderer = createRenderer(options);
  const scheduler = createRenderScheduler({
    draw,
    clock,
    ...(options.maxFps !== undefined ? { maxFps: options.maxFps } : {}),
  });

  function states(): SessionState[] {
    return order.flatMap((id) => {
      const entry = entries.get(id);
      return entry ? [entry.state] : [];
    });
  }

  function draw(): void {
    const view = toViewModel({
      sessions: states(),
      ui,
      log,
      size: renderer.size(),
      now: clock.now(),
      notice,
      defaultServer,
    });
    renderer.draw(view);
  }

  // Elapsed times, ETAs and reconnect countdowns change with time alone: redraw twice a second.
  function scheduleTick(): void {
    tick = clock.setTimeout(() => {
      if (isClosed) return;
      scheduler.invalidate();
      scheduleTick();
    }, 500);
  }

  function dispatch(id: string, action: SessionAction): void {
    const entry = entries.get(id);
    if (entry === undefined || isClosed) return;
    entry.state = reduceSession(entry.state, redactAction(action, [...secrets]));
    scheduler.invalidate();
  }

  function record(tag: string, frame: RawFrame): void {
    if (isClosed) return;
    log.append(clock.now(), tag, frame.kind, redactSecrets(frame.raw, [...secrets]));
    scheduler.invalidate();
  }

  function addSession(spec: SessionSpec): string {
    counter++;
    const id = `s${counter}`;
    if (spec.apiKey) secrets.add(spec.apiKey);
    const controller = createSessionController({
      server: spec.server,
      model: spec.model,
      apiKey: spec.apiKey,
      clock,
      ...(options.fetch ? { fetch: options.fetch } : {}),
      ...(options.backoff ? { backoff: options.backoff } : {}),
      ...(options.maxTokens !== undefined ? { maxTokens: options.maxTokens } : {}),
      dispatch: (action) => dispatch(id, action),
      onFrame: (frame) => record(id, frame),
    });
    entries.set(id, {
      state: createSessionState({ id, tag: id, server: spec.server, model: spec.model }),
      spec,
      controller,
    });
    order.push(id);
    controller.start();
    scheduler.invalidate();
    return id;
  }

  function closeSession(id: string): void {
    const entry = entries.get(id);
    if (entry === undefined) return;
    entry.controller.close();
    entries.delete(id);
    const at = order.indexOf(id);
    order.splice(at, 1);
    const { [id]: _dropped, ...inputs } = ui.inputs;
    ui = {
      ...ui,
      inputs,
      composing: false,
      focus: Math.max(0, Math.min(ui.focus, order.length - 1)),
      log: ui.log.filterSession === id ? { ...ui.log, filterSession: null } : ui.log,
    };
  }

  async function saveLog(path: string): Promise<void> {
    const filter = { session: ui.log.filterSession, text: ui.log.filterText };
    const chosen = log.toArray().filter((e) => matchesFilter(e, filter));
    const target = resolve(options.cwd ?? process.cwd(), path);
    try {
      await writeFile(target, toJsonl(chosen, [...secrets]), { flag: 'wx' });
      setNotice(`saved ${chosen.length} log lines to ${target}`, 'ok');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      setNotice(
        code === 'EEXIST'
          ? `not saved: ${target} exists (w again and pick another name)`
          : `not saved: ${target}: ${code ?? (error as Error).message}`,
        'error',
      );
    }
  }

  function run(command: Command): void {
    switch (command.type) {
      case 'quit':
        shutdown();
        return;
      case 'retry':
        entries.get(command.sessionId)?.controller.retry();
        return;
      case 'close':
        closeSession(command.sessionId);
        return;
      case 'send': {
        const entry = entries.get(command.sessionId);
        if (!entry) return;
        const sent = entry.controller.sendChat([...chatHistory(entry.state), { role: 'user', content: command.text }]);
        if (!sent) setNotice(`${entry.state.tag}: a reply is still streaming; send again once it ends`, 'warn');
        return;
      }
      case 'add': {
        const sameServer = [...entries.values()].find((e) => e.spec.server === command.server && e.spec.apiKey);
        const apiKey = sameServer?.spec.apiKey ?? options.defaultApiKey;
        const id = addSession({ server: command.server, model: command.model, ...(apiKey ? { apiKey } : {}) });
        ui = { ...ui, focus: order.indexOf(id), logFocused: false, composing: false };
        return;
      }
      case 'save-log':
        void saveLog(command.path);
        return;
      case 'notice':
        notice = { text: command.text, tone: 'warn' };
        return;
      default: {
        const never: never = command;
        throw new TypeError(`unknown command ${JSON.stringify(never)}`);
      }
    }
  }

  function press(key: KeyPress): void {
    if (isClosed) return;
    const ctx: KeyContext = {
      sessions: states().map((s) => ({
        id: s.id,
        tag: s.tag,
        server: s.server,
        canChat: canChat(s),
        replying: s.chatBusy,
      })),
      lastSeq: log.lastSeq(),
      logPage: Math.max(1, screenLayout(renderer.size()).log.height - 2),
      defaultServer,
      now: clock.now(),
    };
    notice = null;
    const result = routeKey(ui, key, ctx);
    ui = result.ui;
    for (const command of result.commands) run(command);
    if (!isClosed) scheduler.invalidate();
  }

  function setNotice(text: string, tone: Tone = 'normal'): void {
    notice = { text, tone };
    scheduler.invalidate();
  }

  function shutdown(): void {
    if (isClosed) return;
    isClosed = true;
    for (const entry of entries.values()) entry.controller.close();
    scheduler.dispose();
    if (tick !== undefined) clock.clearTimeout(tick);
    try {
      renderer.destroy();
    } finally {
      resolveClosed();
    }
  }

  renderer.onKey(press);
  renderer.onResize(() => scheduler.invalidate());
  scheduleTick();
  for (const spec of options.sessions ?? []) addSession(spec);
  scheduler.invalidate();

  return {
    addSession,
    setNotice,
    setDefaultServer(url) {
      defaultServer = url;
    },
    closed,
    shutdown,
    sessions: states,
    ui: () => ui,
    press,
    screenText() {
      scheduler.flush();
      return renderer.text();
    },
    logEntries: () => log.toArray(),
  };
}

/**
 * The text a server sends back (failure messages, error events, chat text) is shown on screen: a server that echoes
 * the `Authorization` header must not put a key there, so every configured key is redacted from it, as it is from the
 * event log.
 */
function redactAction(action: SessionAction, secrets: readonly string[]): SessionAction {
  if (secrets.length === 0) return action;
  switch (action.type) {
    case 'failed':
    case 'chat-failed':
      return { ...action, failure: { ...action.failure, message: redactSecrets(action.failure.message, secrets) } };
    case 'event':
      return action.event.status === 'error'
        ? { ...action, event: { ...action.event, message: redactSecrets(action.event.message, secrets) } }
        : action;
    case 'chat-delta':
      return { ...action, text: redactSecrets(action.text, secrets) };
    case 'connecting':
    case 'chat-sent':
    case 'chat-done':
      return action;
    default: {
      const never: never = action;
      return never;
    }
  }
}
