/** Text broken into lines that fit a width, for the panes that wrap what they show (a chat, an error, the help). */

/** Splits text into lines of at most `width` cells, at spaces where it can, hard-breaking long words. */
export function wrap(text: string, width: number): string[] {
  if (width <= 0) return [];
  const out: string[] = [];
  fold(text, width, FROM_START, out);
  return out;
}

/**
 * Where {@link fold} may pick up again in a text that grows at its end: before the last word of its last paragraph
 * (the one word the text's growth can still change), with the count of lines made before it and the line being
 * filled.
 */
interface FoldState {
  readonly offset: number;
  readonly count: number;
  readonly line: string;
}

const FROM_START: FoldState = { offset: 0, count: 0, line: '' };

/**
 * The greedy wrap as a left fold over the words of `text` from `from.offset` (a word's start): appends the lines to
 * `out`, which holds `from.count` lines, and returns the state before the last word, from which a longer text with the
 * same beginning resumes.
 */
function fold(text: string, width: number, from: FoldState, out: string[]): FoldState {
  let line = from.line;
  let at = from.offset;
  let resume: FoldState = from;
  for (;;) {
    const newline = text.indexOf('\n', at);
    const end = newline < 0 ? text.length : newline;
    for (;;) {
      const space = text.indexOf(' ', at);
      const wordEnd = space < 0 || space > end ? end : space;
      if (newline < 0 && wordEnd === end) resume = { offset: at, count: out.length, line };
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
    if (newline < 0) return resume;
    line = '';
  }
}

/**
 * A wrap's lines in two parts: the first `count` of `head`, then `rest`. `head` may be longer than `count` (it is
 * shared with the later wraps of the same growing text, which only ever add to it past `count`): read the first
 * `count`, never change it.
 */
export interface WrapParts {
  readonly head: readonly string[];
  readonly count: number;
  readonly rest: readonly string[];
}

/**
 * {@link wrap} for texts that grow at their end, as a streaming reply does: each `key` remembers where the wrap of
 * its last text can resume, so a text that extends it costs only its new words, not the whole text again, nor a copy
 * of its lines (`wrapParts`). At most `capacity` keys are kept, the least recently used forgotten first.
 */
export function createWrapMemo(capacity = 1024): {
  /**
   * `wrap(stable + tail, width)`; `stable` is what the next call's text is expected to begin with. The lines of a call
   * whose text, tail and width are the last call's are that call's array: read it, never change it.
   */
  wrap(key: string, stable: string, tail: string, width: number): readonly string[];
  /**
   * The lines of `wrap(prefix + body + tail, width)` as {@link WrapParts}: the lines before the text's last word are
   * shared, not copied. `body` apart: a reply grown a piece at a time is a chain of joined strings that every read
   * walks whole, unless the string itself was read once since it grew (a `prefix + body` made anew each call never is).
   */
  wrapParts(key: string, prefix: string, body: string, tail: string, width: number): WrapParts;
} {
  interface Known {
    readonly prefix: string;
    readonly body: string;
    readonly width: number;
    readonly resume: FoldState;
    /** The lines before `resume`, and past its count whatever a later wrap of a longer text added. */
    readonly head: string[];
    /** The last call's tail and answer: a text that did not change (a finished reply) is not folded again. */
    readonly tail: string;
    readonly parts: WrapParts;
    lines?: string[];
  }
  const memo = new Map<string, Known>();
  const NONE: WrapParts = { head: [], count: 0, rest: [] };

  function known(key: string, prefix: string, body: string, tail: string, width: number): Known | undefined {
    if (width <= 0) return undefined;
    const last = memo.get(key);
    memo.delete(key);
    const same = last !== undefined && last.width === width && last.prefix === prefix;
    if (same && last.tail === tail && last.body === body) {
      memo.set(key, last);
      return last;
    }
    const extends_ = same && body.startsWith(last.body);
    const stable = prefix + body;
    // A text that extends the last one adds to its lines past the resume point; earlier answers read fewer of them.
    const head = extends_ ? last.head : [];
    const start = extends_ ? last.resume : FROM_START;
    head.length = start.count;
    const resume = fold(stable, width, start, head);
    head.length = resume.count;
    const rest: string[] = [];
    fold(stable.slice(resume.offset) + tail, width, { offset: 0, count: 0, line: resume.line }, rest);
    const next: Known = {
      prefix,
      body,
      width,
      resume,
      head,
      tail,
      parts: { head, count: resume.count, rest },
    };
    memo.set(key, next);
    if (memo.size > capacity) memo.delete(memo.keys().next().value as string);
    return next;
  }

  return {
    wrap(key, stable, tail, width) {
      const k = known(key, '', stable, tail, width);
      if (k === undefined) return [];
      k.lines ??= [...k.parts.head.slice(0, k.parts.count), ...k.parts.rest];
      return k.lines;
    },
    wrapParts: (key, prefix, body, tail, width) => known(key, prefix, body, tail, width)?.parts ?? NONE,
  };
}
