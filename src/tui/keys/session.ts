/**
 * The session pane's two modes. Commands: a lowercase letter only moves or shows (focus, zoom, the log, the server
 * view, a retry), never the start of a message; a prompt opens only on a Ctrl chord, which prose cannot type; and
 * what destroys (close, cancel, unload, quit) is a capital that opens a dialog on Keep, whose other button takes an
 * arrow and Enter: "buy", "xylophone", "quick question" or "The server looks fine" typed here change nothing. A letter
 * that is no command says how to type. Typing (after Enter; no letter starts it, so typed prose never lands in the input): every character is text for the focused session's
 * input line, which edits as a shell's does, until Esc.
 */

import { formatChatSettings } from '../chat-settings.js';
import { EMPTY_HISTORY, remember, stopWalking, walk, type InputHistory } from '../input-history.js';
import { editLine, lineAt, type LineAction, type LineEdit } from '../line-edit.js';
import { findBinding, isPrintable, tabDirection, type Binding } from './binding.js';
import { performGlobal, type GlobalAction } from './global.js';
import { HELP } from './help-entries.js';
import { lineAction } from './line.js';
import { done, type KeyContext, type KeyPress, type KeyResult, type UiState } from './types.js';

type Session = KeyContext['sessions'][number];

/** What a command key does to the focused session. */
type SessionCommand =
  'type' | 'zoom' | 'retry' | 'close' | 'cancel' | 'unload' | 'edit' | 'options' | 'scroll-transcript' | 'reasoning';

/** The commands that ask before they act on the server (a read-only session refuses them at once). */
const SERVER_ACTIONS: ReadonlySet<SessionCommand> = new Set(['cancel', 'unload']);

/** What a command key does. */
type CommandAction =
  GlobalAction | SessionCommand | 'next-session' | 'log' | 'unzoom' | 'replay-toggle' | 'replay-step' | 'save-sessions';

/** The commands mode's table, in the order of its status-bar hints. */
export const COMMAND_KEYS: readonly Binding<CommandAction>[] = [
  { keys: ['Ctrl-X'], action: 'stop-reply', help: HELP.stopReply, destructive: true },
  { keys: ['?'], action: 'help', help: HELP.help, hint: '? help', destructive: false },
  { keys: ['Q'], action: 'quit', help: HELP.quit, hint: 'Q quit', destructive: true },
  { keys: ['Enter'], action: 'type', help: HELP.type, hint: 'Enter type', destructive: false },
  { keys: ['Tab', 'Shift-Tab'], action: 'next-session', help: HELP.nextSession, hint: 'Tab next', destructive: false },
  { keys: ['f'], action: 'zoom', help: HELP.zoom, hint: 'f zoom', destructive: false },
  { keys: ['l'], action: 'log', help: HELP.log, hint: 'l log', destructive: false },
  { keys: ['v'], action: 'servers', help: HELP.servers, hint: 'v servers', destructive: false },
  { keys: ['r'], action: 'retry', help: HELP.retry, destructive: false },
  { keys: ['t'], action: 'reasoning', help: HELP.reasoning, destructive: false },
  { keys: ['Ctrl-N'], action: 'add', help: HELP.add, hint: 'Ctrl-N add', destructive: false, exact: true },
  { keys: ['Ctrl-E'], action: 'edit', help: HELP.edit, hint: 'Ctrl-E edit', destructive: false, exact: true },
  { keys: ['Ctrl-O'], action: 'options', help: HELP.options, destructive: false, exact: true },
  { keys: ['Ctrl-S'], action: 'save-sessions', help: HELP.saveSessions, destructive: false, exact: true },
  { keys: ['X'], action: 'close', help: HELP.close, hint: 'X close', destructive: true },
  { keys: ['C'], action: 'cancel', help: HELP.cancel, hint: 'C cancel', destructive: true },
  { keys: ['U'], action: 'unload', help: HELP.unload, hint: 'U unload', destructive: true },
  { keys: [...'123456789'], action: 'jump', help: HELP.jump, destructive: false, exact: true },
  { keys: ['Ctrl-G'], action: 'jump-prompt', help: HELP.jumpTo, destructive: false, exact: true },
  { keys: ['PgUp', 'PgDn'], action: 'scroll-transcript', help: HELP.scrollTranscript, destructive: false },
  { keys: ['Esc'], action: 'unzoom', help: HELP.zoom, destructive: false },
  { keys: ['space'], action: 'replay-toggle', help: HELP.replay, destructive: false },
  { keys: ['.'], action: 'replay-step', help: HELP.step, destructive: false },
];

/** What a key does while typing, besides editing the line (`line.ts`). */
type TypingAction = 'send' | 'history' | 'stop-typing' | 'stop-reply' | 'next-session' | 'scroll-transcript';

/** The typing mode's table, in the order of its status-bar hints; the line editor's keys and characters follow. */
export const TYPING_KEYS: readonly Binding<TypingAction>[] = [
  { keys: ['Enter'], action: 'send', help: HELP.send, hint: 'Enter sends', destructive: false },
  {
    keys: ['Up', 'Down'],
    action: 'history',
    help: HELP.history,
    hint: '↑↓ earlier messages',
    destructive: false,
    exact: true,
  },
  { keys: ['Esc'], action: 'stop-typing', help: HELP.send, hint: 'Esc stops typing', destructive: false },
  { keys: ['Ctrl-X'], action: 'stop-reply', help: HELP.stopReply, hint: 'Ctrl-X stops a reply', destructive: true },
  {
    keys: ['Tab', 'Shift-Tab'],
    action: 'next-session',
    help: HELP.nextSession,
    hint: 'Tab next session',
    destructive: false,
  },
  { keys: ['PgUp', 'PgDn'], action: 'scroll-transcript', help: HELP.scrollTranscript, destructive: false },
];

/** Lines one PgUp / PgDn moves a transcript. */
const TRANSCRIPT_PAGE = 5;

/** Routes a key in the session pane: to the typing mode while the focused session takes text, else a command. */
export function routeSession(ui: UiState, key: KeyPress, ctx: KeyContext): KeyResult {
  const count = ctx.sessions.length;
  const focus = count === 0 ? 0 : Math.min(Math.max(ui.focus, 0), count - 1);
  const session = ctx.sessions[focus];
  if (ui.composing && session !== undefined) return routeTyping(ui, focus, session, key, ctx);
  const row = findBinding(COMMAND_KEYS, key);
  if (row !== undefined) return performCommand(row.action, ui, focus, key, ctx);
  if (isPrintable(key) && key.ch !== ' ') return done(ui, { type: 'notice', text: notCommand(key.ch) });
  return done(ui);
}

/**
 * What a character that is no command says: how to type (the prose it likely starts), and, for a letter whose capital
 * or Ctrl chord is the command (u → U unload, e → Ctrl-E edit), which that is, from the table's hints.
 */
export function notCommand(ch: string): string {
  const moved = COMMAND_KEYS.find(
    (row) =>
      row.hint !== undefined &&
      row.keys.some(
        (k) => ch.length === 1 && /[a-z]/.test(ch) && (k === ch.toUpperCase() || k === `Ctrl-${ch.toUpperCase()}`),
      ),
  );
  const instead = moved?.hint === undefined ? '' : ` (${moved.hint}${moved.destructive ? ', asks first' : ''})`;
  return `'${ch}' is not a command${instead} · press Enter to type · ? keys`;
}

function performCommand(action: CommandAction, ui: UiState, focus: number, key: KeyPress, ctx: KeyContext): KeyResult {
  switch (action) {
    case 'next-session':
      return nextSession(ui, key, ctx);
    case 'log':
      // A zoomed session hides the log: focusing the log brings the grid back.
      return done({ ...ui, focus, logFocused: true, zoom: null });
    case 'unzoom':
      return done(ui.zoom === null ? ui : { ...ui, zoom: null });
    case 'replay-toggle':
      return done(ui, { type: 'replay', action: 'toggle' });
    case 'replay-step':
      return done(ui, { type: 'replay', action: 'step' });
    case 'help':
    case 'quit':
    case 'add':
    case 'servers':
    case 'jump':
    case 'jump-prompt':
    case 'stop-reply':
    case 'save-sessions':
      return performGlobal(action, ui, key, ctx);
    default: {
      const session = ctx.sessions[focus];
      if (session === undefined) return done(ui);
      if (session.readOnly === true && SERVER_ACTIONS.has(action)) {
        return done(ui, {
          type: 'notice',
          text: `read-only: ${action} is off (${session.tag} changes nothing on its server)`,
        });
      }
      return performOnSession(action, { ...ui, focus }, session, key);
    }
  }
}

/** The commands that act on the focused session (`ui` focused on it); without one they do nothing. */
function performOnSession(action: SessionCommand, ui: UiState, session: Session, key: KeyPress): KeyResult {
  switch (action) {
    case 'type':
      return done({ ...ui, composing: true });
    case 'zoom':
      return done({ ...ui, zoom: ui.zoom === 'session' ? null : 'session' });
    case 'retry':
      // A stray r (prose) must not re-request a load that is running or done.
      if (session.failed !== true) {
        return done(ui, { type: 'notice', text: `${session.tag}: nothing to retry (r retries after an error)` });
      }
      return done(ui, { type: 'retry', sessionId: session.id });
    case 'close':
    case 'cancel':
    case 'unload':
      // Keep is chosen: the other button takes an arrow, then Enter.
      return done({
        ...ui,
        prompt: { kind: action, text: '', sessionId: session.id, choices: ['keep', action], choice: 0 },
      });
    case 'edit':
      return done({ ...ui, prompt: { kind: 'edit-server', text: session.server, sessionId: session.id } });
    case 'options': {
      const text = formatChatSettings(session.chat ?? {});
      return done({ ...ui, prompt: { kind: 'options', text, sessionId: session.id } });
    }
    case 'scroll-transcript':
      return scrollTranscript(ui, session, key);
    case 'reasoning': {
      const reasoningFolded = !ui.reasoningFolded;
      const text = reasoningFolded
        ? 'reasoning folded: one line per reply (t shows it)'
        : 'reasoning shown (t folds it)';
      return done({ ...ui, reasoningFolded }, { type: 'notice', text });
    }
    default: {
      const never: never = action;
      throw new TypeError(`unknown action ${String(never)}`);
    }
  }
}

/** Tab / Shift-Tab: the next or previous session, wrapping; typing stops. */
function nextSession(ui: UiState, key: KeyPress, ctx: KeyContext): KeyResult {
  const count = ctx.sessions.length;
  if (count === 0) return done({ ...ui, composing: false });
  const focus = Math.min(Math.max(ui.focus, 0), count - 1);
  const step = tabDirection(key) === 'next' ? 1 : -1;
  return done({ ...ui, composing: false, focus: (focus + step + count) % count });
}

/** PgUp / PgDn scroll the focused transcript back and forth, typing or not (`ui` focused on `session`). */
function scrollTranscript(ui: UiState, session: Session, key: KeyPress): KeyResult {
  const now = ui.scrolls[session.id] ?? 0;
  // Clamped to what the screen can scroll back, so PgDn always moves at once after many PgUps.
  const limit = session.scrollLimit ?? Number.POSITIVE_INFINITY;
  const next =
    key.name === 'pageup'
      ? Math.min(now + TRANSCRIPT_PAGE, limit)
      : Math.max(0, Math.min(now, limit) - TRANSCRIPT_PAGE);
  return done({ ...ui, scrolls: { ...ui.scrolls, [session.id]: next } });
}

function routeTyping(ui: UiState, focus: number, session: Session, key: KeyPress, ctx: KeyContext): KeyResult {
  const at = { ...ui, focus };
  const row = findBinding(TYPING_KEYS, key);
  if (row === undefined) {
    const action = lineAction(key);
    return action === undefined ? done(at) : editInput(at, session.id, action);
  }
  switch (row.action) {
    case 'send':
      return send(at, session);
    case 'history':
      return walkHistory(at, session.id, key);
    case 'stop-typing':
      return done({ ...at, composing: false });
    case 'stop-reply':
      return performGlobal('stop-reply', ui, key, ctx);
    case 'next-session':
      return nextSession(ui, key, ctx);
    case 'scroll-transcript':
      return scrollTranscript(at, session, key);
    default: {
      const never: never = row.action;
      throw new TypeError(`unknown action ${String(never)}`);
    }
  }
}

/** Enter: the message goes out, unless the session cannot take it yet (then it is kept, with a notice). */
function send(ui: UiState, session: Session): KeyResult {
  const message = (ui.inputs[session.id] ?? '').trim();
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
  const history = remember(ui.histories[session.id] ?? EMPTY_HISTORY, message);
  return done(withLine(ui, session.id, lineAt(''), history), { type: 'send', sessionId: session.id, text: message });
}

/** Up / Down: the messages sent before, the draft kept. */
function walkHistory(ui: UiState, id: string, key: KeyPress): KeyResult {
  const walked = walk(ui.histories[id] ?? EMPTY_HISTORY, key.name === 'up' ? 'back' : 'forward', ui.inputs[id] ?? '');
  return walked === undefined ? done(ui) : done(withLine(ui, id, lineAt(walked.text), walked.history));
}

function editInput(ui: UiState, id: string, action: LineAction): KeyResult {
  const text = ui.inputs[id] ?? '';
  const before = lineAt(text, ui.cursors[id]);
  const line = editLine(before, action);
  if (line.text === text) return line.cursor === before.cursor ? done(ui) : done(withLine(ui, id, line));
  return done(withLine(ui, id, line, stopWalking(ui.histories[id] ?? EMPTY_HISTORY)));
}

/** The one way an input line changes: its text and cursor together, and its history beside them when given. */
function withLine(ui: UiState, id: string, line: LineEdit, history?: InputHistory): UiState {
  const kept = ui.histories[id] ?? EMPTY_HISTORY;
  return {
    ...ui,
    inputs: { ...ui.inputs, [id]: line.text },
    cursors: { ...ui.cursors, [id]: line.cursor },
    histories: history === undefined || history === kept ? ui.histories : { ...ui.histories, [id]: history },
  };
}
