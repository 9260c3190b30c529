/**
 * The line editor's keys, the same in the chat input and in every prompt: a shell's editing keys, each to the
 * {@link LineAction} it makes. A character typed is inserted; the rows name every other key.
 */

import type { LineAction } from '../line-edit.js';
import { findBinding, isPrintable, type Binding } from './binding.js';
import { HELP } from './help-entries.js';
import type { KeyPress } from './types.js';

/** What a line-editing key does: every {@link LineAction} but typing a character. */
type LineKeyAction = Exclude<LineAction['type'], 'insert'>;

/** The line editor's binding table. */
export const LINE_KEYS: readonly Binding<LineKeyAction>[] = [
  // Alt-Backspace deletes a word, like Ctrl-W; Backspace with Ctrl is still one character.
  { keys: ['Alt-Backspace'], action: 'kill-word', help: HELP.delete, destructive: false },
  { keys: ['Backspace', 'Ctrl-H'], action: 'backspace', help: HELP.delete, destructive: false },
  { keys: ['Alt-B'], action: 'word-left', help: HELP.move, destructive: false },
  { keys: ['Alt-F'], action: 'word-right', help: HELP.move, destructive: false },
  { keys: ['Home', 'Ctrl-A'], action: 'home', help: HELP.move, destructive: false, exact: true },
  { keys: ['End', 'Ctrl-E'], action: 'end', help: HELP.move, destructive: false, exact: true },
  { keys: ['Ctrl-U'], action: 'kill-start', help: HELP.delete, destructive: false, exact: true },
  { keys: ['Ctrl-K'], action: 'kill-end', help: HELP.delete, destructive: false, exact: true },
  { keys: ['Ctrl-W'], action: 'kill-word', help: HELP.delete, destructive: false, exact: true },
  { keys: ['Ctrl-Left'], action: 'word-left', help: HELP.move, destructive: false, exact: true },
  { keys: ['Ctrl-Right'], action: 'word-right', help: HELP.move, destructive: false, exact: true },
  { keys: ['Left'], action: 'left', help: HELP.move, destructive: false, exact: true },
  { keys: ['Right'], action: 'right', help: HELP.move, destructive: false, exact: true },
  { keys: ['Del'], action: 'delete', help: HELP.delete, destructive: false, exact: true },
];

/** What a key does to a line being typed (the chat input, a prompt), as a shell's line editor does; or nothing. */
export function lineAction(key: KeyPress): LineAction | undefined {
  if (isPrintable(key)) return { type: 'insert', text: key.ch };
  const row = findBinding(LINE_KEYS, key);
  return row === undefined ? undefined : { type: row.action };
}
