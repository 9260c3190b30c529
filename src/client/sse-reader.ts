/**
 * Reading an SSE body on the client: the protocol's one parser (`createSseParser`) fed from a `ReadableStream`, the
 * only code of the client that turns a body into frames. `/load_model`, chat and `modeldeck check` read their streams
 * here; the live feed reads through eventsource-client, whose reconnect and `Last-Event-ID` it needs.
 */

import type { WireLine } from '../protocol/sse-lines.js';
import { createSseParser, type SseEvent, type SseParseError } from '../protocol/sse.js';

/** What the reader reports. */
export interface SseReaderCallbacks {
  onEvent(event: SseEvent): void;
  onComment?(text: string): void;
  onRetry?(ms: number): void;
  /**
   * A line the spec says to ignore, or an event the end of the body cut off (the parser's `incomplete-event`, whose
   * `line` is then the whole cut-off block as sent, so that a log shows what was lost).
   */
  onError?(error: SseParseError): void;
}

/**
 * Reads `body` into the parser until `settled()` says the caller has its outcome, or the body ends; at the end, an
 * event still missing its blank line is discarded and reported, never dispatched. Rethrows what reading threw (a
 * network error, an abort, a timeout). The body is cancelled when reading stops, which covers servers that keep a
 * stream open after its last event.
 */
export async function readSse(
  body: ReadableStream<Uint8Array>,
  callbacks: SseReaderCallbacks,
  settled: () => boolean = () => false,
): Promise<void> {
  // The lines since the last blank one: what an end of the body would cut off.
  let block: string[] = [];
  const parser = createSseParser({
    onEvent: (event) => callbacks.onEvent(event),
    onComment: (text) => callbacks.onComment?.(text),
    onRetry: (ms) => callbacks.onRetry?.(ms),
    onError: (error) => {
      const line = error.type === 'incomplete-event' ? block.join('') + error.line : error.line;
      callbacks.onError?.({ ...error, line });
    },
    ...(callbacks.onError === undefined
      ? {}
      : {
          onLine: (line: WireLine) => {
            if (line.field === 'blank') block = [];
            else block.push(line.text + line.ending);
          },
        }),
  });
  const reader = body.getReader();
  try {
    while (!settled()) {
      const { done, value } = await reader.read();
      if (done) {
        parser.end();
        return;
      }
      parser.feed(value);
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}
