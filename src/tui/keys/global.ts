/**
 * The actions the sessions' command keys and the log pane share (wherever no text is typed): the help, quit, add a
 * session, the server view, jump to a session (by digit, or Ctrl-G and its number or name), stop a reply, write the
 * sessions to a config file. Each mode's table binds them to its own rows.
 */

import type { DialogChoice, KeyContext, KeyPress, KeyResult, QuitSaves, UiState } from './types.js';
import { done } from './types.js';

/** An action that works wherever no text is being typed. */
export type GlobalAction =
  'help' | 'quit' | 'add' | 'servers' | 'jump' | 'jump-prompt' | 'stop-reply' | 'save-sessions';

/** Where Ctrl-S offers to write the sessions when the dashboard started from no config file (in its directory). */
export const DEFAULT_CONFIG_FILE = 'modeldeck.json';

/** Performs a {@link GlobalAction} (`jump` reads the digit from `key`). */
export function performGlobal(action: GlobalAction, ui: UiState, key: KeyPress, ctx: KeyContext): KeyResult {
  switch (action) {
    case 'help':
      return done({ ...ui, help: true });
    case 'quit':
      return done(askQuit(ui, ctx));
    case 'add':
      return done({ ...ui, prompt: { kind: 'add-server', text: '' } });
    case 'servers':
      // Shown, the view takes the keys (its cursor); from there `v` closes it, Tab or Esc gives the keys back.
      return done({ ...ui, serverView: true, serverFocused: true, logFocused: false, zoom: null, composing: false });
    case 'jump':
      return jump(ui, key.ch ?? '', ctx);
    case 'jump-prompt':
      // Any session, 10 and up too: by number, tag or part of its model (`submit.ts`).
      return done({ ...ui, prompt: { kind: 'jump', text: '' } });
    case 'stop-reply': {
      const session = ctx.sessions[ui.focus];
      if (session?.replying !== true) return done(ui, { type: 'notice', text: 'no reply is streaming to stop' });
      return done(ui, { type: 'stop', sessionId: session.id });
    }
    case 'save-sessions':
      return saveSessions(ui, ctx);
    default: {
      const never: never = action;
      throw new TypeError(`unknown action ${String(never)}`);
    }
  }
}

/**
 * The quit dialog, opened on Cancel: Quit, and Save & quit where there is something to save (the event log to a new
 * `.jsonl` file; the sessions to the config file they came from, when they changed).
 */
export function askQuit(ui: UiState, ctx: KeyContext): UiState {
  const saves = quitSaves(ctx);
  const choices: DialogChoice[] =
    saves.log !== undefined || saves.sessions !== undefined ? ['save-quit', 'quit', 'keep'] : ['quit', 'keep'];
  return { ...ui, prompt: { kind: 'quit', text: '', choices, choice: choices.length - 1, saves } };
}

/** What quitting now would lose, and so what the quit dialog offers to save. */
export function quitSaves(ctx: KeyContext): QuitSaves {
  return {
    ...((ctx.logEntries ?? 0) > 0 ? { log: defaultLogFileName(ctx.now, 'jsonl') } : {}),
    ...(ctx.configPath !== undefined && ctx.sessionsChanged === true ? { sessions: ctx.configPath } : {}),
  };
}

/** Whether quitting now loses something: a load being watched, a transcript, the event log, changed sessions. */
export function quitLoses(ctx: KeyContext): boolean {
  const saves = quitSaves(ctx);
  return (
    saves.log !== undefined ||
    saves.sessions !== undefined ||
    ctx.sessions.some((s) => s.loading === true || s.hasTranscript === true)
  );
}

/**
 * Ctrl-S: where to write the open sessions. The config file the dashboard started from is offered as the file to
 * write over (the prompt says so); otherwise `modeldeck.json`, written only if it does not exist yet.
 */
function saveSessions(ui: UiState, ctx: KeyContext): KeyResult {
  if (ctx.sessions.length === 0) return done(ui, { type: 'notice', text: 'no session is open to write' });
  const path = ctx.configPath ?? DEFAULT_CONFIG_FILE;
  return done({
    ...ui,
    prompt: { kind: 'save-sessions', text: path, ...(ctx.configPath !== undefined ? { overwrite: path } : {}) },
  });
}

/** `modeldeck-events-YYYYMMDD-HHMMSS.jsonl` (or `.txt`) in local time. */
export function defaultLogFileName(now: number, extension: 'jsonl' | 'txt' = 'jsonl'): string {
  const d = new Date(now);
  const two = (n: number): string => String(n).padStart(2, '0');
  const date = `${d.getFullYear()}${two(d.getMonth() + 1)}${two(d.getDate())}`;
  const time = `${two(d.getHours())}${two(d.getMinutes())}${two(d.getSeconds())}`;
  return `modeldeck-events-${date}-${time}.${extension}`;
}

/** 1–9 jump to that session (from the log too), or say how many are open. */
function jump(ui: UiState, digit: string, ctx: KeyContext): KeyResult {
  const index = Number(digit) - 1;
  if (ctx.sessions[index] === undefined) {
    const open = ctx.sessions.length;
    return done(ui, {
      type: 'notice',
      text: `no session ${digit}: ${open === 0 ? 'none is' : open === 1 ? 'one is' : `${open} are`} open`,
    });
  }
  return done({ ...ui, focus: index, logFocused: false, composing: false, zoom: ui.zoom === 'log' ? null : ui.zoom });
}
