/**
 * The dashboard's one model and its one update path (the Elm / bubbletea loop): {@link updateDashboard} is pure and
 * is the only way the model changes: keys, what session controllers report, adding and closing sessions, notices.
 * What it wants done in the world (start or close a session's I/O, send a chat, save the log, quit) it returns as
 * {@link Effect}s for the effect runner (`effect-runner.ts`) to run; their results come back as actions.
 */

import type { ChatSampling, ChatTurn } from '../client/chat-stream.js';
import type { Failure } from '../client/failures.js';
import { serviceRoot } from '../client/server-url.js';
import type { SessionUpdate } from '../client/session-update.js';
import type { JournalEntry } from '../client/wire-journal.js';
import { formatChatSettings } from './chat-settings.js';
import type { KeyOrigin, SessionSpec } from './config.js';
import { sessionsSignature, type TaggedSpec } from './config-writer.js';
import { redactSecrets, type EventLog, type LogFilter } from './event-log.js';
import {
  routeKey,
  createUiState,
  MODEL_PROMPTS,
  type Command,
  type KeyContext,
  type KeyPress,
  type UiState,
} from './keys.js';
import { modelChoices, reduceModelList, shouldAsk, type ModelChoices, type ModelList } from './model-list.js';
import { canChat, chatHistory, createSessionState, isLoading, type SessionState } from './session-state.js';
import { createServerState, type ServerState } from './server-state.js';
import { unloadedBySession } from './session-residency.js';
import {
  applyReports,
  sessionsByRoot,
  type ServerReport,
  type SessionReport,
  type StreamReport,
} from './stream-reports.js';
import {
  runServerAction,
  serverActionDone,
  serverRowsForKeys,
  type ServerActionDone,
  type ServerActionEffect,
} from './server-row-actions.js';
import { liveOnly } from './replay-guard.js';
import type { ScreenSize } from './screen-layout.js';
import type { Notice, Tone, ViewInput } from './view-model.js';

/** One open session: what it was opened with and what it shows. */
export interface SessionEntry {
  readonly spec: SessionSpec;
  readonly state: SessionState;
}

/** Everything the dashboard shows, as plain data (the logs aside: they are the recorder's, `recorder.ts`). */
export interface DashboardModel {
  /** Open sessions by id. */
  readonly sessions: Readonly<Record<string, SessionEntry>>;
  /** Session ids in screen order. */
  readonly order: readonly string[];
  /** Every distinct server among the sessions, by service root, in the order they first appeared. */
  readonly servers: Readonly<Record<string, ServerState>>;
  /** The open sessions' ids by their server's service root, in screen order (`sessionsByRoot` of the two above). */
  readonly serverSessions: Readonly<Record<string, readonly string[]>>;
  /** What each server's `GET /v1/models` answered the model prompt, by service root (any server typed, kept). */
  readonly modelLists: Readonly<Record<string, ModelList>>;
  readonly ui: UiState;
  readonly notice: Notice | null;
  /** Offered by the add-session prompt. */
  readonly defaultServer: string;
  /** Key for sessions added on a server no open session has a key for. */
  readonly defaultApiKey: string | undefined;
  /** Sessions ever opened (the next id is `s${opened + 1}`). */
  readonly opened: number;
  /** Every configured key, redacted from whatever the servers send back. */
  readonly secrets: readonly string[];
  /** The user quit (or the runtime shut down): nothing changes any more. */
  readonly closed: boolean;
  /** A replay (`modeldeck replay`): the keys that would act on a server are off, with a note (`replay-guard.ts`). */
  readonly replay: boolean;
  /** `--read-only`: no session unloads, cancels or loads (a session's own `readOnly` does so for it alone). */
  readonly readOnly: boolean;
  /** Where {@link DashboardModel.defaultApiKey} came from (for writing sessions that use it). */
  readonly defaultKeyOrigin: KeyOrigin | undefined;
  /** The config file the sessions came from, or were last written to; `null` for none. */
  readonly configPath: string | null;
  /** What {@link DashboardModel.configPath} holds (`sessionsSignature`), to tell whether the sessions changed. */
  readonly savedSessions: string | null;
}

/** What the key router needs from the world besides the model. */
export interface KeyWorld {
  /** The newest log seq (where a pause starts). */
  readonly lastSeq: number;
  /** Lines in one page of the log view. */
  readonly logPage: number;
  /** Milliseconds since the epoch. */
  readonly now: number;
  /** The newest wire journal seq. */
  readonly lastJournalSeq?: number;
  /** Where `n` moves the log's debug cursor, `null` when no shown line has a fault. */
  readonly nextFault?: number | null;
  /** Pages the help overlay has on this screen. */
  readonly helpPages?: number;
  /** Per session id, how far its transcript scrolls back on screen (lines). */
  readonly scrollLimits?: Readonly<Record<string, number>>;
  /** Entries in the event log (quitting offers to save them). */
  readonly logEntries?: number;
}

/** Everything that changes the model. */
export type DashboardAction =
  | { readonly type: 'key'; readonly key: KeyPress; readonly world: KeyWorld }
  | { readonly type: 'add-session'; readonly spec: SessionSpec }
  | SessionReport
  | { readonly type: 'notice'; readonly text: string; readonly tone: Tone }
  | { readonly type: 'default-server'; readonly url: string }
  /** The runtime could not start a chat (its controller had one in flight). */
  | { readonly type: 'chat-refused'; readonly id: string }
  /** What a server's feed (or its `/v1/models` poll) reports. */
  | ServerReport
  /** The reports of a few ms (`dashboard-runtime.ts`), in the order they came: the same as each applied in turn. */
  | { readonly type: 'batch'; readonly reports: readonly StreamReport[] }
  /** How asking a server's `/v1/models` for the model prompt ended: its ids, or why not. */
  | {
      readonly type: 'models-listed';
      readonly root: string;
      readonly outcome:
        { readonly ok: true; readonly ids: readonly string[] } | { readonly ok: false; readonly message: string };
    }
  /** How a cancel or unload request ended. */
  | {
      readonly type: 'unload-done';
      readonly id: string;
      readonly kind: 'cancel' | 'unload';
      readonly model: string;
      readonly failure: Failure | null;
      /** When it ended (ms since the epoch). */
      readonly at: number;
    }
  /** How the server view's load, unload or cancel of a row ended (`server-row-actions.ts`). */
  | ServerActionDone
  /** The sessions were written to `path` (`signature`: what it holds now); `text` says so. */
  | { readonly type: 'sessions-written'; readonly path: string; readonly signature: string; readonly text: string }
  /** Writing the sessions found `path` there already: the prompt reopens, saying Enter writes over it. */
  | { readonly type: 'sessions-exist'; readonly path: string }
  | { readonly type: 'shutdown' };

/** What the runtime does for the model. */
export type Effect =
  | { readonly type: 'start-session'; readonly id: string; readonly spec: SessionSpec }
  | { readonly type: 'close-session'; readonly id: string }
  | { readonly type: 'retry'; readonly id: string }
  | {
      readonly type: 'send-chat';
      readonly id: string;
      readonly messages: readonly ChatTurn[];
      readonly sampling: ChatSampling;
    }
  /** Stop the session's reply in flight, keeping what arrived. */
  | { readonly type: 'stop-chat'; readonly id: string }
  /** `whole`: the whole history as JSON Lines (for replay), whatever the log pane shows. */
  | { readonly type: 'save-log'; readonly path: string; readonly filter: LogFilter; readonly whole?: boolean }
  /** Write the open sessions as a config file; over an existing one only with `overwrite`. */
  | {
      readonly type: 'write-sessions';
      readonly path: string;
      readonly overwrite: boolean;
      readonly sessions: readonly TaggedSpec[];
    }
  /** Save what the quit dialog listed, then quit (`shutdown`); a save that fails keeps the dashboard open. */
  | {
      readonly type: 'save-and-quit';
      readonly log?: string;
      readonly sessions?: { readonly path: string; readonly sessions: readonly TaggedSpec[] };
    }
  /** Follow the server's feed (the first session on it opened). */
  | { readonly type: 'open-feed'; readonly root: string; readonly apiKey: string | undefined }
  /** Its last session closed. */
  | { readonly type: 'close-feed'; readonly root: string }
  /** The server has no feed: poll `/v1/models` instead. */
  | { readonly type: 'poll-models'; readonly root: string; readonly apiKey: string | undefined }
  /** Ask `/v1/models` once, for the model prompt's completion; the answer comes back as `models-listed`. */
  | { readonly type: 'list-models'; readonly root: string; readonly apiKey: string | undefined }
  | {
      readonly type: 'unload';
      readonly id: string;
      readonly kind: 'cancel' | 'unload';
      readonly server: string;
      readonly model: string;
      readonly apiKey: string | undefined;
    }
  /** The server view's load, unload or cancel of a row's model (`server-row-actions.ts`). */
  | ServerActionEffect
  | { readonly type: 'quit' }
  /** Pause, resume or step the replay being played (`modeldeck replay`); nothing in a live dashboard. */
  | { readonly type: 'replay'; readonly action: 'toggle' | 'step' };

/** What {@link updateDashboard} returns. */
export interface Update {
  readonly model: DashboardModel;
  readonly effects: readonly Effect[];
}

/** Options of {@link createDashboardModel}. */
export interface DashboardModelInit {
  readonly defaultServer: string;
  readonly defaultApiKey?: string | undefined;
  /** The dashboard plays a saved log. */
  readonly replay?: boolean;
  readonly defaultKeyOrigin?: KeyOrigin | undefined;
  /** `--read-only`. */
  readonly readOnly?: boolean | undefined;
  /** The `--config` file, and the sessions it holds. */
  readonly config?: { readonly path: string; readonly sessions: readonly SessionSpec[] } | undefined;
}

/** The model before any session opens. */
export function createDashboardModel(init: DashboardModelInit): DashboardModel {
  return {
    sessions: {},
    order: [],
    servers: {},
    serverSessions: {},
    modelLists: {},
    ui: createUiState(),
    notice: null,
    defaultServer: init.defaultServer,
    defaultApiKey: init.defaultApiKey,
    opened: 0,
    secrets: init.defaultApiKey ? [init.defaultApiKey] : [],
    closed: false,
    replay: init.replay === true,
    readOnly: init.readOnly === true,
    defaultKeyOrigin: init.defaultKeyOrigin,
    configPath: init.config?.path ?? null,
    savedSessions: init.config === undefined ? null : sessionsSignature(init.config.sessions),
  };
}

/** The open sessions with their tags, in screen order (what writing them to a config file writes). */
export function taggedSpecs(model: DashboardModel): TaggedSpec[] {
  return model.order.flatMap((id) => {
    const entry = model.sessions[id];
    return entry ? [{ tag: entry.state.tag, spec: entry.spec }] : [];
  });
}

/** The open sessions differ from what the config file holds (false without one). */
export function sessionsChanged(model: DashboardModel): boolean {
  if (model.configPath === null) return false;
  return sessionsSignature(taggedSpecs(model).map((t) => t.spec)) !== model.savedSessions;
}

/** The session is watch-only: by `--read-only`, or by its own `readOnly`. */
export function isReadOnly(model: DashboardModel, id: string): boolean {
  return model.readOnly || model.sessions[id]?.spec.readOnly === true;
}

/** The sessions' states, in screen order. */
export function sessionStates(model: DashboardModel): SessionState[] {
  return model.order.flatMap((id) => {
    const entry = model.sessions[id];
    return entry ? [entry.state] : [];
  });
}

/** The key router's view of the model. */
export function keyContext(model: DashboardModel, world: KeyWorld): KeyContext {
  return {
    sessions: sessionStates(model).map((s) => ({
      id: s.id,
      tag: s.tag,
      server: s.server,
      model: model.sessions[s.id]?.spec.model ?? s.model,
      hasKey: model.sessions[s.id]?.spec.apiKey !== undefined,
      canChat: canChat(s),
      replying: s.chatBusy,
      chat: model.sessions[s.id]?.spec.chat ?? {},
      loading: isLoading(s),
      hasTranscript: s.transcript.length > 0,
      ...(s.phase === 'error' || s.phase === 'reconnecting' ? { failed: true } : {}),
      ...(world.scrollLimits?.[s.id] !== undefined ? { scrollLimit: world.scrollLimits[s.id] } : {}),
      ...(isReadOnly(model, s.id) ? { readOnly: true } : {}),
    })),
    ...(world.logEntries !== undefined ? { logEntries: world.logEntries } : {}),
    ...(model.configPath !== null ? { configPath: model.configPath, sessionsChanged: sessionsChanged(model) } : {}),
    lastSeq: world.lastSeq,
    logPage: world.logPage,
    ...(world.helpPages !== undefined ? { helpPages: world.helpPages } : {}),
    ...(world.lastJournalSeq !== undefined ? { lastJournalSeq: world.lastJournalSeq } : {}),
    ...(world.nextFault !== undefined ? { nextFault: world.nextFault } : {}),
    defaultServer: model.defaultServer,
    hasDefaultKey: model.defaultApiKey !== undefined && model.defaultApiKey !== '',
    ...(model.ui.prompt !== null && MODEL_PROMPTS.has(model.ui.prompt.kind)
      ? { modelIds: promptModelChoices(model)?.ids ?? [] }
      : {}),
    now: world.now,
    serverRows: serverRowsForKeys(model),
  };
}

/** What the open model prompt offers (the ids its server lists, and how asking went); undefined in any other. */
export function promptModelChoices(model: DashboardModel): ModelChoices | undefined {
  const prompt = model.ui.prompt;
  if (prompt === null || !MODEL_PROMPTS.has(prompt.kind) || prompt.server === undefined) return undefined;
  const root = serviceRoot(prompt.server);
  return modelChoices(model.modelLists[root], model.servers[root]);
}

const unchanged = (model: DashboardModel): Update => ({ model, effects: [] });

/** Applies one action. Pure. */
export function updateDashboard(model: DashboardModel, action: DashboardAction): Update {
  if (model.closed) return unchanged(model);
  switch (action.type) {
    case 'key': {
      const routed = routeKey(model.ui, action.key, keyContext(model, action.world));
      const refused = model.replay ? liveOnly(model.ui, routed) : null;
      if (refused !== null) return unchanged({ ...model, notice: { text: refused, tone: 'warn' } });
      let next: Update = { model: { ...model, notice: null, ui: routed.ui }, effects: [] };
      for (const command of routed.commands) {
        if (next.model.closed) break;
        const applied = runCommand(next.model, command);
        next = { model: applied.model, effects: [...next.effects, ...applied.effects] };
      }
      return next;
    }
    case 'add-session':
      return addSession(model, action.spec);
    case 'session':
    case 'server':
      return applyReports(model, [action]);
    case 'batch':
      return applyReports(model, action.reports);
    case 'notice':
      return unchanged({ ...model, notice: { text: action.text, tone: action.tone } });
    case 'default-server':
      return unchanged({ ...model, defaultServer: action.url });
    case 'chat-refused': {
      const tag = model.sessions[action.id]?.state.tag ?? action.id;
      return unchanged({
        ...model,
        notice: { text: `${tag}: a reply is still streaming; send again once it ends`, tone: 'warn' },
      });
    }
    case 'models-listed': {
      const { outcome } = action;
      const list = reduceModelList(
        model.modelLists[action.root],
        outcome.ok
          ? { type: 'listed', ids: outcome.ids }
          : { type: 'failed', message: redactSecrets(outcome.message, model.secrets) },
      );
      return unchanged({ ...model, modelLists: { ...model.modelLists, [action.root]: list } });
    }
    case 'unload-done':
      return unloadDone(model, action);
    case 'server-action-done':
      return serverActionDone(model, action);
    case 'sessions-written':
    case 'sessions-exist':
      return sessionsSaved(model, action);
    case 'shutdown':
      return { model: { ...model, closed: true }, effects: [{ type: 'quit' }] };
    default: {
      const never: never = action;
      throw new TypeError(`unknown dashboard action ${JSON.stringify(never)}`);
    }
  }
}

/** How a cancel or unload ended: a notice, and a session whose own unload went through says so at once. */
function unloadDone(model: DashboardModel, action: Extract<DashboardAction, { type: 'unload-done' }>): Update {
  const entry = model.sessions[action.id];
  const tag = entry?.state.tag ?? action.id;
  const sessions =
    entry !== undefined && action.kind === 'unload' && action.failure === null
      ? { ...model.sessions, [action.id]: { ...entry, state: unloadedBySession(entry.state, action.at) } }
      : model.sessions;
  const what = action.kind === 'cancel' ? 'cancel the load of' : 'unload';
  return unchanged({
    ...model,
    sessions,
    notice:
      action.failure === null
        ? {
            text:
              action.kind === 'cancel'
                ? `${tag}: cancelled the load of ${action.model} for every client following it`
                : `${tag}: unloaded ${action.model} from the server's memory`,
            tone: 'ok',
          }
        : { text: `${tag}: could not ${what} ${action.model}: ${action.failure.message}`, tone: 'error' },
  });
}

/** How writing the sessions went: the file they are now in, or a prompt that says the file exists. */
function sessionsSaved(
  model: DashboardModel,
  action: Extract<DashboardAction, { type: 'sessions-written' | 'sessions-exist' }>,
): Update {
  if (action.type === 'sessions-written') {
    return unchanged({
      ...model,
      configPath: action.path,
      savedSessions: action.signature,
      notice: { text: action.text, tone: 'ok' },
    });
  }
  const error = `${action.path} exists: Enter writes over it, or give another name`;
  return unchanged({
    ...model,
    ui: { ...model.ui, prompt: { kind: 'save-sessions', text: action.path, overwrite: action.path, error } },
  });
}

function runCommand(model: DashboardModel, command: Command): Update {
  switch (command.type) {
    case 'quit':
      return quit(model, command.saves);
    case 'save-sessions':
      return {
        model,
        effects: [
          { type: 'write-sessions', path: command.path, overwrite: command.overwrite, sessions: taggedSpecs(model) },
        ],
      };
    case 'retry':
      return model.sessions[command.sessionId] === undefined
        ? unchanged(model)
        : { model, effects: [{ type: 'retry', id: command.sessionId }] };
    case 'close':
      return closeSession(model, command.sessionId);
    case 'cancel':
    case 'unload':
      return unloadSession(model, command.sessionId, command.type);
    case 'send':
      return sendChat(model, command.sessionId, command.text);
    case 'set-chat':
      return setChat(model, command);
    case 'stop':
      return model.sessions[command.sessionId]?.state.chatBusy === true
        ? { model, effects: [{ type: 'stop-chat', id: command.sessionId }] }
        : unchanged(model);
    case 'add':
      return addTypedSession(model, command);
    case 'edit':
      return editSession(model, command);
    case 'save-log': {
      const filter = { session: model.ui.log.filterSession, text: model.ui.log.filterText };
      return { model, effects: [{ type: 'save-log', path: command.path, filter }] };
    }
    case 'list-models':
      return listModels(model, command);
    case 'notice':
      return unchanged({ ...model, notice: { text: command.text, tone: 'warn' } });
    case 'replay':
      return { model, effects: [{ type: 'replay', action: command.action }] };
    case 'server-action':
      return runServerAction(model, command);
    default: {
      const never: never = command;
      throw new TypeError(`unknown command ${JSON.stringify(never)}`);
    }
  }
}

/**
 * Quit: at once, or once what the quit dialog listed is saved (the log to a new file, the sessions to their config
 * file); until then the dashboard stays as it is, saying so.
 */
function quit(model: DashboardModel, saves: Extract<Command, { type: 'quit' }>['saves']): Update {
  if (saves === undefined || (saves.log === undefined && saves.sessions === undefined)) {
    return { model: { ...model, closed: true }, effects: [{ type: 'quit' }] };
  }
  const what = [saves.log ?? '', saves.sessions ?? ''].filter((x) => x !== '').join(' and ');
  return {
    model: { ...model, notice: { text: `saving ${what} before quitting…`, tone: 'accent' } },
    effects: [
      {
        type: 'save-and-quit',
        ...(saves.log !== undefined ? { log: saves.log } : {}),
        ...(saves.sessions !== undefined ? { sessions: { path: saves.sessions, sessions: taggedSpecs(model) } } : {}),
      },
    ],
  };
}

/** `C` or `U` confirmed: ask the server to cancel the session's load (only while one runs) or to unload its model. */
function unloadSession(model: DashboardModel, id: string, kind: 'cancel' | 'unload'): Update {
  const entry = model.sessions[id];
  if (entry === undefined) return unchanged(model);
  // The key router refuses these on a read-only session already; this is the last word before the wire.
  if (isReadOnly(model, id)) {
    return unchanged({ ...model, notice: { text: `read-only: ${kind} is off`, tone: 'warn' } });
  }
  const loading = isLoading(entry.state);
  if (kind === 'cancel' && !loading) {
    return unchanged({
      ...model,
      notice: { text: `${entry.state.tag}: no load is running to cancel (U unloads the model)`, tone: 'warn' },
    });
  }
  return {
    model,
    effects: [
      {
        type: 'unload',
        id,
        kind,
        server: entry.spec.server,
        model: entry.state.resolvedModel ?? entry.spec.model,
        apiKey: entry.spec.apiKey,
      },
    ],
  };
}

/** A message typed to the session: sent with the conversation so far, after its system prompt when it has one. */
function sendChat(model: DashboardModel, id: string, text: string): Update {
  const entry = model.sessions[id];
  if (entry === undefined) return unchanged(model);
  const { system, ...sampling } = entry.spec.chat ?? {};
  const messages: ChatTurn[] = [
    ...(system !== undefined && system !== '' ? [{ role: 'system' as const, content: system }] : []),
    ...chatHistory(entry.state),
    { role: 'user', content: text },
  ];
  return { model, effects: [{ type: 'send-chat', id, messages, sampling }] };
}

/** `o` answered: the session's chat settings, and a notice saying what they are now. */
function setChat(model: DashboardModel, command: Extract<Command, { type: 'set-chat' }>): Update {
  const entry = model.sessions[command.sessionId];
  if (entry === undefined) return unchanged(model);
  const spec = { ...entry.spec, chat: command.chat };
  const shown = formatChatSettings(command.chat);
  return unchanged({
    ...model,
    sessions: { ...model.sessions, [command.sessionId]: { ...entry, spec } },
    notice: {
      text: `${entry.state.tag}: chat settings ${shown === '' ? 'cleared (server defaults)' : shown}`,
      tone: 'ok',
    },
  });
}

/** `a` answered: the new session opens, focused. */
function addTypedSession(model: DashboardModel, command: Extract<Command, { type: 'add' }>): Update {
  // The prompt stated the default (the key of the first session on the same server, else --api-key's): an empty
  // answer takes it, `-` takes none, anything else is the key.
  const inherited = command.apiKey === undefined ? inheritedKey(model, serviceRoot(command.server)) : undefined;
  const apiKey = command.apiKey === undefined ? inherited?.apiKey : (command.apiKey ?? undefined);
  const keyOrigin: KeyOrigin | undefined = command.apiKey === undefined ? inherited?.keyOrigin : { kind: 'typed' };
  const added = addSession(model, {
    server: command.server,
    model: command.model,
    ...(apiKey ? { apiKey, ...(keyOrigin !== undefined ? { keyOrigin } : {}) } : {}),
  });
  const ui: UiState = {
    ...added.model.ui,
    focus: added.model.order.length - 1,
    logFocused: false,
    composing: false,
  };
  return { model: { ...added.model, ui }, effects: added.effects };
}

function addSession(model: DashboardModel, spec: SessionSpec): Update {
  const opened = model.opened + 1;
  const id = `s${opened}`;
  // A configured name is the tag, unless an open session already shows it (then the id, so tags stay unique).
  const taken = spec.name !== undefined && model.order.some((other) => model.sessions[other]?.state.tag === spec.name);
  const tag = spec.name !== undefined && !taken ? spec.name : id;
  const state = createSessionState({ id, tag, server: spec.server, model: spec.model });
  const secrets = spec.apiKey && !model.secrets.includes(spec.apiKey) ? [...model.secrets, spec.apiKey] : model.secrets;
  const root = serviceRoot(spec.server);
  const known = model.servers[root] !== undefined;
  const effects: Effect[] = [{ type: 'start-session', id, spec: started(model, spec) }];
  if (!known) effects.push({ type: 'open-feed', root, apiKey: spec.apiKey });
  const sessions = { ...model.sessions, [id]: { spec, state } };
  const order = [...model.order, id];
  return {
    model: {
      ...model,
      opened,
      secrets,
      sessions,
      order,
      servers: known ? model.servers : { ...model.servers, [root]: createServerState(root) },
      serverSessions: sessionsByRoot(order, sessions),
    },
    effects,
  };
}

/**
 * Reopens a session on new values: its streams close, a new load starts on the new server, model and key, and it
 * keeps its id, tag and transcript (a wrong key is fixed without losing the conversation or restarting).
 */
function editSession(model: DashboardModel, command: Extract<Command, { type: 'edit' }>): Update {
  const entry = model.sessions[command.sessionId];
  if (entry === undefined) return unchanged(model);
  // A key kept keeps where it came from; a key typed is typed.
  const apiKey = command.apiKey === undefined ? entry.spec.apiKey : (command.apiKey ?? undefined);
  const keyOrigin: KeyOrigin | undefined =
    command.apiKey === undefined ? entry.spec.keyOrigin : command.apiKey === null ? undefined : { kind: 'typed' };
  const { apiKey: _old, keyOrigin: _oldOrigin, ...rest } = entry.spec;
  const spec: SessionSpec = {
    ...rest,
    server: command.server,
    model: command.model,
    ...(apiKey !== undefined ? { apiKey, ...(keyOrigin !== undefined ? { keyOrigin } : {}) } : {}),
  };
  const fresh = createSessionState({
    id: entry.state.id,
    tag: entry.state.tag,
    server: spec.server,
    model: spec.model,
  });
  // A reply that was streaming is cut off by the close: keep what came, not the streaming mark.
  const transcript = entry.state.transcript.map((e) => (e.streaming ? { ...e, streaming: false } : e));
  const state: SessionState = { ...fresh, transcript };
  const secrets = apiKey && !model.secrets.includes(apiKey) ? [...model.secrets, apiKey] : model.secrets;
  const sessions = { ...model.sessions, [command.sessionId]: { spec, state } };
  const effects: Effect[] = [
    { type: 'close-session', id: command.sessionId },
    { type: 'start-session', id: command.sessionId, spec: started(model, spec) },
  ];
  let servers = model.servers;
  const oldRoot = serviceRoot(entry.spec.server);
  const newRoot = serviceRoot(spec.server);
  if (oldRoot !== newRoot) {
    const stillUsed = model.order.some(
      (other) => other !== command.sessionId && serviceRoot(model.sessions[other]?.spec.server ?? '') === oldRoot,
    );
    if (!stillUsed) {
      const { [oldRoot]: _gone, ...others } = servers;
      servers = others;
      effects.push({ type: 'close-feed', root: oldRoot });
    }
    if (servers[newRoot] === undefined) {
      servers = { ...servers, [newRoot]: createServerState(newRoot) };
      effects.push({ type: 'open-feed', root: newRoot, apiKey: spec.apiKey });
    }
  }
  return {
    model: {
      ...model,
      sessions,
      servers,
      serverSessions: sessionsByRoot(model.order, sessions),
      secrets,
      ui: { ...model.ui, composing: false },
    },
    effects,
  };
}

function closeSession(model: DashboardModel, id: string): Update {
  if (model.sessions[id] === undefined) return unchanged(model);
  const { [id]: _closed, ...sessions } = model.sessions;
  const order = model.order.filter((x) => x !== id);
  const { [id]: _input, ...inputs } = model.ui.inputs;
  const { [id]: _cursor, ...cursors } = model.ui.cursors;
  const { [id]: _history, ...histories } = model.ui.histories;
  const ui: UiState = {
    ...model.ui,
    inputs,
    cursors,
    histories,
    composing: false,
    focus: Math.max(0, Math.min(model.ui.focus, order.length - 1)),
    log:
      model.ui.log.filterSession === model.sessions[id]?.state.tag
        ? { ...model.ui.log, filterSession: null }
        : model.ui.log,
  };
  const root = serviceRoot(model.sessions[id]?.spec.server ?? '');
  const stillUsed = order.some((other) => serviceRoot(model.sessions[other]?.spec.server ?? '') === root);
  const effects: Effect[] = [{ type: 'close-session', id }];
  let servers = model.servers;
  if (!stillUsed) {
    const { [root]: _gone, ...rest } = model.servers;
    servers = rest;
    effects.push({ type: 'close-feed', root });
  }
  return {
    model: { ...model, sessions, order, ui, servers, serverSessions: sessionsByRoot(order, sessions) },
    effects,
  };
}

/**
 * A model prompt opened: ask the server for its ids unless it was asked (or is polled). The key is the one the
 * session would use: the edited session's own, else a session's on that server, else `--api-key`'s.
 */
function listModels(model: DashboardModel, command: Extract<Command, { type: 'list-models' }>): Update {
  const root = serviceRoot(command.server);
  const list = model.modelLists[root];
  if (!shouldAsk(list, model.servers[root])) return unchanged(model);
  const editing = command.sessionId !== undefined ? model.sessions[command.sessionId]?.spec : undefined;
  const apiKey = editing?.apiKey ?? keyFor(model, root) ?? model.defaultApiKey;
  return {
    model: { ...model, modelLists: { ...model.modelLists, [root]: reduceModelList(list, { type: 'asked' }) } },
    effects: [{ type: 'list-models', root, apiKey: apiKey === '' ? undefined : apiKey }],
  };
}

/** The spec a session's I/O starts with: `--read-only` makes it watch-only (the model keeps the spec as given). */
function started(model: DashboardModel, spec: SessionSpec): SessionSpec {
  return model.readOnly && spec.readOnly !== true ? { ...spec, readOnly: true } : spec;
}

/** What an empty answer at the add prompt's key step takes: a session's key on `root`, else `--api-key`'s. */
function inheritedKey(model: DashboardModel, root: string): { apiKey: string; keyOrigin?: KeyOrigin } | undefined {
  for (const id of model.order) {
    const spec = model.sessions[id]?.spec;
    if (spec && spec.apiKey && serviceRoot(spec.server) === root) {
      return { apiKey: spec.apiKey, ...(spec.keyOrigin !== undefined ? { keyOrigin: spec.keyOrigin } : {}) };
    }
  }
  if (!model.defaultApiKey) return undefined;
  return {
    apiKey: model.defaultApiKey,
    ...(model.defaultKeyOrigin !== undefined ? { keyOrigin: model.defaultKeyOrigin } : {}),
  };
}

/** The key of the first session on `root` that has one. */
export function keyFor(model: DashboardModel, root: string): string | undefined {
  for (const id of model.order) {
    const spec = model.sessions[id]?.spec;
    if (spec && spec.apiKey && serviceRoot(spec.server) === root) return spec.apiKey;
  }
  return undefined;
}

/** The servers in the order their first session appeared. */
export function serverStates(model: DashboardModel): ServerState[] {
  return Object.values(model.servers);
}

/** What the view model reads: the model, with the two logs beside it, the screen's size and the time. */
export function viewInputOf(
  model: DashboardModel,
  log: EventLog,
  journal: readonly JournalEntry[],
  size: ScreenSize,
  now: number,
): ViewInput {
  return {
    sessions: sessionStates(model),
    ui: model.ui,
    log,
    size,
    now,
    notice: model.notice,
    defaultServer: model.defaultServer,
    servers: serverStates(model),
    journal,
    modelChoices: promptModelChoices(model),
    serverRows: serverRowsForKeys(model),
  };
}

/**
 * The text a server sends back (failure messages, error events, chat text) is shown on screen: a server that echoes
 * the `Authorization` header must not put a key there, so every configured key is redacted from it, as it is from the
 * event log.
 */
export function redactUpdate(update: SessionUpdate, secrets: readonly string[]): SessionUpdate {
  if (secrets.length === 0) return update;
  switch (update.type) {
    case 'failed':
    case 'chat-failed':
      return { ...update, failure: { ...update.failure, message: redactSecrets(update.failure.message, secrets) } };
    case 'event':
      return update.event.status === 'error'
        ? { ...update, event: { ...update.event, message: redactSecrets(update.event.message, secrets) } }
        : update;
    case 'chat-delta':
      return { ...update, text: redactSecrets(update.text, secrets) };
    case 'connecting':
    case 'accepted':
    case 'chat-sent':
    case 'chat-done':
    case 'chat-stopped':
      return update;
    default: {
      const never: never = update;
      return never;
    }
  }
}
