/**
 * The prompts' modes. A text prompt (add or edit a session, chat settings, the log's filter and save path) takes text
 * with the line editor's keys until Enter or Esc; a model prompt completes the id with Tab too. A confirmation (close,
 * cancel, unload, quit) asks y or n: closing drops a session's transcript, cancelling and unloading act on a shared
 * server, so one stray key must not do it.
 */

import { editLine, lineAt } from '../line-edit.js';
import { completeModelId } from '../model-completion.js';
import { findBinding, tabDirection, type Binding } from './binding.js';
import { HELP } from './help-entries.js';
import { lineAction } from './line.js';
import { submitPrompt } from './submit.js';
import {
  done,
  MODEL_PROMPTS,
  type KeyContext,
  type KeyPress,
  type KeyResult,
  type Prompt,
  type PromptKind,
  type UiState,
} from './types.js';

/** The prompts that only ask y or n. */
const CONFIRMATIONS: ReadonlySet<PromptKind> = new Set(['close', 'cancel', 'unload', 'quit']);

/** What a key does in a text prompt, besides editing its line. */
type PromptAction = 'submit' | 'cancel' | 'complete';

/** A text prompt's table, in the order of its status-bar hints; the line editor's keys and characters follow. */
export const PROMPT_KEYS: readonly Binding<PromptAction>[] = [
  { keys: ['Enter'], action: 'submit', hint: 'Enter ok', destructive: false },
  { keys: ['Esc'], action: 'cancel', hint: 'Esc cancel', destructive: false },
];

/** A model prompt's table: a text prompt's, and Tab completes the id from the ids the server lists. */
export const MODEL_PROMPT_KEYS: readonly Binding<PromptAction>[] = [
  ...PROMPT_KEYS,
  { keys: ['Tab', 'Shift-Tab'], action: 'complete', help: HELP.complete, destructive: false },
];

/**
 * A confirmation's table: the answer that does what was asked. Any other key keeps things as they are. The question
 * in the status bar names `y`; `Y` and Enter are answers it does not name.
 */
export const CONFIRM_KEYS: readonly Binding<'confirm'>[] = [
  { keys: ['y', 'Y', 'Enter'], action: 'confirm', destructive: true },
];

/** Routes a key while a prompt is open. */
export function routePrompt(ui: UiState, prompt: Prompt, key: KeyPress, ctx: KeyContext): KeyResult {
  if (CONFIRMATIONS.has(prompt.kind)) return routeConfirmation(ui, prompt, key);
  const action = findBinding(MODEL_PROMPTS.has(prompt.kind) ? MODEL_PROMPT_KEYS : PROMPT_KEYS, key)?.action;
  switch (action) {
    case 'submit':
      return submitPrompt(ui, prompt, ctx);
    case 'cancel':
      return done({ ...ui, prompt: null });
    case 'complete': {
      // The completed id ends with the cursor after it.
      const { error: _dropped, completing: _cycle, cursor: _cursor, ...rest } = prompt;
      const next = completeModelId(prompt.text, prompt.completing, ctx.modelIds ?? [], tabDirection(key));
      return done({ ...ui, prompt: { ...rest, ...next } });
    }
    case undefined:
      return editPrompt(ui, prompt, key);
    default: {
      const never: never = action;
      throw new TypeError(`unknown action ${String(never)}`);
    }
  }
}

function routeConfirmation(ui: UiState, prompt: Prompt, key: KeyPress): KeyResult {
  // blessed's second report of an Enter, as `return`, is no answer.
  if (key.name === 'return') return done(ui);
  const closed = { ...ui, prompt: null };
  if (findBinding(CONFIRM_KEYS, key) === undefined) return done(closed);
  if (prompt.kind === 'quit') return done(closed, { type: 'quit' });
  if (prompt.sessionId === undefined) return done(closed);
  return done(closed, { type: prompt.kind as 'close' | 'cancel' | 'unload', sessionId: prompt.sessionId });
}

function editPrompt(ui: UiState, prompt: Prompt, key: KeyPress): KeyResult {
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
