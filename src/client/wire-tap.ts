/**
 * The wire tap: a `fetch` of the client's own that records every stream as received, for the event log and its
 * inspector. It is the one place that reads the socket, so eventsource-client and the chat stream (which take a
 * `fetch`) both go through it. It passes every chunk on unchanged as it arrives, and on the side records the
 * connection's life (connecting, the answer's status line and the headers that matter, the end, errors, reconnect
 * attempts) and every line of the body with its exact ending and arrival time.
 */

import { createSseLineSplitter, type WireLine } from '../protocol/sse-lines.js';

/** The response headers the tap keeps: what says how a stream is framed, cached and buffered. */
export const TAPPED_HEADERS = [
  'content-type',
  'cache-control',
  'x-accel-buffering',
  'connection',
  'content-encoding',
  'content-length',
  'transfer-encoding',
] as const;

/** One thing the tap saw. `at` is milliseconds on the tap's clock; `stream` names the stream (`s1 load`). */
export type WireRecord =
  | {
      readonly kind: 'connecting';
      readonly stream: string;
      readonly at: number;
      readonly method: string;
      readonly url: string;
      /** 1 for the first connection of this stream, 2 and more for reconnect attempts. */
      readonly attempt: number;
    }
  | {
      readonly kind: 'answer';
      readonly stream: string;
      readonly at: number;
      readonly status: number;
      readonly statusText: string;
      /** {@link TAPPED_HEADERS} that the answer had, lowercase names. */
      readonly headers: Readonly<Record<string, string>>;
    }
  | {
      readonly kind: 'line';
      readonly stream: string;
      readonly at: number;
      /** The line as sent, with its field and exact ending. */
      readonly line: WireLine;
      /** Which frame of the stream it belongs to: 0 for the first, one more after each blank line. */
      readonly frame: number;
    }
  | {
      readonly kind: 'end';
      readonly stream: string;
      readonly at: number;
      /** Bytes of body received. */
      readonly bytes: number;
      /** `closed`: the server ended the body; `cancelled`: the client stopped reading (a close or an abort). */
      readonly how: 'closed' | 'cancelled';
    }
  | { readonly kind: 'error'; readonly stream: string; readonly at: number; readonly message: string };

/** Options of {@link createWireTap}. */
export interface WireTapOptions {
  /** Called for every record, in order, as it happens. */
  readonly onRecord: (record: WireRecord) => void;
  /** The fetch that really talks to the network; the global `fetch` by default. */
  readonly fetch?: typeof fetch;
  /** Milliseconds; `Date.now` by default. */
  readonly now?: () => number;
}

/** A tap; {@link WireTap.fetchFor} gives one stream its `fetch`. */
export interface WireTap {
  /**
   * A `fetch` that records under the name `stream`. Each call is one connection attempt of that stream (a second
   * call is a reconnect: eventsource-client calls its `fetch` again for each).
   */
  fetchFor(stream: string): typeof fetch;
  /** A `fetch` for one session: each request is recorded as `SESSION KIND` (`s1 load`, `s1 chat`), see {@link streamKind}. */
  sessionFetch(session: string): typeof fetch;
}

/** What a request URL's path says a stream is: `load`, `chat`, `feed` (`/events`), else the path itself. */
export function streamKind(url: string): string {
  let path: string;
  try {
    path = new URL(url).pathname;
  } catch {
    path = url;
  }
  if (path.endsWith('/load_model')) return 'load';
  if (path.endsWith('/chat/completions')) return 'chat';
  if (path.endsWith('/events')) return 'feed';
  return path;
}

// Statuses whose Response must have a null body.
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/** Creates a wire tap. */
export function createWireTap(options: WireTapOptions): WireTap {
  const realFetch = options.fetch ?? ((input, init) => fetch(input, init));
  const now = options.now ?? Date.now;
  const attempts = new Map<string, number>();
  const record = options.onRecord;

  function fetchFor(stream: string): typeof fetch {
    return async (input, init) => {
      const attempt = (attempts.get(stream) ?? 0) + 1;
      attempts.set(stream, attempt);
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      const method = init?.method ?? (input instanceof Request ? input.method : 'GET');
      record({ kind: 'connecting', stream, at: now(), method, url, attempt });
      let response: Response;
      try {
        response = await realFetch(input, init);
      } catch (error) {
        record({ kind: 'error', stream, at: now(), message: describe(error) });
        throw error;
      }
      const headers: Record<string, string> = {};
      for (const name of TAPPED_HEADERS) {
        const value = response.headers.get(name);
        if (value !== null) headers[name] = value;
      }
      record({
        kind: 'answer',
        stream,
        at: now(),
        status: response.status,
        statusText: response.statusText,
        headers,
      });
      if (response.body === null || NULL_BODY.has(response.status)) {
        record({ kind: 'end', stream, at: now(), bytes: 0, how: 'closed' });
        return response;
      }
      return new Response(observe(stream, response.body), {
        status: response.status,
        statusText: response.statusText,
        headers: response.headers,
      });
    };
  }

  function observe(stream: string, body: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
    const reader = body.getReader();
    const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
    let frame = 0;
    let at = 0;
    let bytes = 0;
    let done = false;
    const splitter = createSseLineSplitter((line) => {
      record({ kind: 'line', stream, at, line, frame });
      if (line.field === 'blank') frame++;
    });
    const finish = (how: 'closed' | 'cancelled'): void => {
      if (done) return;
      done = true;
      at = now();
      splitter.feed(decoder.decode());
      splitter.end();
      record({ kind: 'end', stream, at: now(), bytes, how });
    };
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        let result: Awaited<ReturnType<typeof reader.read>>;
        try {
          result = await reader.read();
        } catch (error) {
          if (!done) {
            done = true;
            record({ kind: 'error', stream, at: now(), message: describe(error) });
          }
          controller.error(error);
          return;
        }
        if (result.done) {
          finish('closed');
          controller.close();
          return;
        }
        at = now();
        bytes += result.value.byteLength;
        splitter.feed(decoder.decode(result.value, { stream: true }));
        controller.enqueue(result.value);
      },
      async cancel(reason) {
        finish('cancelled');
        await reader.cancel(reason);
      },
    });
  }

  function sessionFetch(session: string): typeof fetch {
    return (input, init) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      return fetchFor(`${session} ${streamKind(url)}`)(input, init);
    };
  }

  return { fetchFor, sessionFetch };
}

function describe(error: unknown): string {
  const err = error as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (err?.name === 'AbortError') return 'aborted by the client';
  const code = err?.cause?.code ?? err?.cause?.message;
  return code ? `${err?.message ?? 'request failed'} (${code})` : (err?.message ?? String(error));
}
