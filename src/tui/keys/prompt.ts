/**
 * The prompts' modes. A text prompt (add or edit a session, chat settings, the log's filter and save path, where to
 * write the sessions) takes text with the line editor's keys until Enter or Esc; a model prompt completes the id with
 * Tab too. A confirm dialog (close, cancel, unload, quit) is buttons, opened on the one that keeps everything: Left and
 * Right (Tab, Shift-Tab) choose, Enter presses, Esc or any character keeps. Closing drops a transcript, cancelling and
 * unloading act on a shared server, quitting drops the log: no run of typed prose (letters, spaces, Enter) can press
 * anything but Keep.
 */

import { editLine, lineAt } from '../line-edit.js';
import { completeModelId } from '../model-completion.js';
import { findBinding, isPrintable, tabDirection, type Binding } from './binding.js';
import { HELP } from './help-entries.js';
import { lineAction } from './line.js';
import { submitPrompt } from './submit.js';
import {
  done,
  MODEL_PROMPTS,
  type Command,
  type DialogChoice,
  type KeyContext,
  type KeyPress,
  type KeyResult,
  type Prompt,
  type PromptKind,
  type UiState,
  CONFIRM_PROMPTS,
} from './types.js';

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

/** What a key does in a confirm dialog. */
type DialogAction = 'previous' | 'next' | 'confirm' | 'keep';

/**
 * A confirm dialog's table, in the order of its status-bar hints. A character closes the dialog keeping everything,
 * and says so; any other key waits.
 */
export const CONFIRM_KEYS: readonly Binding<DialogAction>[] = [
  { keys: ['Left', 'Shift-Tab'], action: 'previous', help: HELP.dialog, hint: '←→ choose', destructive: false },
  { keys: ['Right', 'Tab'], action: 'next', help: HELP.dialog, destructive: false },
  { keys: ['Enter'], action: 'confirm', help: HELP.dialog, hint: 'Enter presses', destructive: true },
  { keys: ['Esc'], action: 'keep', help: HELP.dialog, hint: 'Esc keeps', destructive: false },
];

/** Routes a key while a prompt is open. */
export function routePrompt(ui: UiState, prompt: Prompt, key: KeyPress, ctx: KeyContext): KeyResult {
  if (CONFIRM_PROMPTS.has(prompt.kind)) return routeDialog(ui, prompt, key);
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

function routeDialog(ui: UiState, prompt: Prompt, key: KeyPress): KeyResult {
  // blessed's second report of an Enter, as `return`, is no key.
  if (key.name === 'return') return done(ui);
  const closed = { ...ui, prompt: null };
  const choices = prompt.choices ?? ['keep'];
  const at = Math.min(Math.max(prompt.choice ?? 0, 0), choices.length - 1);
  const action = findBinding(CONFIRM_KEYS, key)?.action;
  switch (action) {
    case 'previous':
    case 'next': {
      const by = action === 'next' ? 1 : -1;
      return done({ ...ui, prompt: { ...prompt, choice: (at + by + choices.length) % choices.length } });
    }
    case 'confirm':
      return done(closed, ...pressButton(prompt, choices[at] ?? 'keep'));
    case 'keep':
      return done(closed);
    case undefined:
      // A character (prose, or a `y` from habit) keeps everything and says so; other keys wait for an answer.
      return isPrintable(key)
        ? done(closed, {
            type: 'notice',
            text: `kept: ${KEPT[prompt.kind] ?? 'nothing changed'} (letters never press a button: → then Enter does)`,
          })
        : done(ui);
    default: {
      const never: never = action;
      throw new TypeError(`unknown action ${String(never)}`);
    }
  }
}

/** What a dialog closed by a character kept, in words. */
const KEPT: Readonly<Partial<Record<PromptKind, string>>> = {
  close: 'the session is open',
  cancel: 'the load goes on',
  unload: 'the model stays loaded',
  load: 'nothing was loaded',
  delete: 'the model’s files stay on the server’s disk',
  quit: 'modeldeck goes on',
};

/** What pressing a dialog's button does. */
function pressButton(prompt: Prompt, choice: DialogChoice): Command[] {
  switch (choice) {
    case 'keep':
      return [];
    case 'quit':
      return [{ type: 'quit' }];
    case 'save-quit':
      return [{ type: 'quit', saves: prompt.saves ?? {} }];
    case 'load':
    case 'delete':
    case 'cancel':
    case 'unload':
      // From the server view: the row, whoever loaded its model.
      if (prompt.target !== undefined) {
        return [{ type: 'server-action', action: choice, root: prompt.target.root, model: prompt.target.model }];
      }
      return choice === 'load' || choice === 'delete' || prompt.sessionId === undefined
        ? []
        : [{ type: choice, sessionId: prompt.sessionId }];
    case 'close':
      return prompt.sessionId === undefined ? [] : [{ type: choice, sessionId: prompt.sessionId }];
    default: {
      const never: never = choice;
      throw new TypeError(`unknown choice ${String(never)}`);
    }
  }
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
