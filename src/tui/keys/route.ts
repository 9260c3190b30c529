/**
 * The dashboard's one key router: every key press goes through {@link routeKey}, a pure function from the UI state
 * and a key to the next UI state and the commands to run. One handler (rather than blessed text boxes reading input
 * on their own) is what keeps keystrokes from being lost or doubled when focus moves.
 *
 * Modes, in order of precedence: Ctrl-C quits (asking first when something would be lost, and a second Ctrl-C in
 * that dialog quits); the help overlay takes any key to close; a prompt takes text until Enter or Esc (a confirm
 * dialog, its buttons); the log pane has its own keys, by its view; so has the server view while it has them; a
 * session either takes command keys or, while
 * typing a message, text. Each mode reads its binding table (`modes.ts` lists
 * them); a key no row binds does nothing, or what the mode says of such keys.
 */

import { findBinding, keyMatches, type Binding } from './binding.js';
import { askQuit, quitLoses } from './global.js';
import { HELP } from './help-entries.js';
import { routeLog } from './log.js';
import { routePrompt } from './prompt.js';
import { routeServers } from './servers.js';
import { routeSession } from './session.js';
import { done, type KeyContext, type KeyPress, type KeyResult, type UiState } from './types.js';

/** The keys that work in every mode, before any other. */
export const ANYWHERE_KEYS: readonly Binding<'quit'>[] = [
  { keys: ['Ctrl-C'], action: 'quit', help: HELP.quit, destructive: true },
];

/** The help overlay's table: it turns its pages; any other key closes it. */
export const HELP_KEYS: readonly Binding<'next-page' | 'previous-page'>[] = [
  { keys: ['PgDn', 'Down', 'space'], action: 'next-page', help: HELP.help, destructive: false },
  { keys: ['PgUp', 'Up'], action: 'previous-page', help: HELP.help, destructive: false },
];

/** Routes one key press. Pure. */
export function routeKey(ui: UiState, key: KeyPress, ctx: KeyContext): KeyResult {
  if (findBinding(ANYWHERE_KEYS, key) !== undefined) {
    // Ctrl-C is no prose: with nothing to lose it quits at once, and in the quit dialog it is the Quit button.
    if (ui.prompt?.kind === 'quit' || !quitLoses(ctx)) return done(ui, { type: 'quit' });
    return done(askQuit({ ...ui, help: false }, ctx));
  }
  if (ui.help) return routeHelp(ui, key, ctx);
  if (ui.prompt !== null) return routePrompt(ui, ui.prompt, key, ctx);
  if (ui.logFocused) return routeLog(ui, key, ctx);
  // The view has the keys while it is shown, which it is only beside a session.
  if (ui.serverView && ui.serverFocused && ctx.sessions.length > 0) return routeServers(ui, key, ctx);
  return routeSession(ui, key, ctx);
}

/** A paged help: PgDn, Down or space turn the page (space closes on the last), PgUp or Up back; other keys close. */
function routeHelp(ui: UiState, key: KeyPress, ctx: KeyContext): KeyResult {
  const last = Math.max(0, (ctx.helpPages ?? 1) - 1);
  const page = Math.min(ui.helpPage, last);
  const closed = done({ ...ui, help: false, helpPage: 0 });
  const action = findBinding(HELP_KEYS, key)?.action;
  switch (action) {
    case 'next-page':
      if (page < last) return done({ ...ui, helpPage: page + 1 });
      return keyMatches('space', key) ? closed : done(ui);
    case 'previous-page':
      return done({ ...ui, helpPage: Math.max(0, page - 1) });
    case undefined:
      return closed;
    default: {
      const never: never = action;
      throw new TypeError(`unknown action ${String(never)}`);
    }
  }
}
