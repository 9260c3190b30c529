/**
 * The lines of an SSE stream exactly as sent: each line with its own ending (`\r\n`, `\n`, `\r`, or none at the end
 * of the stream). This is the one line splitter: the parser ({@link ./sse.ts}) gives the lines their meaning, and the
 * client's wire tap records them as they were. It only splits, and classifies a line by the field it names.
 */

/** A line ending as sent; `''` for a last line that the stream cut off. */
export type LineEnding = '\r\n' | '\n' | '\r' | '';

/** What a line is, per the SSE spec: a field, a comment, a blank line (which dispatches an event), or unknown. */
export type WireField = 'data' | 'event' | 'id' | 'retry' | 'comment' | 'blank' | 'unknown';

/** One line of the stream. */
export interface WireLine {
  /** The line without its ending. */
  readonly text: string;
  readonly ending: LineEnding;
  readonly field: WireField;
  /** The field's value (one leading space dropped, as the spec does); a comment's text; `''` for a blank line. */
  readonly value: string;
}

/** Options of {@link createSseLineSplitter}. */
export interface SseLineSplitterOptions {
  /**
   * What a CR at the very end of a text does. `'hold'` (the default) waits for the next text to tell `\r` from
   * `\r\n`, so that every ending is exact (the wire as it was). `'end-line'` ends the line at once, as a parser must
   * (an event whose blank line ends in CR is dispatched without waiting for more input): its ending says `\r`, and
   * an LF that starts the next text, the rest of that CRLF, is skipped.
   */
  readonly trailingCr?: 'hold' | 'end-line';
}

/** An incremental splitter; see {@link createSseLineSplitter}. */
export interface SseLineSplitter {
  /** The next text of the stream (already decoded). */
  feed(text: string): void;
  /** The stream ended: a held CR's line and any unterminated last line (ending `''`) come out. */
  end(): void;
  /** The text after the last line break: a line the stream has not ended (yet). */
  unterminated(): string;
  /** Forgets everything. Called from `onLine`, it also drops the rest of the text being split. */
  reset(): void;
}

const LF = 0x0a;
const SPACE = 0x20;

/** Classifies one line (without its ending). */
export function classifyLine(text: string): Pick<WireLine, 'field' | 'value'> {
  if (text === '') return { field: 'blank', value: '' };
  const colon = text.indexOf(':');
  const rest = (from: number): string => text.slice(text.charCodeAt(from) === SPACE ? from + 1 : from);
  if (colon === 0) return { field: 'comment', value: rest(1) };
  const name = colon === -1 ? text : text.slice(0, colon);
  const value = colon === -1 ? '' : rest(colon + 1);
  switch (name) {
    case 'data':
    case 'event':
    case 'id':
    case 'retry':
      return { field: name, value };
    default:
      return { field: 'unknown', value };
  }
}

function lineOf(text: string, ending: LineEnding): WireLine {
  const { field, value } = classifyLine(text);
  return { text, ending, field, value };
}

/**
 * Creates a splitter that calls `onLine` for each complete line with its ending. A BOM at the start stays in the
 * first line's text (it is part of what was sent; a parser drops it before feeding). One huge line fed in many small
 * texts costs linear time: the unterminated tail is kept as pieces and joined once its line break arrives.
 */
export function createSseLineSplitter(
  onLine: (line: WireLine) => void,
  options: SseLineSplitterOptions = {},
): SseLineSplitter {
  const holdCr = (options.trailingCr ?? 'hold') === 'hold';
  let tail: string[] = [];
  // 'hold': the tail is a whole line whose CR ended the previous text. 'end-line': that line is out; a leading LF is
  // the rest of its CRLF.
  let heldCr = false;
  let skipLf = false;
  // Incremented by reset(), so that a loop whose callback reset the splitter knows to stop.
  let generation = 0;

  const untail = (piece: string): string => {
    if (tail.length === 0) return piece;
    const line = tail.join('') + piece;
    tail = [];
    return line;
  };

  function feed(text: string): void {
    if (text === '') return;
    const current = generation;
    let start = 0;
    if (heldCr) {
      heldCr = false;
      const crlf = text.charCodeAt(0) === LF;
      onLine(lineOf(untail(''), crlf ? '\r\n' : '\r'));
      if (current !== generation) return;
      if (crlf) start = 1;
    } else if (skipLf) {
      skipLf = false;
      if (text.charCodeAt(0) === LF) start = 1;
    }
    split(text, start, current);
  }

  function split(text: string, from: number, current: number): void {
    let start = from;
    // The next CR and LF at or after `start`, each searched again only once passed: runs of short lines stay linear.
    let lf = text.indexOf('\n', start);
    let cr = text.indexOf('\r', start);
    while (start < text.length) {
      if (lf !== -1 && lf < start) lf = text.indexOf('\n', start);
      if (cr !== -1 && cr < start) cr = text.indexOf('\r', start);
      const end = lf === -1 ? cr : cr === -1 ? lf : Math.min(lf, cr);
      if (end === -1) break;
      const line = untail(text.slice(start, end));
      const ending = endingAt(text, end);
      if (ending === '\r' && end + 1 === text.length) {
        if (holdCr) {
          tail = [line];
          heldCr = true;
          return;
        }
        skipLf = true;
      }
      start = end + ending.length;
      onLine(lineOf(line, ending));
      if (current !== generation) return;
    }
    if (start < text.length) tail.push(text.slice(start));
  }

  function end(): void {
    const last = untail('');
    const ending: LineEnding = heldCr ? '\r' : '';
    reset();
    if (ending !== '' || last !== '') onLine(lineOf(last, ending));
  }

  function reset(): void {
    generation++;
    tail = [];
    heldCr = false;
    skipLf = false;
  }

  return { feed, end, unterminated: () => (heldCr ? '' : tail.join('')), reset };
}

/** The line break at `at` (a CR or an LF): `\r\n` only when both are in `text`. */
function endingAt(text: string, at: number): LineEnding {
  if (text.charCodeAt(at) === LF) return '\n';
  return text.charCodeAt(at + 1) === LF ? '\r\n' : '\r';
}

/**
 * A line as the wire view shows it: control characters as escapes (`\t`, `\u001b`) so nothing the server sent can
 * move the cursor, and the ending written out (`\r\n`, `\n`, `\r`, or `⏎?` for none: the stream cut the line off).
 */
export function showWireLine(line: Pick<WireLine, 'text' | 'ending'>): string {
  const body = line.text.replace(/[\x00-\x1f\x7f]/g, (c) =>
    c === '\t' ? '\\t' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  const ending = line.ending === '' ? '⏎?' : line.ending.replace('\r', '\\r').replace('\n', '\\n');
  return `${body}${ending}`;
}
