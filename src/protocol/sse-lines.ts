/**
 * The lines of an SSE stream exactly as sent: each line with its own ending (`\r\n`, `\n`, `\r`, or none at the end
 * of the stream), for showing the wire as it was. The meaning of the lines is {@link ./sse.ts}'s job; this only
 * splits, and classifies a line by the field it names.
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

/** An incremental splitter; see {@link createSseLineSplitter}. */
export interface SseLineSplitter {
  /** The next text of the stream (already decoded). A CR at the end is held until the next text shows its LF. */
  feed(text: string): void;
  /** The stream ended: the held CR and any unterminated last line come out. */
  end(): void;
}

/** Classifies one line (without its ending). */
export function classifyLine(text: string): Pick<WireLine, 'field' | 'value'> {
  if (text === '') return { field: 'blank', value: '' };
  const colon = text.indexOf(':');
  const rest = (from: number): string => text.slice(text.charCodeAt(from) === 0x20 ? from + 1 : from);
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

/**
 * Creates a splitter that calls `onLine` for each complete line with its exact ending. A BOM at the start stays in
 * the first line's text (it is part of what was sent).
 */
export function createSseLineSplitter(onLine: (line: WireLine) => void): SseLineSplitter {
  let tail = '';
  let heldCr = false;

  const emit = (text: string, ending: LineEnding): void => onLine({ text, ending, ...classifyLine(text) });

  function feed(chunk: string): void {
    if (chunk === '') return;
    let text = chunk;
    if (heldCr) {
      heldCr = false;
      if (text.charCodeAt(0) === 0x0a) {
        emit(tail, '\r\n');
        text = text.slice(1);
      } else emit(tail, '\r');
      tail = '';
    }
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const code = text.charCodeAt(i);
      if (code === 0x0a) {
        emit(tail + text.slice(start, i), '\n');
        tail = '';
        start = i + 1;
      } else if (code === 0x0d) {
        if (i + 1 === text.length) {
          tail += text.slice(start, i);
          heldCr = true;
          return;
        }
        const crlf = text.charCodeAt(i + 1) === 0x0a;
        emit(tail + text.slice(start, i), crlf ? '\r\n' : '\r');
        tail = '';
        if (crlf) i++;
        start = i + 1;
      }
    }
    tail += text.slice(start);
  }

  function end(): void {
    if (heldCr) emit(tail, '\r');
    else if (tail !== '') emit(tail, '');
    heldCr = false;
    tail = '';
  }

  return { feed, end };
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
