/**
 * What a replay refuses: a replay shows a recording and sends nothing, so the keys that would act on a server (chat,
 * add, edit, chat settings, retry, cancel, unload, stop a reply) are off, and pressing one says so at once rather than
 * opening a prompt that could come to nothing. Viewing, the log, saving, jumping, closing a pane and quitting work.
 * Judged on what the key router returned, so it holds whatever key a binding table gives an action. Pure.
 */

import type { Command, KeyResult, PromptKind, UiState } from './keys/types.js';

/** The prompts a replay opens: none of them reaches a server. */
const REPLAY_PROMPTS: ReadonlySet<PromptKind> = new Set(['filter', 'save', 'jump', 'close', 'quit']);

/** What each command that would reach a server does, in words. */
const LIVE_COMMANDS: Partial<Readonly<Record<Command['type'], string>>> = {
  send: 'sending a message',
  retry: 'retrying a load',
  cancel: 'cancelling a load',
  unload: 'unloading a model',
  stop: 'stopping a reply',
  add: 'adding a session',
  edit: 'editing a session',
  'set-chat': 'chat settings',
  'list-models': 'asking a server for its models',
  'server-action': 'acting on a server’s model',
};

/** What each prompt that leads to a server does, in words. */
const LIVE_PROMPTS: Partial<Readonly<Record<PromptKind, string>>> = {
  'add-server': 'adding a session',
  'edit-server': 'editing a session',
  options: 'chat settings',
  cancel: 'cancelling a load',
  unload: 'unloading a model',
  load: 'loading a model',
};

/**
 * The note a replay shows instead of what a key press would have done (`before` the UI state, `routed` what the router
 * returned), or `null` when the key does nothing a replay refuses.
 */
export function liveOnly(before: UiState, routed: KeyResult): string | null {
  const what = refusedAction(before, routed);
  return what === null ? null : `replay: ${what} is live only (a replay sends nothing to any server)`;
}

function refusedAction(before: UiState, routed: KeyResult): string | null {
  for (const command of routed.commands) {
    const what = LIVE_COMMANDS[command.type];
    if (what !== undefined) return what;
  }
  if (routed.ui.composing && !before.composing) return 'typing a message';
  const prompt = routed.ui.prompt;
  if (prompt !== null && prompt.kind !== before.prompt?.kind && !REPLAY_PROMPTS.has(prompt.kind)) {
    return LIVE_PROMPTS[prompt.kind] ?? `the ${prompt.kind} prompt`;
  }
  return null;
}
