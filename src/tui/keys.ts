/**
 * The dashboard's one key router: every key press goes through {@link routeKey}, a pure function from the UI state
 * and a key to the next UI state and the commands to run. One handler (rather than blessed text boxes reading input
 * on their own) is what keeps keystrokes from being lost or doubled when focus moves.
 *
 * Modes, in order of precedence: Ctrl-C always quits; the help overlay takes any key to close; a prompt (add a
 * session, filter, save path) takes text until Enter or Esc; the log pane has its own keys; a session either takes
 * command keys or, while composing a message, text.
 */

import { serviceRoot } from '../client/server-url.js';
import { parseModelId } from '../protocol/model-id.js';
import { formatChatSettings, parseChatSettings, type ChatSettings } from './chat-settings.js';
import { EMPTY_HISTORY, remember, stopWalking, walk, type InputHistory } from './input-history.js';
import { editLine, lineAt, type LineAction, type LineEdit } from './line-edit.js';
import { completeModelId, type ModelCompletion } from './model-completion.js';

/** A key as blessed reports it, reduced to what the router reads. */
export interface KeyPress {
  /** blessed's key name (`tab`, `enter`, `backspace`, `up`, `a`), if any. */
  readonly name?: string | undefined;
  /** The character typed, if any. */
  readonly ch?: string | undefined;
  readonly ctrl?: boolean;
  readonly shift?: boolean;
  readonly meta?: boolean;
}

/** The kinds of one-line prompt. */
export type PromptKind =
  | 'add-server'
  | 'add-model'
  | 'add-key'
  | 'edit-server'
  | 'edit-model'
  | 'edit-key'
  /** A session's chat settings, as {@link formatChatSettings} writes them. */
  | 'options'
  | 'filter'
  | 'save'
  | 'close'
  | 'cancel'
  | 'unload'
  | 'quit';

/** The prompts whose text is an API key: shown masked, never as typed. */
export const KEY_PROMPTS: ReadonlySet<PromptKind> = new Set(['add-key', 'edit-key']);

/** The prompts that ask for a model id: Tab completes it from the ids the server lists. */
export const MODEL_PROMPTS: ReadonlySet<PromptKind> = new Set(['add-model', 'edit-model']);

/** The prompts that only ask y or n about one session. */
const CONFIRMATIONS: ReadonlySet<PromptKind> = new Set(['close', 'cancel', 'unload']);

/** A one-line prompt in the status bar. */
export interface Prompt {
  readonly kind: PromptKind;
  readonly text: string;
  /** Where the cursor is in {@link Prompt.text}, in code points ({@link LineEdit}); absent: at the end. */
  readonly cursor?: number;
  /** For `add-model`, `add-key`, `edit-model` and `edit-key`: the server chosen in the first step. */
  readonly server?: string;
  /** For `add-key` and `edit-key`: the model chosen in the second step. */
  readonly model?: string;
  /**
   * For `add-key`: what an empty Enter uses (`key of s2`, `the --api-key key`, `no key`); for `edit-key`: `keep` (the
   * session has a key, shown as •••) or `no key`.
   */
  readonly keyDefault?: string;
  /** For `close`, `cancel`, `unload` and the `edit-*` steps: the session it is about. */
  readonly sessionId?: string;
  /** Why the last Enter was refused. */
  readonly error?: string;
  /** For `add-model` and `edit-model`: where Tab's cycle through the server's ids stands. */
  readonly completing?: ModelCompletion;
}

/** Where the log view stands. */
export interface LogViewState {
  /** Not following: the view stays at {@link LogViewState.pausedAtSeq}. */
  readonly paused: boolean;
  /** The newest seq shown while paused. */
  readonly pausedAtSeq: number;
  /** Matching lines scrolled up from the bottom of the view. */
  readonly scroll: number;
  /** Case-insensitive text filter, `''` for none. */
  readonly filterText: string;
  /** Session tag filter, `null` for all. */
  readonly filterSession: string | null;
  /**
   * What the pane shows: `frames`, the frames' payloads; `debug`, the wire journal (time, session, stream, gap,
   * payload, stall and fault marks); `wire`, the journal's lines exactly as sent. `v` cycles.
   */
  readonly view: LogView;
  /** In `debug` and `wire`: the cursor, in lines up from the newest. */
  readonly cursor: number;
  /** In `debug` and `wire`: the newest journal seq shown while paused. */
  readonly pausedAtJournalSeq: number;
  /** The inspector is open on the cursor's entry. */
  readonly inspecting: boolean;
  /** Lines the inspector is scrolled down. */
  readonly inspectorScroll: number;
}

/** The log pane's views, in the order `v` cycles them. */
export type LogView = 'frames' | 'debug' | 'wire';

const LOG_VIEWS: readonly LogView[] = ['frames', 'debug', 'wire'];

/** What `f` zooms to the full screen. */
export type Zoom = 'session' | 'log' | null;

/** Everything the keyboard changes. */
export interface UiState {
  /** Index of the focused session (kept while the log has focus). */
  readonly focus: number;
  readonly logFocused: boolean;
  readonly help: boolean;
  /** The help page shown, from 0 (the help is paged when it does not fit the screen). */
  readonly helpPage: number;
  /** The session grid gives way to one pane per server (every model on it, live from its feed). */
  readonly serverView: boolean;
  /** One pane has the whole screen (`f`): the focused session, or the log; `null` for the grid. */
  readonly zoom: Zoom;
  /** The focused session's input line takes text. */
  readonly composing: boolean;
  /** Input line text per session id. */
  readonly inputs: Readonly<Record<string, string>>;
  /** Where the cursor is on each session's input line, in code points ({@link LineEdit}); absent: at the end. */
  readonly cursors: Readonly<Record<string, number>>;
  /** The messages each session sent, for Up / Down while typing. */
  readonly histories: Readonly<Record<string, InputHistory>>;
  /** Transcript lines scrolled back per session id (absent or 0: following the newest). */
  readonly scrolls: Readonly<Record<string, number>>;
  readonly prompt: Prompt | null;
  readonly log: LogViewState;
}

/** What the router needs to know about the world. */
export interface KeyContext {
  readonly sessions: readonly {
    readonly id: string;
    readonly tag: string;
    readonly server: string;
    /** The model as the session was opened with (prefills `e`). */
    readonly model?: string;
    /** The session has an API key (the key itself never reaches the router). */
    readonly hasKey?: boolean;
    /** The model is ready (or cached) for chat. */
    readonly canChat: boolean;
    /** Its chat settings, which `o` edits. */
    readonly chat?: ChatSettings;
    /** A reply is streaming in this session: a new message waits until it ends. */
    readonly replying?: boolean;
    /** Its load is running (connecting, loading or reconnecting): quitting asks first. */
    readonly loading?: boolean;
    /** It has a transcript, which quitting would lose: quitting asks first. */
    readonly hasTranscript?: boolean;
    /** The furthest its transcript scrolls back on screen (lines), where PgUp stops; absent: no bound known. */
    readonly scrollLimit?: number;
  }[];
  /** The newest log seq (where a pause starts). */
  readonly lastSeq: number;
  /** Lines in one page of the log view. */
  readonly logPage: number;
  /** Pages the help overlay has at this screen size (1 when it fits). */
  readonly helpPages?: number;
  /** The newest wire journal seq (where a pause of the debug views starts). */
  readonly lastJournalSeq?: number;
  /** Where `n` moves the debug views' cursor (lines up from the newest), `null` when no line has a fault. */
  readonly nextFault?: number | null;
  /** Offered when adding a session and the user types no server. */
  readonly defaultServer: string;
  /** There is a dashboard-wide key (`--api-key`) for servers no session has a key for. */
  readonly hasDefaultKey?: boolean;
  /** In a model prompt: the ids its server lists (what Tab completes from). */
  readonly modelIds?: readonly string[];
  /** Milliseconds since the epoch (for the default file name). */
  readonly now: number;
}

/** Side effects for the dashboard to run. */
export type Command =
  | { readonly type: 'quit' }
  /** A replay's pause / resume, or its single step (nothing outside `modeldeck replay`). */
  | { readonly type: 'replay'; readonly action: 'toggle' | 'step' }
  | { readonly type: 'retry'; readonly sessionId: string }
  | { readonly type: 'close'; readonly sessionId: string }
  /** Cancel the session's load on its server (`POST /unload_model` while it loads). */
  | { readonly type: 'cancel'; readonly sessionId: string }
  /** Unload the session's model from its server's memory. */
  | { readonly type: 'unload'; readonly sessionId: string }
  | { readonly type: 'send'; readonly sessionId: string; readonly text: string }
  /** Replace the session's chat settings (the next request uses them). */
  | { readonly type: 'set-chat'; readonly sessionId: string; readonly chat: ChatSettings }
  /** Stop the reply streaming in the session, keeping what arrived. */
  | { readonly type: 'stop'; readonly sessionId: string }
  /** `apiKey`: the key typed, `null` for none (`-`), absent for the default the prompt stated. */
  | { readonly type: 'add'; readonly server: string; readonly model: string; readonly apiKey?: string | null }
  /** Reopen the session on new values, keeping its tag and transcript; `apiKey` absent keeps its key. */
  | {
      readonly type: 'edit';
      readonly sessionId: string;
      readonly server: string;
      readonly model: string;
      readonly apiKey?: string | null;
    }
  | { readonly type: 'save-log'; readonly path: string }
  /** A model prompt opened on `server`: have its model ids for Tab (asking `GET /v1/models` if not asked yet). */
  | { readonly type: 'list-models'; readonly server: string; readonly sessionId?: string }
  | { readonly type: 'notice'; readonly text: string };

/** What {@link routeKey} returns. */
export interface KeyResult {
  readonly ui: UiState;
  readonly commands: readonly Command[];
}

/** The initial UI state. */
export function createUiState(): UiState {
  return {
    focus: 0,
    logFocused: false,
    help: false,
    helpPage: 0,
    serverView: false,
    zoom: null,
    composing: false,
    inputs: {},
    cursors: {},
    histories: {},
    scrolls: {},
    prompt: null,
    log: {
      paused: false,
      pausedAtSeq: 0,
      scroll: 0,
      filterText: '',
      filterSession: null,
      view: 'frames',
      cursor: 0,
      pausedAtJournalSeq: 0,
      inspecting: false,
      inspectorScroll: 0,
    },
  };
}

/** Every key, for the help overlay: [keys, what they do]. */
export const KEY_HELP: readonly (readonly [string, string])[] = [
  ['Tab / Shift-Tab', 'next / previous session'],
  ['1–9', 'jump to session 1–9 (in screen order; not while typing, where digits are text)'],
  ['Enter or i', 'type a chat message in the focused session; until then letters are commands, never text'],
  ['Enter (typing)', 'send the message; Esc stops typing'],
  ['Left Right Home End', 'move on the line being typed (message or prompt); Ctrl-A Ctrl-E too, Alt-B Alt-F by word'],
  [
    'Ctrl-U Ctrl-K Ctrl-W',
    'delete to the start / the end / the word before the cursor; Backspace or Ctrl-H, Del one character',
  ],
  ['Up / Down (typing)', 'walk back / forward through the messages sent in this session; the draft comes back'],
  ['o', 'chat settings of the focused session: temperature= maxTokens= seed= system=… (the next message uses them)'],
  ['PgUp / PgDn', 'scroll the focused session’s transcript back / forward (typing or not); at the bottom it follows'],
  ['Ctrl-X', 'stop the focused session’s reply while it streams (typing or not); the partial reply is kept'],
  ['a', 'add a session (asks for the server, the model, then the API key: Enter takes the default shown, - none)'],
  ['Tab (model)', 'complete a model id from the server; again cycles'],
  [
    'e',
    'edit the focused session: server, model and API key, prefilled (Enter keeps the key, - none); reopens it, keeping its tag and transcript',
  ],
  ['r', 'retry the focused session now (after an error or while reconnecting)'],
  ['x', 'close the focused session (y confirms)'],
  ['c', 'cancel the focused session’s load on its server, for every client following it (y confirms)'],
  ['u', 'unload the focused session’s model from its server’s memory (y confirms)'],
  ['v', 'server view below the sessions: every model on each server (state, stage, progress, subscribers, size), live'],
  ['f', 'zoom the focused session to the full screen (its load detail too); f or Esc returns'],
  ['l', 'focus the event log (Tab, Esc or l goes back)'],
  ['space (log)', 'follow / pause the log; paused shows how many lines are new'],
  ['Up Down PgUp PgDn (log)', 'scroll the log (scrolling up pauses); End follows again'],
  ['f (log)', 'zoom the log to the full screen; f returns'],
  ['k / j (log)', 'scroll the log up / down one line, like Up / Down'],
  ['G (log)', 'follow the log again, like End'],
  ['/ (log)', 'filter the log by text (empty clears)'],
  ['s (log)', 'filter the log by session (cycles through sessions, then all)'],
  [
    'w (log)',
    'save: a .jsonl name saves the whole filtered history (for replay); a .txt name, or any in the debug views, exactly the lines shown',
  ],
  ['v (log)', 'cycle the log view: frames, debug (time, stream, gap, stalls, lint marks), wire (bytes as sent)'],
  ['Up Down (debug)', 'move the cursor (moving up pauses); Enter opens the inspector, Esc closes it'],
  ['PgUp PgDn (inspector)', 'scroll the inspector'],
  ['n (debug)', 'move the cursor to the next frame with a lint fault'],
  ['space (replay)', 'pause / resume a replay (modeldeck replay; in the log pane space follows or pauses the log)'],
  ['. (replay)', 'play the next saved line of a replay (pausing first)'],
  ['?', 'this help (PgDn / space: next page where it has several; any other key closes it)'],
  ['q / Ctrl-C', 'quit (q asks first while loads run or transcripts exist; Ctrl-C quits at once)'],
];

function isPrintable(key: KeyPress): key is KeyPress & { ch: string } {
  if (key.ctrl || key.meta || typeof key.ch !== 'string' || key.ch.length === 0) return false;
  const code = key.ch.codePointAt(0) ?? 0;
  return code >= 0x20 && code !== 0x7f && !/[\r\n\t\x1b]/.test(key.ch);
}

function isBackspace(key: KeyPress): boolean {
  return key.name === 'backspace' || (key.ctrl === true && key.name === 'h');
}

/** blessed reports Enter as `enter` (and then as `return`, which the renderer drops): only `enter` counts. */
function isEnter(key: KeyPress): boolean {
  return key.name === 'enter';
}

function isTab(key: KeyPress): 'next' | 'previous' | undefined {
  if (key.name !== 'tab') return undefined;
  return key.shift ? 'previous' : 'next';
}

/** Lines one PgUp / PgDn moves a transcript. */
const TRANSCRIPT_PAGE = 5;

const done = (ui: UiState, ...commands: Command[]): KeyResult => ({ ui, commands });

/** Routes one key press. Pure. */
export function routeKey(ui: UiState, key: KeyPress, ctx: KeyContext): KeyResult {
  if (key.ctrl && key.name === 'c') return done(ui, { type: 'quit' });
  if (ui.help) return routeHelp(ui, key, ctx);
  if (ui.prompt !== null) return routePrompt(ui, ui.prompt, key, ctx);
  // Ctrl-X stops the focused session's reply, typing or not: no printable key does, so no message can.
  if (key.ctrl && key.name === 'x') {
    const session = ctx.sessions[ui.focus];
    if (session?.replying !== true) return done(ui, { type: 'notice', text: 'no reply is streaming to stop' });
    return done(ui, { type: 'stop', sessionId: session.id });
  }
  if (ui.logFocused) return routeLog(ui, key, ctx);
  return routeSession(ui, key, ctx);
}

/** A paged help: PgDn, Down or space turn the page (space closes on the last), PgUp or Up back; any other key closes. */
function routeHelp(ui: UiState, key: KeyPress, ctx: KeyContext): KeyResult {
  const last = Math.max(0, (ctx.helpPages ?? 1) - 1);
  const page = Math.min(ui.helpPage, last);
  if (key.name === 'pagedown' || key.name === 'down' || key.name === 'space' || key.ch === ' ') {
    if (page < last) return done({ ...ui, helpPage: page + 1 });
    if (key.name !== 'space' && key.ch !== ' ') return done(ui);
  }
  if (key.name === 'pageup' || key.name === 'up') return done({ ...ui, helpPage: Math.max(0, page - 1) });
  return done({ ...ui, help: false, helpPage: 0 });
}

function routePrompt(ui: UiState, prompt: Prompt, key: KeyPress, ctx: KeyContext): KeyResult {
  if (key.name === 'escape') return done({ ...ui, prompt: null });
  // Closing drops a session's transcript, cancelling and unloading act on a shared server: one stray key must not do
  // it, so it takes y (or Enter) to confirm.
  if (prompt.kind === 'quit') {
    if (key.name === 'return') return done(ui);
    const yes = key.ch === 'y' || key.ch === 'Y' || isEnter(key);
    return yes ? done({ ...ui, prompt: null }, { type: 'quit' }) : done({ ...ui, prompt: null });
  }
  if (CONFIRMATIONS.has(prompt.kind)) {
    const yes = key.ch === 'y' || key.ch === 'Y' || isEnter(key);
    if (key.name === 'return') return done(ui);
    return yes && prompt.sessionId !== undefined
      ? done(
          { ...ui, prompt: null },
          { type: prompt.kind as 'close' | 'cancel' | 'unload', sessionId: prompt.sessionId },
        )
      : done({ ...ui, prompt: null });
  }
  const tab = isTab(key);
  if (tab !== undefined && MODEL_PROMPTS.has(prompt.kind)) {
    // The completed id ends with the cursor after it.
    const { error: _dropped, completing: _cycle, cursor: _cursor, ...rest } = prompt;
    const next = completeModelId(prompt.text, prompt.completing, ctx.modelIds ?? [], tab);
    return done({ ...ui, prompt: { ...rest, ...next } });
  }
  if (isEnter(key)) return submitPrompt(ui, prompt, ctx);
  const action = lineAction(key);
  if (action === undefined) return done(ui);
  const before = lineAt(prompt.text, prompt.cursor);
  const line = editLine(before, action);
  if (line.text === prompt.text) {
    return line.cursor === before.cursor ? done(ui) : done({ ...ui, prompt: { ...prompt, cursor: line.cursor } });
  }
  // A changed text drops the refusal of the last Enter.
  const { error: _dropped, ...rest } = prompt;
  return done({ ...ui, prompt: { ...rest, text: line.text, cursor: line.cursor } });
}

/** What a key does to a line being typed (the chat input, a prompt), as a shell's line editor does; or nothing. */
function lineAction(key: KeyPress): LineAction | undefined {
  if (isPrintable(key)) return { type: 'insert', text: key.ch };
  if (isBackspace(key)) return key.meta ? { type: 'kill-word' } : { type: 'backspace' };
  if (key.meta) {
    if (key.name === 'b') return { type: 'word-left' };
    if (key.name === 'f') return { type: 'word-right' };
    return undefined;
  }
  if (key.ctrl) {
    switch (key.name) {
      case 'a':
        return { type: 'home' };
      case 'e':
        return { type: 'end' };
      case 'u':
        return { type: 'kill-start' };
      case 'k':
        return { type: 'kill-end' };
      case 'w':
        return { type: 'kill-word' };
      case 'left':
        return { type: 'word-left' };
      case 'right':
        return { type: 'word-right' };
      default:
        return undefined;
    }
  }
  switch (key.name) {
    case 'left':
    case 'right':
    case 'home':
    case 'end':
    case 'delete':
      return { type: key.name };
    default:
      return undefined;
  }
}

function submitPrompt(ui: UiState, prompt: Prompt, ctx: KeyContext): KeyResult {
  const text = prompt.text.trim();
  switch (prompt.kind) {
    case 'add-server': {
      const server = text === '' ? ctx.defaultServer : text;
      const problem = checkServerUrl(server);
      if (problem !== undefined) return done({ ...ui, prompt: { ...prompt, error: problem } });
      const chosen = server.replace(/\/+$/, '');
      return done(
        { ...ui, prompt: { kind: 'add-model', text: '', server: chosen } },
        { type: 'list-models', server: chosen },
      );
    }
    case 'add-model': {
      const parsed = parseModelId(text);
      if (!parsed.ok) return done({ ...ui, prompt: { ...prompt, error: parsed.message } });
      const server = prompt.server ?? ctx.defaultServer;
      return done({
        ...ui,
        prompt: { kind: 'add-key', text: '', server, model: text, keyDefault: defaultKeyLabel(server, ctx) },
      });
    }
    case 'add-key': {
      const key = readKey(prompt.text);
      if (key !== null && typeof key === 'object') return done({ ...ui, prompt: { ...prompt, error: key.error } });
      return done(
        { ...ui, prompt: null },
        {
          type: 'add',
          server: prompt.server ?? ctx.defaultServer,
          model: prompt.model ?? '',
          ...(key !== undefined ? { apiKey: key } : {}),
        },
      );
    }
    case 'edit-server': {
      const problem = checkServerUrl(text);
      if (problem !== undefined) return done({ ...ui, prompt: { ...prompt, error: problem } });
      const session = ctx.sessions.find((s) => s.id === prompt.sessionId);
      if (session === undefined) return done({ ...ui, prompt: null });
      const server = text.replace(/\/+$/, '');
      return done(
        { ...ui, prompt: { kind: 'edit-model', text: session.model ?? '', server, sessionId: session.id } },
        { type: 'list-models', server, sessionId: session.id },
      );
    }
    case 'edit-model': {
      const parsed = parseModelId(text);
      if (!parsed.ok) return done({ ...ui, prompt: { ...prompt, error: parsed.message } });
      const session = ctx.sessions.find((s) => s.id === prompt.sessionId);
      if (session === undefined) return done({ ...ui, prompt: null });
      return done({
        ...ui,
        prompt: {
          kind: 'edit-key',
          text: '',
          server: prompt.server ?? session.server,
          model: text,
          sessionId: session.id,
          keyDefault: session.hasKey === true ? 'keep' : 'no key',
        },
      });
    }
    case 'edit-key': {
      const key = readKey(prompt.text);
      if (key !== null && typeof key === 'object') return done({ ...ui, prompt: { ...prompt, error: key.error } });
      const session = ctx.sessions.find((s) => s.id === prompt.sessionId);
      if (session === undefined) return done({ ...ui, prompt: null });
      return done(
        { ...ui, prompt: null },
        {
          type: 'edit',
          sessionId: session.id,
          server: prompt.server ?? session.server,
          model: prompt.model ?? session.model ?? '',
          ...(key !== undefined ? { apiKey: key } : {}),
        },
      );
    }
    case 'filter':
      return done({ ...ui, prompt: null, log: { ...ui.log, filterText: prompt.text, scroll: 0 } });
    case 'save': {
      if (text === '') return done({ ...ui, prompt: { ...prompt, error: 'give a file name' } });
      return done({ ...ui, prompt: null }, { type: 'save-log', path: text });
    }
    case 'options': {
      const parsed = parseChatSettings(prompt.text);
      if (!parsed.ok) return done({ ...ui, prompt: { ...prompt, error: parsed.message } });
      return prompt.sessionId === undefined
        ? done({ ...ui, prompt: null })
        : done({ ...ui, prompt: null }, { type: 'set-chat', sessionId: prompt.sessionId, chat: parsed.settings });
    }
    case 'close':
    case 'cancel':
    case 'unload':
    case 'quit':
      return done({ ...ui, prompt: null });
    default: {
      const never: never = prompt.kind;
      throw new TypeError(`unknown prompt ${String(never)}`);
    }
  }
}

/** What an empty Enter at the add-session key prompt uses, in words: the key of a session on the same server first. */
function defaultKeyLabel(server: string, ctx: KeyContext): string {
  const root = serviceRoot(server);
  const same = ctx.sessions.find((s) => s.hasKey === true && serviceRoot(s.server) === root);
  if (same !== undefined) return `key of ${same.tag}`;
  return ctx.hasDefaultKey === true ? 'the --api-key key' : 'no key';
}

/** A typed key: the key, `null` for none (`-`), undefined for the default (empty), or why it cannot be one. */
function readKey(text: string): string | null | undefined | { error: string } {
  if (text === '') return undefined;
  if (text === '-') return null;
  if (!/^[\x21-\x7e]+$/.test(text)) {
    return { error: 'the API key must be printable ASCII without spaces (it travels in an HTTP header)' };
  }
  return text;
}

/** Why `value` is not a usable server URL, or undefined when it is. */
export function checkServerUrl(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `not a URL: '${value}' (like http://127.0.0.1:8000)`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    return `the server URL must start with http:// or https://`;
  return undefined;
}

function routeLog(ui: UiState, key: KeyPress, ctx: KeyContext): KeyResult {
  const log = ui.log;
  if (key.ch === 'v') {
    const next = LOG_VIEWS[(LOG_VIEWS.indexOf(log.view) + 1) % LOG_VIEWS.length] ?? 'frames';
    return done({ ...ui, log: { ...log, view: next, cursor: 0, scroll: 0, inspecting: false, paused: false } });
  }
  if (log.view !== 'frames') {
    const routed = routeDebugLog(ui, key, ctx);
    if (routed !== undefined) return routed;
  }
  const pauseHere = (): LogViewState => (log.paused ? log : { ...log, paused: true, pausedAtSeq: ctx.lastSeq });
  if (key.ch === 'f') return done({ ...ui, zoom: ui.zoom === 'log' ? null : 'log' });
  // Leaving the log leaves its zoom: the sessions come back.
  if (isTab(key) || key.name === 'escape' || key.ch === 'l') {
    return done({ ...ui, logFocused: false, zoom: ui.zoom === 'log' ? null : ui.zoom });
  }
  if (key.name === 'space' || key.ch === ' ') {
    return done({
      ...ui,
      log: log.paused ? { ...log, paused: false, scroll: 0 } : { ...log, paused: true, pausedAtSeq: ctx.lastSeq },
    });
  }
  const page = Math.max(1, ctx.logPage - 1);
  switch (key.name) {
    case 'up':
      return done({ ...ui, log: { ...pauseHere(), scroll: log.scroll + 1 } });
    case 'pageup':
      return done({ ...ui, log: { ...pauseHere(), scroll: log.scroll + page } });
    case 'down':
      return done({ ...ui, log: { ...log, scroll: Math.max(0, log.scroll - 1) } });
    case 'pagedown':
      return done({ ...ui, log: { ...log, scroll: Math.max(0, log.scroll - page) } });
    case 'end':
      return done({ ...ui, log: { ...log, paused: false, scroll: 0 } });
    default:
      break;
  }
  switch (key.ch) {
    case 'k':
      return done({ ...ui, log: { ...pauseHere(), scroll: log.scroll + 1 } });
    case 'j':
      return done({ ...ui, log: { ...log, scroll: Math.max(0, log.scroll - 1) } });
    case 'G':
      return done({ ...ui, log: { ...log, paused: false, scroll: 0 } });
    case '/':
      return done({ ...ui, prompt: { kind: 'filter', text: log.filterText } });
    case 's': {
      const tags = ctx.sessions.map((s) => s.tag);
      const at = log.filterSession === null ? -1 : tags.indexOf(log.filterSession);
      const next = at + 1 < tags.length ? (tags[at + 1] ?? null) : null;
      return done({ ...ui, log: { ...log, filterSession: next, scroll: 0 } });
    }
    case 'w':
      return done({
        ...ui,
        // The debug views save the lines shown, as text; the frames view saves JSON Lines.
        prompt: { kind: 'save', text: defaultLogFileName(ctx.now, log.view === 'frames' ? 'jsonl' : 'txt') },
      });
    default:
      return routeGlobal(ui, key, ctx);
  }
}

/** The debug views' own keys (cursor, inspector, next fault, pause); `undefined` for the keys they share. */
function routeDebugLog(ui: UiState, key: KeyPress, ctx: KeyContext): KeyResult | undefined {
  const log = ui.log;
  const lastJournalSeq = ctx.lastJournalSeq ?? 0;
  const pauseHere = (): LogViewState =>
    log.paused ? log : { ...log, paused: true, pausedAtJournalSeq: lastJournalSeq };
  const move = (by: number): KeyResult => {
    const cursor = Math.max(0, log.cursor + by);
    return done({ ...ui, log: { ...(by > 0 ? pauseHere() : log), cursor, inspectorScroll: 0 } });
  };
  const page = Math.max(1, ctx.logPage - 1);
  if (key.name === 'escape' && log.inspecting) return done({ ...ui, log: { ...log, inspecting: false } });
  if (isEnter(key)) return done({ ...ui, log: { ...log, inspecting: !log.inspecting, inspectorScroll: 0 } });
  if (log.inspecting && (key.name === 'pageup' || key.name === 'pagedown')) {
    const by = key.name === 'pagedown' ? page : -page;
    return done({ ...ui, log: { ...log, inspectorScroll: Math.max(0, log.inspectorScroll + by) } });
  }
  if (key.name === 'space' || key.ch === ' ') {
    return done({
      ...ui,
      log: log.paused
        ? { ...log, paused: false, cursor: 0 }
        : { ...log, paused: true, pausedAtJournalSeq: lastJournalSeq },
    });
  }
  switch (key.name) {
    case 'up':
      return move(1);
    case 'down':
      return move(-1);
    case 'pageup':
      return move(page);
    case 'pagedown':
      return move(-page);
    case 'end':
      return done({ ...ui, log: { ...log, paused: false, cursor: 0 } });
    default:
      break;
  }
  switch (key.ch) {
    case 'k':
      return move(1);
    case 'j':
      return move(-1);
    case 'G':
      return done({ ...ui, log: { ...log, paused: false, cursor: 0 } });
    case 'n': {
      const target = ctx.nextFault ?? null;
      if (target === null) return done(ui, { type: 'notice', text: 'no frame in the log has a lint fault' });
      return done({ ...ui, log: { ...pauseHere(), cursor: target } });
    }
    default:
      return log.inspecting && key.ch !== '/' && key.ch !== 'w' ? done(ui) : undefined;
  }
}

/** `modeldeck-events-YYYYMMDD-HHMMSS.jsonl` (or `.txt`) in local time. */
export function defaultLogFileName(now: number, extension: 'jsonl' | 'txt' = 'jsonl'): string {
  const d = new Date(now);
  const two = (n: number): string => String(n).padStart(2, '0');
  const date = `${d.getFullYear()}${two(d.getMonth() + 1)}${two(d.getDate())}`;
  const time = `${two(d.getHours())}${two(d.getMinutes())}${two(d.getSeconds())}`;
  return `modeldeck-events-${date}-${time}.${extension}`;
}

/** Keys that work wherever no text is being typed. */
function routeGlobal(ui: UiState, key: KeyPress, ctx: KeyContext): KeyResult {
  switch (key.ch) {
    case 'q': {
      // Quitting drops every transcript and leaves loads unwatched: with either, one stray q must not do it.
      const loads = ctx.sessions.filter((s) => s.loading === true).length;
      const transcripts = ctx.sessions.filter((s) => s.hasTranscript === true).length;
      if (loads === 0 && transcripts === 0) return done(ui, { type: 'quit' });
      return done({ ...ui, prompt: { kind: 'quit', text: '' } });
    }
    case '?':
      return done({ ...ui, help: true });
    case 'a':
      return done({ ...ui, prompt: { kind: 'add-server', text: '' } });
    case 'v':
      return done({ ...ui, serverView: !ui.serverView });
    default:
      break;
  }
  // 1–9 jump to that session (from the log too); never while typing, where a digit is text.
  if (key.ch !== undefined && /^[1-9]$/.test(key.ch) && !key.ctrl && !key.meta) {
    const index = Number(key.ch) - 1;
    if (ctx.sessions[index] === undefined) {
      const open = ctx.sessions.length;
      return done(ui, {
        type: 'notice',
        text: `no session ${key.ch}: ${open === 0 ? 'none is' : open === 1 ? 'one is' : `${open} are`} open`,
      });
    }
    return done({ ...ui, focus: index, logFocused: false, composing: false, zoom: ui.zoom === 'log' ? null : ui.zoom });
  }
  return done(ui);
}

function routeSession(ui: UiState, key: KeyPress, ctx: KeyContext): KeyResult {
  const count = ctx.sessions.length;
  const focus = count === 0 ? 0 : Math.min(Math.max(ui.focus, 0), count - 1);
  const session = ctx.sessions[focus];
  const tab = isTab(key);
  if (tab !== undefined) {
    if (count === 0) return done({ ...ui, composing: false });
    const step = tab === 'next' ? 1 : -1;
    return done({ ...ui, composing: false, focus: (focus + step + count) % count });
  }
  // PgUp / PgDn scroll the focused transcript back and forth, typing or not.
  if (session !== undefined && (key.name === 'pageup' || key.name === 'pagedown')) {
    const now = ui.scrolls[session.id] ?? 0;
    // Clamped to what the screen can scroll back, so PgDn always moves at once after many PgUps.
    const limit = session.scrollLimit ?? Number.POSITIVE_INFINITY;
    const next =
      key.name === 'pageup'
        ? Math.min(now + TRANSCRIPT_PAGE, limit)
        : Math.max(0, Math.min(now, limit) - TRANSCRIPT_PAGE);
    return done({ ...ui, focus, scrolls: { ...ui.scrolls, [session.id]: next } });
  }
  if (ui.composing && session !== undefined) return routeComposing({ ...ui, focus }, session, key);

  if (key.name === 'escape') return done(ui.zoom === null ? ui : { ...ui, zoom: null });
  if (isEnter(key)) return session ? done({ ...ui, focus, composing: true }) : done(ui);
  if (key.name === 'space' || key.ch === ' ') return done(ui, { type: 'replay', action: 'toggle' });
  switch (key.ch) {
    case '.':
      return done(ui, { type: 'replay', action: 'step' });
    case 'l':
      // A zoomed session hides the log: focusing the log brings the grid back.
      return done({ ...ui, focus, logFocused: true, zoom: null });
    case 'f':
      return session ? done({ ...ui, focus, zoom: ui.zoom === 'session' ? null : 'session' }) : done(ui);
    case 'r':
      return session ? done({ ...ui, focus }, { type: 'retry', sessionId: session.id }) : done(ui);
    case 'x':
    case 'c':
    case 'u': {
      const kind = key.ch === 'x' ? 'close' : key.ch === 'c' ? 'cancel' : 'unload';
      return session ? done({ ...ui, focus, prompt: { kind, text: '', sessionId: session.id } }) : done(ui);
    }
    case 'e':
      return session
        ? done({ ...ui, focus, prompt: { kind: 'edit-server', text: session.server, sessionId: session.id } })
        : done(ui);
    case 'i':
      return session ? done({ ...ui, focus, composing: true }) : done(ui);
    case 'o':
      return session
        ? done({
            ...ui,
            focus,
            prompt: { kind: 'options', text: formatChatSettings(session.chat ?? {}), sessionId: session.id },
          })
        : done(ui);
    case 'q':
    case '?':
    case 'a':
    case 'v':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9':
      return routeGlobal(ui, key, ctx);
    default:
      break;
  }
  // Typing and commands never mix: outside the typing mode a letter is a command or nothing, never the start of a
  // message ("quick question" must not quit, "xylophone" must not close the session).
  if (session !== undefined && isPrintable(key) && key.ch !== ' ') {
    return done(ui, {
      type: 'notice',
      text: `'${key.ch}' is not a command: press Enter or i to type a message (Esc leaves typing), ? for keys`,
    });
  }
  return done(ui);
}

function routeComposing(ui: UiState, session: KeyContext['sessions'][number], key: KeyPress): KeyResult {
  const id = session.id;
  const text = ui.inputs[id] ?? '';
  const history = ui.histories[id] ?? EMPTY_HISTORY;
  /** The one way the input line changes: its text and cursor together, and the history beside them. */
  const setLine = (line: LineEdit, nextHistory: InputHistory = history): UiState => ({
    ...ui,
    inputs: { ...ui.inputs, [id]: line.text },
    cursors: { ...ui.cursors, [id]: line.cursor },
    histories: nextHistory === history ? ui.histories : { ...ui.histories, [id]: nextHistory },
  });
  if (key.name === 'escape') return done({ ...ui, composing: false });
  if (isEnter(key)) {
    const message = text.trim();
    if (message === '') return done(ui);
    if (!session.canChat) {
      return done(ui, {
        type: 'notice',
        text: `${session.tag}: the model is not ready yet; the message is kept, send it once the session says ready`,
      });
    }
    if (session.replying === true) {
      return done(ui, {
        type: 'notice',
        text: `${session.tag}: a reply is still streaming; the message is kept, send it once it ends`,
      });
    }
    return done(setLine(lineAt(''), remember(history, message)), { type: 'send', sessionId: id, text: message });
  }
  if ((key.name === 'up' || key.name === 'down') && !key.ctrl && !key.meta) {
    const walked = walk(history, key.name === 'up' ? 'back' : 'forward', text);
    return walked === undefined ? done(ui) : done(setLine(lineAt(walked.text), walked.history));
  }
  const action = lineAction(key);
  if (action === undefined) return done(ui);
  const before = lineAt(text, ui.cursors[id]);
  const line = editLine(before, action);
  if (line.text === text) return line.cursor === before.cursor ? done(ui) : done(setLine(line));
  return done(setLine(line, stopWalking(history)));
}
