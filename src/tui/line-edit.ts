/**
 * One line of text being edited the way a shell edits it: the text and a cursor, and the edits the keys make
 * (insert, delete either side, move by character or word, delete to either end or the word before the cursor). The
 * cursor counts code points, so no edit or move ever splits a surrogate pair. Pure; the key router maps keys to
 * {@link LineAction}s and the view shows a {@link lineWindow} of it.
 */

/** A line being edited. */
export interface LineEdit {
  readonly text: string;
  /** Code points before the cursor: 0 is the start, the text's length in code points the end. */
  readonly cursor: number;
}

/** What one key does to a line. */
export type LineAction =
  | { readonly type: 'insert'; readonly text: string }
  /** Delete the character before the cursor (Backspace). */
  | { readonly type: 'backspace' }
  /** Delete the character under the cursor (Delete). */
  | { readonly type: 'delete' }
  | { readonly type: 'left' }
  | { readonly type: 'right' }
  | { readonly type: 'home' }
  | { readonly type: 'end' }
  /** Back to the start of this word or the one before (Alt-B, Ctrl-Left). */
  | { readonly type: 'word-left' }
  /** On to the end of this word or the next (Alt-F, Ctrl-Right). */
  | { readonly type: 'word-right' }
  /** Delete from the start to the cursor (Ctrl-U). */
  | { readonly type: 'kill-start' }
  /** Delete from the cursor to the end (Ctrl-K). */
  | { readonly type: 'kill-end' }
  /** Delete the word before the cursor and the spaces after it, as a shell's Ctrl-W does (words end at spaces). */
  | { readonly type: 'kill-word' };

/** `text` with the cursor at `cursor` (clamped to the text), at the end when not given. */
export function lineAt(text: string, cursor?: number): LineEdit {
  const length = [...text].length;
  const at = cursor === undefined || !Number.isFinite(cursor) ? length : Math.trunc(cursor);
  return { text, cursor: Math.min(Math.max(at, 0), length) };
}

/** The line after `action`. */
export function editLine(line: LineEdit, action: LineAction): LineEdit {
  const chars = [...line.text];
  const cursor = Math.min(Math.max(line.cursor, 0), chars.length);
  const before = chars.slice(0, cursor);
  const after = chars.slice(cursor);
  const join = (head: readonly string[], tail: readonly string[]): LineEdit => ({
    text: head.join('') + tail.join(''),
    // Counted again from the joined text: half a surrogate pair typed next to its other half makes one code point.
    cursor: [...head.join('')].length,
  });
  switch (action.type) {
    case 'insert':
      return join([...before, action.text], after);
    case 'backspace':
      return join(before.slice(0, -1), after);
    case 'delete':
      return join(before, after.slice(1));
    case 'left':
      return { text: line.text, cursor: Math.max(0, cursor - 1) };
    case 'right':
      return { text: line.text, cursor: Math.min(chars.length, cursor + 1) };
    case 'home':
      return { text: line.text, cursor: 0 };
    case 'end':
      return { text: line.text, cursor: chars.length };
    case 'word-left':
      return { text: line.text, cursor: wordStartBefore(chars, cursor) };
    case 'word-right':
      return { text: line.text, cursor: wordEndAfter(chars, cursor) };
    case 'kill-start':
      return join([], after);
    case 'kill-end':
      return join(before, []);
    case 'kill-word':
      return join(before.slice(0, wordStartBefore(chars, cursor)), after);
    default: {
      const never: never = action;
      throw new TypeError(`unknown line action ${String(never)}`);
    }
  }
}

const isSpace = (c: string | undefined): boolean => c !== undefined && /^\s$/u.test(c);

/** Where the word before `cursor` starts: back over spaces, then over the word. */
function wordStartBefore(chars: readonly string[], cursor: number): number {
  let at = cursor;
  while (at > 0 && isSpace(chars[at - 1])) at--;
  while (at > 0 && !isSpace(chars[at - 1])) at--;
  return at;
}

/** Where the word at or after `cursor` ends: on over spaces, then over the word. */
function wordEndAfter(chars: readonly string[], cursor: number): number {
  let at = cursor;
  while (at < chars.length && isSpace(chars[at])) at++;
  while (at < chars.length && !isSpace(chars[at])) at++;
  return at;
}

/**
 * What a field `width` cells wide shows of a line, the cursor always in sight: the cursor takes a cell of its own at
 * the end of the text (else it sits on the character under it), and where the text is cut on either side an ellipsis
 * takes that side's outer cell. The window moves by half a field at a time, so that the text does not slide under
 * the cursor at each move.
 */
export interface LineWindow {
  /** The text was cut before {@link LineWindow.before} (an ellipsis goes first). */
  readonly cutStart: boolean;
  /** Shown text before the cursor. */
  readonly before: string;
  /** The character under the cursor, `null` when the cursor is at the end. */
  readonly at: string | null;
  /** Shown text after the cursor. */
  readonly after: string;
  /** The text was cut after {@link LineWindow.after} (an ellipsis goes last). */
  readonly cutEnd: boolean;
}

/** The part of `line` a field `width` cells wide shows. */
export function lineWindow(line: LineEdit, width: number): LineWindow {
  const chars = [...line.text];
  const cursor = Math.min(Math.max(line.cursor, 0), chars.length);
  const cells = chars.length + (cursor === chars.length ? 1 : 0);
  const at = chars[cursor] ?? null;
  const window = (start: number, end: number): LineWindow => ({
    cutStart: start > 0,
    before: chars.slice(start, cursor).join(''),
    at,
    after: chars.slice(cursor + 1, end).join(''),
    cutEnd: end < cells,
  });
  if (cells <= width) return window(0, cells);
  // Too narrow for ellipses: the cursor alone.
  if (width < 3) return { cutStart: cursor > 0, before: '', at, after: '', cutEnd: cursor + 1 < cells };
  // Cut on both sides, `width - 2` cells show text; the window starts at a multiple of half that.
  const inner = width - 2;
  const step = Math.max(1, Math.floor(inner / 2));
  const start = Math.max(0, (Math.floor((cursor - inner) / step) + 1) * step);
  if (start === 0) return window(0, width - 1);
  // Near the end only the start is cut: the window shows the tail, the cursor still in it.
  if (start + width - 1 >= cells) return window(cells - (width - 1), cells);
  return window(start, start + inner);
}
