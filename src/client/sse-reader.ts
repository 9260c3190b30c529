/**
 * Reading an SSE body on the client: eventsource-parser (eventsource-client's own parser) over a streaming UTF-8
 * decoder, with the one thing a one-shot stream needs beyond it: at the end of the body, an event still missing its
 * blank line is discarded (as the spec says) and reported, so a cut-off terminal event never looks complete.
 * The server's encoder stays the project's own (`src/protocol/sse.ts`).
 */

import { createParser, type EventSourceMessage, type ParseError } from 'eventsource-parser';

/** What the reader reports. */
export interface SseReaderCallbacks {
  onEvent(message: EventSourceMessage): void;
  onComment?(text: string): void;
  onRetry?(ms: number): void;
  /** A line the spec says to ignore, or an event the end of the body cut off: in words, with the line if any. */
  onError?(message: string, line: string): void;
}

/** Bytes in, events out. */
export interface SseReader {
  feed(chunk: Uint8Array): void;
  /** The body ended. */
  end(): void;
}

// The end of an event: a blank line, whichever line ending the server uses.
const BLANK_LINE = /(?:\r\n|\r(?!\n)|\n)(?:\r\n|\r(?!\n)|\n)/g;

/** Creates a reader for one body. */
export function createSseReader(callbacks: SseReaderCallbacks): SseReader {
  const decoder = new TextDecoder();
  // The text after the last blank line: what an end of the body would cut off.
  let pending = '';
  const parser = createParser({
    onEvent: (message) => callbacks.onEvent(message),
    onComment: (text) => callbacks.onComment?.(text),
    onRetry: (ms) => callbacks.onRetry?.(ms),
    onError: (error: ParseError) => callbacks.onError?.(error.message, error.line ?? ''),
  });

  function take(text: string): void {
    if (text === '') return;
    pending += text;
    let cut = -1;
    BLANK_LINE.lastIndex = 0;
    for (let m = BLANK_LINE.exec(pending); m !== null; m = BLANK_LINE.exec(pending)) cut = m.index + m[0].length;
    if (cut >= 0) pending = pending.slice(cut);
    parser.feed(text);
  }

  return {
    feed: (chunk) => take(decoder.decode(chunk, { stream: true })),
    end() {
      take(decoder.decode());
      // A block with only comments or event/id lines would not be dispatched even if complete.
      const cutOff = /(?:^|[\r\n])data/.test(pending);
      parser.reset();
      if (cutOff) {
        callbacks.onError?.('the stream ended before the blank line that ends an event; discarded it', pending);
      }
      pending = '';
    },
  };
}
