/**
 * Every mode's binding tables in one place, and what is built from them: the help overlay's entries
 * ({@link KEY_HELP}) and the status bar's hints ({@link keyHints}). The server view (`v`) is a mode while it has the
 * keys (its cursor, `servers.ts`); Tab or Esc gives them back to the sessions, whose commands work beside it.
 */

import type { Binding, HelpEntry } from './binding.js';
import { HELP } from './help-entries.js';
import { LINE_KEYS } from './line.js';
import { DEBUG_KEYS, INSPECTOR_KEYS, LOG_KEYS } from './log.js';
import { CONFIRM_KEYS, MODEL_PROMPT_KEYS, PROMPT_KEYS } from './prompt.js';
import { ANYWHERE_KEYS, HELP_KEYS } from './route.js';
import { SERVER_KEYS } from './servers.js';
import { COMMAND_KEYS, TYPING_KEYS } from './session.js';

/** One mode: the tables its router reads, in that order, and the word the status bar puts before its hints. */
interface KeyMode {
  readonly tables: readonly (readonly Binding<unknown>[])[];
  readonly label?: string;
}

/** Every mode, by name, with the tables its router reads (a row earlier in them wins). */
export const KEY_MODES = {
  anywhere: { tables: [ANYWHERE_KEYS] },
  help: { tables: [HELP_KEYS] },
  commands: { tables: [COMMAND_KEYS], label: 'commands' },
  typing: { tables: [TYPING_KEYS, LINE_KEYS], label: 'typing' },
  prompt: { tables: [PROMPT_KEYS, LINE_KEYS] },
  'model-prompt': { tables: [MODEL_PROMPT_KEYS, LINE_KEYS] },
  confirm: { tables: [CONFIRM_KEYS] },
  servers: { tables: [SERVER_KEYS], label: 'servers' },
  log: { tables: [LOG_KEYS] },
  debug: { tables: [DEBUG_KEYS] },
  inspector: { tables: [INSPECTOR_KEYS] },
} as const satisfies Readonly<Record<string, KeyMode>>;

/** The modes the status bar gives hints for. */
type HintedMode = 'commands' | 'typing' | 'log' | 'prompt' | 'confirm' | 'servers';

const ROWS: readonly Binding<unknown>[] = Object.values(KEY_MODES).flatMap((mode) => mode.tables.flat());

/** Every key, for the help overlay: [keys, what they do], the entries some row binds, in {@link HELP}'s order. */
export const KEY_HELP: readonly HelpEntry[] = Object.values(HELP).filter((entry) =>
  ROWS.some((row) => row.help === entry),
);

/** The status bar's keys for `mode`: its rows' hints in table order, after the mode's word (`commands: ? help · …`). */
export function keyHints(mode: HintedMode): string {
  const { tables, label }: KeyMode = KEY_MODES[mode];
  const hints = tables.flatMap((table) => table.flatMap((row) => (row.hint === undefined ? [] : [row.hint])));
  return `${label === undefined ? '' : `${label}: `}${hints.join(' · ')}`;
}
