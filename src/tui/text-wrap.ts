/** Text broken into lines that fit a width, for the panes that wrap what they show (a chat, an error, the help). */

/** Splits text into lines of at most `width` cells, at spaces where it can, hard-breaking long words. */
export function wrap(text: string, width: number): string[] {
  if (width <= 0) return [];
  return fold(text, width, { offset: 0, out: [], line: '' }).lines;
}

/**
 * Where {@link fold} may pick up again in a text that grows at its end: before the last word of its last paragraph
 * (the one word the text's growth can still change), with the lines made before it and the line being filled.
 */
interface FoldState {
  readonly offset: number;
  readonly out: readonly string[];
  readonly line: string;
}

/**
 * The greedy wrap as a left fold over the words of `text` from `from.offset` (a word's start) with `from`'s lines:
 * the wrapped lines, and the state before the last word, from which a longer text with the same beginning resumes.
 */
function fold(text: string, width: number, from: FoldState): { lines: string[]; resume: FoldState } {
  const out = [...from.out];
  let line = from.line;
  let at = from.offset;
  let resume: FoldState = from;
  for (;;) {
    const newline = text.indexOf('\n', at);
    const end = newline < 0 ? text.length : newline;
    for (;;) {
      const space = text.indexOf(' ', at);
      const wordEnd = space < 0 || space > end ? end : space;
      if (newline < 0 && wordEnd === end) resume = { offset: at, out: [...out], line };
      const word = text.slice(at, wordEnd);
      const candidate = line === '' ? word : `${line} ${word}`;
      if ([...candidate].length <= width) line = candidate;
      else {
        if (line !== '') out.push(line);
        let rest = [...word];
        while (rest.length > width) {
          out.push(rest.slice(0, width).join(''));
          rest = rest.slice(width);
        }
        line = rest.join('');
      }
      at = wordEnd + 1;
      if (wordEnd === end) break;
    }
    out.push(line);
    if (newline < 0) return { lines: out, resume };
    line = '';
  }
}

/**
 * {@link wrap} for texts that grow at their end, as a streaming reply does: each `key` remembers where the wrap of
 * its last text can resume, so a text that extends it costs only its new words, not the whole text again. At most
 * `capacity` keys are kept, the least recently used forgotten first.
 */
export function createWrapMemo(capacity = 1024): {
  /**
   * `wrap(stable + tail, width)`; `stable` is what the next call's text is expected to begin with. The lines of a call
   * whose text, tail and width are the last call's are that call's array: read it, never change it.
   */
  wrap(key: string, stable: string, tail: string, width: number): readonly string[];
} {
  interface Known {
    readonly text: string;
    readonly width: number;
    readonly resume: FoldState;
    /** The last call's tail and answer: a text that did not change (a finished reply) is not folded again. */
    readonly tail: string;
    readonly lines: string[];
  }
  const memo = new Map<string, Known>();
  return {
    wrap(key, stable, tail, width) {
      if (width <= 0) return [];
      const known = memo.get(key);
      memo.delete(key);
      if (known !== undefined && known.width === width && known.tail === tail && known.text === stable) {
        memo.set(key, known);
        return known.lines;
      }
      const start =
        known !== undefined && known.width === width && stable.startsWith(known.text)
          ? known.resume
          : { offset: 0, out: [], line: '' };
      const { resume } = fold(stable, width, start);
      const lines = fold(stable + tail, width, resume).lines;
      memo.set(key, { text: stable, width, resume, tail, lines });
      if (memo.size > capacity) memo.delete(memo.keys().next().value as string);
      return lines;
    },
  };
}
