/**
 * Reading an NDJSON body (Ollama's streams: one JSON object a line) on the client, over the protocol's one line
 * splitter. Each non-blank line is handed on as sent and parsed; a line that is not a JSON object is handed on with
 * `value` null, so a caller can log it raw rather than lose it.
 */

import { createSseLineSplitter } from '../protocol/sse-lines.js';

/** One line of the body: its text as sent, and the object it parsed to (null when it is not one). */
export interface NdjsonLine {
  readonly raw: string;
  readonly value: Record<string, unknown> | null;
}

/**
 * Reads `body` line by line until `settled()` says the caller has its outcome or the body ends (a last line without
 * its newline counts). Rethrows what reading threw (a network error, an abort). The body is cancelled when reading
 * stops.
 */
export async function readNdjson(
  body: ReadableStream<Uint8Array>,
  onLine: (line: NdjsonLine) => void,
  settled: () => boolean = () => false,
): Promise<void> {
  const splitter = createSseLineSplitter(
    (line) => {
      if (line.text.trim() === '') return;
      onLine({ raw: line.text, value: parseObject(line.text) });
    },
    { trailingCr: 'end-line' },
  );
  const decoder = new TextDecoder();
  const reader = body.getReader();
  try {
    while (!settled()) {
      const { done, value } = await reader.read();
      if (done) {
        splitter.feed(decoder.decode());
        splitter.end();
        return;
      }
      splitter.feed(decoder.decode(value, { stream: true }));
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

function parseObject(text: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}
