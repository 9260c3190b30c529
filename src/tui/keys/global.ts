/**
 * The actions the sessions' command keys and the log pane share (wherever no text is typed): the help, quit, add a
 * session, the server view, jump to a session (by digit, or `g` and its number or name), stop a reply. Each mode's table binds them to its own rows.
 */

import type { KeyContext, KeyPress, KeyResult, UiState } from './types.js';
import { done } from './types.js';

/** An action that works wherever no text is being typed. */
export type GlobalAction = 'help' | 'quit' | 'add' | 'servers' | 'jump' | 'jump-prompt' | 'stop-reply';

/** Performs a {@link GlobalAction} (`jump` reads the digit from `key`). */
export function performGlobal(action: GlobalAction, ui: UiState, key: KeyPress, ctx: KeyContext): KeyResult {
  switch (action) {
    case 'help':
      return done({ ...ui, help: true });
    case 'quit':
      return quit(ui, ctx);
    case 'add':
      return done({ ...ui, prompt: { kind: 'add-server', text: '' } });
    case 'servers':
      return done({ ...ui, serverView: !ui.serverView });
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
    default: {
      const never: never = action;
      throw new TypeError(`unknown action ${String(never)}`);
    }
  }
}

/** Quitting drops every transcript and leaves loads unwatched: with either, one stray q must not do it. */
function quit(ui: UiState, ctx: KeyContext): KeyResult {
  const loads = ctx.sessions.filter((s) => s.loading === true).length;
  const transcripts = ctx.sessions.filter((s) => s.hasTranscript === true).length;
  if (loads === 0 && transcripts === 0) return done(ui, { type: 'quit' });
  return done({ ...ui, prompt: { kind: 'quit', text: '' } });
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
