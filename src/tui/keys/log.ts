/**
 * The log pane's three modes: the frames view (follow or pause, scroll, filter, save), the debug views (`debug` and
 * `wire`: a cursor over the wire journal, the next fault) and the inspector open on the cursor's entry, which keeps
 * only the keys that move through what it shows.
 */

import { findBinding, type Binding } from './binding.js';
import { performGlobal, type GlobalAction } from './global.js';
import { HELP } from './help-entries.js';
import { done, type KeyContext, type KeyPress, type KeyResult, type LogView, type UiState } from './types.js';

/** What a key does in the log, whatever its view. */
type PaneAction =
  'cycle-view' | 'zoom' | 'leave' | 'filter' | 'filter-session' | 'save' | 'copies' | 'scroll-left' | 'scroll-right';

/** What a key does in the frames view. */
type FramesAction = 'follow-pause' | 'scroll-back' | 'scroll-forward' | 'page-back' | 'page-forward' | 'follow';

/** What a key does in the debug views and the inspector. */
type DebugAction =
  | 'toggle-inspector'
  | 'close-inspector'
  | 'inspector-up'
  | 'inspector-down'
  | 'cursor-follow-pause'
  | 'cursor-back'
  | 'cursor-forward'
  | 'cursor-page-back'
  | 'cursor-page-forward'
  | 'cursor-follow'
  | 'next-fault';

type LogAction = GlobalAction | PaneAction | FramesAction | DebugAction;

// The rows the three tables share.
const STOP: Binding<LogAction> = { keys: ['Ctrl-X'], action: 'stop-reply', help: HELP.stopReply, destructive: true };
const HELP_ROW: Binding<LogAction> = {
  keys: ['?'],
  action: 'help',
  help: HELP.help,
  hint: '? help',
  destructive: false,
};
const FILTER: Binding<LogAction> = {
  keys: ['/'],
  action: 'filter',
  help: HELP.filter,
  hint: '/ filter',
  destructive: false,
};
const FILTER_SESSION: Binding<LogAction> = {
  keys: ['s'],
  action: 'filter-session',
  help: HELP.filterSession,
  hint: 's session',
  destructive: false,
};
const SAVE: Binding<LogAction> = { keys: ['w'], action: 'save', help: HELP.save, hint: 'w save', destructive: false };
const ZOOM: Binding<LogAction> = {
  keys: ['f'],
  action: 'zoom',
  help: HELP.zoomLog,
  hint: 'f zoom',
  destructive: false,
};
const LEAVE: Binding<LogAction> = {
  keys: ['Tab', 'Esc', 'l'],
  action: 'leave',
  help: HELP.log,
  hint: 'l back',
  destructive: false,
};
const QUIT: Binding<LogAction> = { keys: ['q'], action: 'quit', help: HELP.quit, hint: 'q quit', destructive: true };
const VIEWS: Binding<LogAction> = { keys: ['v'], action: 'cycle-view', help: HELP.views, destructive: false };
const ADD: Binding<LogAction> = { keys: ['a'], action: 'add', help: HELP.add, destructive: false };
const JUMP: Binding<LogAction> = {
  keys: [...'123456789'],
  action: 'jump',
  help: HELP.jump,
  destructive: false,
  exact: true,
};
const JUMP_TO: Binding<LogAction> = { keys: ['g'], action: 'jump-prompt', help: HELP.jumpTo, destructive: false };
const COPIES: Binding<LogAction> = { keys: ['e'], action: 'copies', help: HELP.copies, destructive: false };
const LEFT: Binding<LogAction> = { keys: ['Left'], action: 'scroll-left', help: HELP.sideways, destructive: false };
const RIGHT: Binding<LogAction> = { keys: ['Right'], action: 'scroll-right', help: HELP.sideways, destructive: false };

/** The frames view's table, in the order of the log's status-bar hints. */
export const LOG_KEYS: readonly Binding<LogAction>[] = [
  STOP,
  HELP_ROW,
  { keys: ['space'], action: 'follow-pause', help: HELP.follow, hint: 'space follow/pause', destructive: false },
  { keys: ['Up'], action: 'scroll-back', help: HELP.scrollLog, hint: '↑↓ scroll', destructive: false },
  { keys: ['Down'], action: 'scroll-forward', help: HELP.scrollLog, destructive: false },
  FILTER,
  FILTER_SESSION,
  SAVE,
  ZOOM,
  LEAVE,
  QUIT,
  { keys: ['PgUp'], action: 'page-back', help: HELP.scrollLog, destructive: false },
  { keys: ['PgDn'], action: 'page-forward', help: HELP.scrollLog, destructive: false },
  { keys: ['End'], action: 'follow', help: HELP.scrollLog, destructive: false },
  { keys: ['k'], action: 'scroll-back', help: HELP.scrollLine, destructive: false },
  { keys: ['j'], action: 'scroll-forward', help: HELP.scrollLine, destructive: false },
  { keys: ['G'], action: 'follow', help: HELP.followAgain, destructive: false },
  VIEWS,
  ADD,
  JUMP,
  JUMP_TO,
  COPIES,
  LEFT,
  RIGHT,
];

/** The cursor's keys, in the debug views and in the inspector alike. */
const CURSOR_KEYS: readonly Binding<LogAction>[] = [
  { keys: ['space'], action: 'cursor-follow-pause', help: HELP.follow, destructive: false },
  { keys: ['Up'], action: 'cursor-back', help: HELP.cursor, destructive: false },
  { keys: ['Down'], action: 'cursor-forward', help: HELP.cursor, destructive: false },
  { keys: ['End'], action: 'cursor-follow', help: HELP.scrollLog, destructive: false },
  { keys: ['k'], action: 'cursor-back', help: HELP.scrollLine, destructive: false },
  { keys: ['j'], action: 'cursor-forward', help: HELP.scrollLine, destructive: false },
  { keys: ['G'], action: 'cursor-follow', help: HELP.followAgain, destructive: false },
  { keys: ['n'], action: 'next-fault', help: HELP.nextFault, destructive: false },
];

/** The debug views' table: Enter opens the inspector, the cursor's keys, then the frames view's that move nothing. */
export const DEBUG_KEYS: readonly Binding<LogAction>[] = [
  STOP,
  VIEWS,
  { keys: ['Enter'], action: 'toggle-inspector', help: HELP.cursor, destructive: false },
  ...CURSOR_KEYS,
  { keys: ['PgUp'], action: 'cursor-page-back', help: HELP.scrollLog, destructive: false },
  { keys: ['PgDn'], action: 'cursor-page-forward', help: HELP.scrollLog, destructive: false },
  ZOOM,
  LEAVE,
  FILTER,
  FILTER_SESSION,
  SAVE,
  HELP_ROW,
  QUIT,
  ADD,
  JUMP,
  JUMP_TO,
  COPIES,
  LEFT,
  RIGHT,
];

/** The inspector's table: it closes, scrolls and the cursor moves under it; other keys do nothing while it is open. */
export const INSPECTOR_KEYS: readonly Binding<LogAction>[] = [
  STOP,
  VIEWS,
  { keys: ['Esc'], action: 'close-inspector', help: HELP.cursor, destructive: false },
  { keys: ['Enter'], action: 'toggle-inspector', help: HELP.cursor, destructive: false },
  { keys: ['PgUp'], action: 'inspector-up', help: HELP.inspector, destructive: false },
  { keys: ['PgDn'], action: 'inspector-down', help: HELP.inspector, destructive: false },
  ...CURSOR_KEYS,
  FILTER,
  SAVE,
  LEFT,
  RIGHT,
];

/** Columns one Left / Right scrolls the log's lines sideways. */
const SIDEWAYS_STEP = 20;

/** The log pane's views, in the order `v` cycles them. */
const LOG_VIEWS: readonly LogView[] = ['frames', 'debug', 'wire'];

/** Routes a key in the log pane, by its view. */
export function routeLog(ui: UiState, key: KeyPress, ctx: KeyContext): KeyResult {
  const table = ui.log.view === 'frames' ? LOG_KEYS : ui.log.inspecting ? INSPECTOR_KEYS : DEBUG_KEYS;
  const row = findBinding(table, key);
  return row === undefined ? done(ui) : performLog(row.action, ui, key, ctx);
}

function performLog(action: LogAction, ui: UiState, key: KeyPress, ctx: KeyContext): KeyResult {
  const log = ui.log;
  switch (action) {
    case 'cycle-view': {
      const view = LOG_VIEWS[(LOG_VIEWS.indexOf(log.view) + 1) % LOG_VIEWS.length] ?? 'frames';
      return done({ ...ui, log: { ...log, view, cursor: 0, scroll: 0, inspecting: false, paused: false } });
    }
    case 'zoom':
      return done({ ...ui, zoom: ui.zoom === 'log' ? null : 'log' });
    case 'leave':
      // Leaving the log leaves its zoom: the sessions come back.
      return done({ ...ui, logFocused: false, zoom: ui.zoom === 'log' ? null : ui.zoom });
    case 'filter':
      return done({ ...ui, prompt: { kind: 'filter', text: log.filterText } });
    case 'filter-session': {
      const tags = ctx.sessions.map((s) => s.tag);
      const at = log.filterSession === null ? -1 : tags.indexOf(log.filterSession);
      const next = at + 1 < tags.length ? (tags[at + 1] ?? null) : null;
      return done({ ...ui, log: { ...log, filterSession: next, scroll: 0 } });
    }
    case 'copies':
      return done({ ...ui, log: { ...log, showCopies: !log.showCopies, scroll: 0 } });
    case 'scroll-left':
      return log.hscroll === 0
        ? done(ui, { type: 'notice', text: 'the log shows its lines from the start (Right scrolls sideways)' })
        : done({ ...ui, log: { ...log, hscroll: Math.max(0, log.hscroll - SIDEWAYS_STEP) } });
    case 'scroll-right':
      return done({ ...ui, log: { ...log, hscroll: log.hscroll + SIDEWAYS_STEP } });
    case 'save':
      return done({
        ...ui,
        // The debug views save the lines shown, as text; the frames view saves JSON Lines.
        prompt: { kind: 'save', text: defaultLogFileName(ctx.now, log.view === 'frames' ? 'jsonl' : 'txt') },
      });
    case 'help':
    case 'quit':
    case 'add':
    case 'servers':
    case 'jump':
    case 'jump-prompt':
    case 'stop-reply':
      return performGlobal(action, ui, key, ctx);
    default:
      return performView(action, ui, ctx);
  }
}

/** The frames view scrolls lines (up pauses); the debug views move a cursor over the journal (up pauses too). */
function performView(action: FramesAction | DebugAction, ui: UiState, ctx: KeyContext): KeyResult {
  const log = ui.log;
  const page = Math.max(1, ctx.logPage - 1);
  switch (action) {
    case 'follow-pause':
      return done({
        ...ui,
        log: log.paused ? { ...log, paused: false, scroll: 0 } : { ...log, paused: true, pausedAtSeq: ctx.lastSeq },
      });
    case 'scroll-back':
      return scrollFrames(ui, 1, ctx);
    case 'scroll-forward':
      return scrollFrames(ui, -1, ctx);
    case 'page-back':
      return scrollFrames(ui, page, ctx);
    case 'page-forward':
      return scrollFrames(ui, -page, ctx);
    case 'follow':
      return done({ ...ui, log: { ...log, paused: false, scroll: 0 } });
    default:
      return performDebug(action, ui, ctx);
  }
}

/** Frames scrolled up (`by` > 0, pausing where the log was) or down. */
function scrollFrames(ui: UiState, by: number, ctx: KeyContext): KeyResult {
  const log = ui.log;
  if (by < 0) return done({ ...ui, log: { ...log, scroll: Math.max(0, log.scroll + by) } });
  const paused = log.paused ? log : { ...log, paused: true, pausedAtSeq: ctx.lastSeq };
  return done({ ...ui, log: { ...paused, scroll: log.scroll + by } });
}

function performDebug(action: DebugAction, ui: UiState, ctx: KeyContext): KeyResult {
  const log = ui.log;
  const lastJournalSeq = ctx.lastJournalSeq ?? 0;
  const page = Math.max(1, ctx.logPage - 1);
  const pauseHere = (): UiState['log'] =>
    log.paused ? log : { ...log, paused: true, pausedAtJournalSeq: lastJournalSeq };
  const move = (by: number): KeyResult => {
    const cursor = Math.max(0, log.cursor + by);
    return done({ ...ui, log: { ...(by > 0 ? pauseHere() : log), cursor, inspectorScroll: 0 } });
  };
  const scrollInspector = (by: number): KeyResult =>
    done({ ...ui, log: { ...log, inspectorScroll: Math.max(0, log.inspectorScroll + by) } });
  switch (action) {
    case 'toggle-inspector':
      return done({ ...ui, log: { ...log, inspecting: !log.inspecting, inspectorScroll: 0 } });
    case 'close-inspector':
      return done({ ...ui, log: { ...log, inspecting: false } });
    case 'inspector-up':
      return scrollInspector(-page);
    case 'inspector-down':
      return scrollInspector(page);
    case 'cursor-follow-pause':
      return done({
        ...ui,
        log: log.paused
          ? { ...log, paused: false, cursor: 0 }
          : { ...log, paused: true, pausedAtJournalSeq: lastJournalSeq },
      });
    case 'cursor-back':
      return move(1);
    case 'cursor-forward':
      return move(-1);
    case 'cursor-page-back':
      return move(page);
    case 'cursor-page-forward':
      return move(-page);
    case 'cursor-follow':
      return done({ ...ui, log: { ...log, paused: false, cursor: 0 } });
    case 'next-fault': {
      const target = ctx.nextFault ?? null;
      if (target === null) return done(ui, { type: 'notice', text: 'no frame in the log has a lint fault' });
      return done({ ...ui, log: { ...pauseHere(), cursor: target } });
    }
    default: {
      const never: never = action;
      throw new TypeError(`unknown action ${String(never)}`);
    }
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
