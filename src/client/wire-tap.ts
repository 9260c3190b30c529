/**
 * The wire tap: a `fetch` of the client's own that records every request and its answer as received, for the event
 * log and its inspector. Every request the client sends goes through it (the load and chat streams, the feed through
 * eventsource-client, `/v1/models`, `/unload_model`, `modeldeck load` and `check`, which record into nothing). It passes every chunk on unchanged as it arrives, and on the side records the
 * connection's life (connecting, the answer's status line and the headers that matter, the end, errors, reconnect
 * attempts) and every line of the body with its exact ending and arrival time.
 */

import { createSseLineSplitter, type WireLine } from '../protocol/sse-lines.js';

/**
 * The response headers the tap keeps: what says how a stream is framed, cached and buffered, and the server's id of the
 * request, which ties a stream to the server's log.
 */
export const TAPPED_HEADERS = [
  'x-request-id',
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
  /** Called for every record, in order, as it happens. Absent: the tap records into nothing (a CLI command). */
  readonly onRecord?: (record: WireRecord) => void;
  /** The fetch that really talks to the network; the global `fetch` by default. */
  readonly fetch?: typeof fetch;
  /** Milliseconds; `Date.now` by default. */
  readonly now?: () => number;
}

/** A tap: every request the client sends goes out through one of its `fetch`es. */
export interface WireTap {
  /**
   * A `fetch` that records under the name `stream`. Each call is one connection attempt of that stream (a second
   * call is a reconnect: eventsource-client calls its `fetch` again for each).
   */
  fetchFor(stream: string): typeof fetch;
  /**
   * A `fetch` for one session or server: each request is recorded as `TAG KIND` (`s1 load`, `s1 chat`,
   * `feed:host:port /v1/models`), see {@link streamKind}. A stream's requests (load, chat, feed) count as its
   * connection attempts; any other request (`/unload_model`, `/v1/models`) is asked once, so each is attempt 1.
   */
  taggedFetch(tag: string): typeof fetch;
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

const STREAM_KINDS: ReadonlySet<string> = new Set(['load', 'chat', 'feed']);

// Statuses whose Response must have a null body.
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

type FetchInput = Parameters<typeof fetch>[0];
type Recorder = (record: WireRecord) => void;

/** Creates a wire tap. */
export function createWireTap(options: WireTapOptions = {}): WireTap {
  const realFetch = options.fetch ?? ((input, init) => fetch(input, init));
  const now = options.now ?? Date.now;
  const record: Recorder = options.onRecord ?? (() => {});
  const attempts = new Map<string, number>();

  /** One request of `stream`, recorded as its connection `attempt`. */
  async function send(stream: string, attempt: number, input: FetchInput, init?: RequestInit) {
    const method = init?.method ?? (input instanceof Request ? input.method : 'GET');
    record({ kind: 'connecting', stream, at: now(), method, url: urlOf(input), attempt });
    let response: Response;
    try {
      response = await realFetch(input, init);
    } catch (error) {
      record({ kind: 'error', stream, at: now(), message: describe(error) });
      throw error;
    }
    const { status, statusText } = response;
    record({ kind: 'answer', stream, at: now(), status, statusText, headers: tappedHeaders(response) });
    if (response.body === null || NULL_BODY.has(status)) {
      record({ kind: 'end', stream, at: now(), bytes: 0, how: 'closed' });
      return response;
    }
    const body = observeBody(response.body, stream, record, now);
    return new Response(body, { status, statusText, headers: response.headers });
  }

  function fetchFor(stream: string): typeof fetch {
    return (input, init) => {
      const attempt = (attempts.get(stream) ?? 0) + 1;
      attempts.set(stream, attempt);
      return send(stream, attempt, input, init);
    };
  }

  function taggedFetch(tag: string): typeof fetch {
    return (input, init) => {
      const kind = streamKind(urlOf(input));
      const stream = `${tag} ${kind}`;
      return STREAM_KINDS.has(kind) ? fetchFor(stream)(input, init) : send(stream, 1, input, init);
    };
  }

  return { fetchFor, taggedFetch };
}

function urlOf(input: FetchInput): string {
  return typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
}

/** The {@link TAPPED_HEADERS} that `response` has. */
function tappedHeaders(response: Response): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of TAPPED_HEADERS) {
    const value = response.headers.get(name);
    if (value !== null) headers[name] = value;
  }
  return headers;
}

/**
 * `body` passed on chunk by chunk as it is read, each chunk's lines recorded on the side with its arrival time, and
 * the end (the server's close or the reader's cancel) or a read error recorded once.
 */
function observeBody(
  body: ReadableStream<Uint8Array>,
  stream: string,
  record: Recorder,
  now: () => number,
): ReadableStream<Uint8Array> {
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

function describe(error: unknown): string {
  const err = error as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (err?.name === 'AbortError') return 'aborted by the client';
  const code = err?.cause?.code ?? err?.cause?.message;
  return code ? `${err?.message ?? 'request failed'} (${code})` : (err?.message ?? String(error));
}
