/**
 * A key-binding table: one row per action of a mode, naming the keys that produce it, the action, whether it destroys
 * something, where the help overlay tells it and the status bar's hint for it. A mode's router looks the key up in its
 * table ({@link findBinding}) and performs the row's action; the help overlay and the hints are built from the same
 * rows (`modes.ts`), as k9s builds its menu and its help from its `KeyActions`, so a key and its help cannot drift
 * apart. Pure.
 */

import type { KeyPress } from './types.js';

/** One entry of the help overlay: the keys as its key column spells them, and what they do. */
export type HelpEntry = readonly [keys: string, text: string];

/** One row of a mode's binding table. */
export interface Binding<A> {
  /**
   * The keys, spelled as the help spells them: a character (`x`, `?`, `G`), `space`, a named key (`Enter`, `Esc`,
   * `Tab`, `Backspace`, `Up`, `Down`, `Left`, `Right`, `PgUp`, `PgDn`, `Home`, `End`, `Del`) or either with the
   * modifier that must be held (`Ctrl-X`, `Alt-B`, `Shift-Tab`). A modifier the spelling does not name may be held too,
   * unless the row is {@link Binding.exact}.
   */
  readonly keys: readonly string[];
  /** What the keys do: the mode's router performs it. */
  readonly action: A;
  /**
   * The action destroys what no key brings back: it closes a session, cancels a load or a reply being generated,
   * unloads a model from a server's memory, or quits; or it asks to (`x` opens the question whose `y` closes). The
   * gestures that confirm such an action key on this flag.
   */
  readonly destructive: boolean;
  /** The help overlay's entry that tells these keys; absent when the status bar's hint tells them. */
  readonly help?: HelpEntry;
  /** The status bar's words for the row in its mode (`x close`), in the table's order; absent: not hinted. */
  readonly hint?: string;
  /** Ctrl and Alt are held exactly as the keys name them (a digit with Ctrl is no digit; Ctrl-Home moves nowhere). */
  readonly exact?: boolean;
}

/** blessed's names for the keys the help spells otherwise. */
const KEY_NAMES: Readonly<Record<string, string>> = {
  Enter: 'enter',
  Esc: 'escape',
  Backspace: 'backspace',
  PgUp: 'pageup',
  PgDn: 'pagedown',
  Del: 'delete',
};

/** Whether `key` is the key `spelling` names ({@link Binding.keys}). */
export function keyMatches(spelling: string, key: KeyPress, exact = false): boolean {
  if (spelling.length === 1) return key.ch === spelling && (!exact || (!key.ctrl && !key.meta));
  const parts = spelling.split('-');
  const base = parts.at(-1) ?? '';
  const ctrl = parts.includes('Ctrl');
  const meta = parts.includes('Alt');
  if ((ctrl && !key.ctrl) || (meta && !key.meta) || (parts.includes('Shift') && !key.shift)) return false;
  if (exact && (Boolean(key.ctrl) !== ctrl || Boolean(key.meta) !== meta)) return false;
  // blessed reports space by name from a terminal and as a character from a paste.
  if (base === 'space') return key.name === 'space' || key.ch === ' ';
  return key.name === (KEY_NAMES[base] ?? base.toLowerCase());
}

/** The first row of `table` that binds `key`, if any: a row earlier in the table wins. */
export function findBinding<A>(table: readonly Binding<A>[], key: KeyPress): Binding<A> | undefined {
  return table.find((row) => row.keys.some((spelling) => keyMatches(spelling, key, row.exact)));
}

/** A character to type: no Ctrl or Alt, and not a control character (Enter, Tab, Esc). */
export function isPrintable(key: KeyPress): key is KeyPress & { ch: string } {
  if (key.ctrl || key.meta || typeof key.ch !== 'string' || key.ch.length === 0) return false;
  const code = key.ch.codePointAt(0) ?? 0;
  return code >= 0x20 && code !== 0x7f && !/[\r\n\t\x1b]/.test(key.ch);
}

/** Which way Tab moves: Shift-Tab back. */
export function tabDirection(key: KeyPress): 'next' | 'previous' {
  return key.shift ? 'previous' : 'next';
}
