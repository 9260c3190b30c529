/**
 * The key router's vocabulary: the key press it reads ({@link KeyPress}), what it knows of the world
 * ({@link KeyContext}), the UI state it keeps ({@link UiState}) and what it returns ({@link KeyResult}: the next state
 * and the {@link Command}s for the dashboard to run). Pure data.
 */

import type { ChatSettings } from '../chat-settings.js';
import type { InputHistory } from '../input-history.js';
import type { ModelCompletion } from '../model-completion.js';
import type { RowAction, ServerRowKey, ServerRowRef } from '../server-cursor.js';

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
  /** A session's chat settings, as `formatChatSettings` writes them. */
  | 'options'
  | 'filter'
  /** The server view's filter (`/`): its rows narrow as it is typed. */
  | 'server-filter'
  | 'save'
  /** Ctrl-G: a session to focus, by number, tag or part of its model. */
  | 'jump'
  /** Where to write the open sessions, as a config file (Ctrl-S). */
  | 'save-sessions'
  | 'close'
  | 'cancel'
  | 'unload'
  /** The server view's `L`: load the selected row's model. */
  | 'load'
  /** The server view's `D`: delete the selected row's model from its server's disk. */
  | 'delete'
  | 'quit';

/** The prompts whose text is an API key: shown masked, never as typed. */
export const KEY_PROMPTS: ReadonlySet<PromptKind> = new Set(['add-key', 'edit-key']);

/** The prompts that ask for a model id: Tab completes it from the ids the server lists. */
export const MODEL_PROMPTS: ReadonlySet<PromptKind> = new Set(['add-model', 'edit-model']);

/** The prompts that are a confirm dialog: buttons, one chosen, and no text. */
export const CONFIRM_PROMPTS: ReadonlySet<PromptKind> = new Set([
  'close',
  'cancel',
  'unload',
  'load',
  'delete',
  'quit',
]);

/**
 * A confirm dialog's buttons: `keep` leaves everything as it is (the default of every dialog); `close`, `cancel` and
 * `unload` do what the dialog asks; `quit` quits without saving; `save-quit` saves what the dialog lists, then quits.
 */
export type DialogChoice = 'keep' | 'close' | 'cancel' | 'unload' | 'load' | 'delete' | 'quit' | 'save-quit';

/** What quitting would save, as the quit dialog lists it (its `save-quit` button saves both). */
export interface QuitSaves {
  /** The event log, as JSON Lines, to this new file (relative to the dashboard's directory); absent: the log is empty. */
  readonly log?: string;
  /** The open sessions, to this config file (the one the dashboard started from); absent: nothing to write. */
  readonly sessions?: string;
}

/** A one-line prompt in the status bar, or a confirm dialog ({@link CONFIRM_PROMPTS}). */
export interface Prompt {
  readonly kind: PromptKind;
  readonly text: string;
  /** Where the cursor is in {@link Prompt.text}, in code points (`line-edit.ts`); absent: at the end. */
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
  /** For `load`, `unload` and `cancel` from the server view: the row it is about (instead of a session). */
  readonly target?: ServerRowKey;
  /** Why the last Enter was refused. */
  readonly error?: string;
  /** For `add-model` and `edit-model`: where Tab's cycle through the server's ids stands. */
  readonly completing?: ModelCompletion;
  /** A confirm dialog's buttons, left to right. */
  readonly choices?: readonly DialogChoice[];
  /** The index in {@link Prompt.choices} of the chosen button (it opens on `keep`). */
  readonly choice?: number;
  /** The quit dialog: what its `save-quit` button saves. */
  readonly saves?: QuitSaves;
  /** For `save-sessions`: the path an Enter may write over (it exists, and the prompt has said so). */
  readonly overwrite?: string;
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
  /**
   * Show the server feeds' copies of the sessions' own `/load_model` frames as lines of their own (`e`); by default
   * they are folded into the session's line.
   */
  readonly showCopies: boolean;
  /** Columns the payloads are scrolled sideways (Left / Right), in every view. */
  readonly hscroll: number;
}

/** The log pane's views, in the order `v` cycles them. */
export type LogView = 'frames' | 'debug' | 'wire';

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
  /** The server view has the keys: its cursor walks the rows (`keys/servers.ts`). */
  readonly serverFocused: boolean;
  /** The server view's selected row, `null` for its first. */
  readonly serverCursor: ServerRowKey | null;
  /** The server view's filter (`/`), `''` for none. */
  readonly serverFilter: string;
  /** One pane has the whole screen (`f`): the focused session, or the log; `null` for the grid. */
  readonly zoom: Zoom;
  /** The focused session's input line takes text. */
  readonly composing: boolean;
  /** Input line text per session id. */
  readonly inputs: Readonly<Record<string, string>>;
  /** Where the cursor is on each session's input line, in code points (`line-edit.ts`); absent: at the end. */
  readonly cursors: Readonly<Record<string, number>>;
  /** The messages each session sent, for Up / Down while typing. */
  readonly histories: Readonly<Record<string, InputHistory>>;
  /** Transcript lines scrolled back per session id (absent or 0: following the newest). */
  readonly scrolls: Readonly<Record<string, number>>;
  /** The models' reasoning (thinking) is folded to one line per reply in every transcript (`t`). */
  readonly reasoningFolded: boolean;
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
    /** Read-only (`--read-only`, or `"readOnly"` in the config): no unload, no cancel. */
    readonly readOnly?: boolean;
    /** It failed, or waits to reconnect: `r` tries again now (anywhere else `r` would only re-request a load). */
    readonly failed?: boolean;
  }[];
  /** Entries in the event log: quitting offers to save them. */
  readonly logEntries?: number;
  /** The config file the dashboard started from (or last wrote its sessions to), if any. */
  readonly configPath?: string;
  /** The open sessions differ from what {@link KeyContext.configPath} holds: quitting offers to write them. */
  readonly sessionsChanged?: boolean;
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
  /** The server view's rows, as its cursor walks them (filtered); absent or empty while the view shows none. */
  readonly serverRows?: readonly ServerRowRef[];
}

/** Side effects for the dashboard to run. */
export type Command =
  /** Quit; with `saves`, save those first and quit only once they are saved. */
  | { readonly type: 'quit'; readonly saves?: QuitSaves }
  /** Write the open sessions to `path` as a config file; over an existing file only with `overwrite`. */
  | { readonly type: 'save-sessions'; readonly path: string; readonly overwrite: boolean }
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
  | { readonly type: 'notice'; readonly text: string }
  /** The server view's `L`, `U` or `C` confirmed: act on a row's model, whoever loaded it. */
  | { readonly type: 'server-action'; readonly action: RowAction; readonly root: string; readonly model: string };

/** What the router returns for one key press. */
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
    serverFocused: false,
    serverCursor: null,
    serverFilter: '',
    zoom: null,
    composing: false,
    inputs: {},
    cursors: {},
    histories: {},
    scrolls: {},
    reasoningFolded: false,
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
      showCopies: false,
      hscroll: 0,
    },
  };
}

/** The next UI state with the commands to run. */
export const done = (ui: UiState, ...commands: Command[]): KeyResult => ({ ui, commands });
