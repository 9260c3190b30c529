/**
 * Records one HTTP answer as `modeldeck check` needs it: the status, the headers, and for an event stream every
 * frame (events with their fields, comments) with the time it arrived, read by the client's one SSE reader.
 */

import { readSse, type SseReaderCallbacks } from '../sse-reader.js';

/** One frame as it arrived. `at` is milliseconds on the recorder's clock. */
export type RecordedFrame =
  | {
      readonly kind: 'event';
      readonly data: string;
      readonly event?: string;
      readonly id?: string;
      readonly at: number;
    }
  | { readonly kind: 'comment'; readonly text: string; readonly at: number };

/** What one request got back. */
export interface RecordedAnswer {
  /** The HTTP status, or 0 when no answer came (see `error`). */
  readonly status: number;
  readonly contentType: string | null;
  /** True when the answer was `text/event-stream` (its frames are in `frames`, `body` is empty). */
  readonly isStream: boolean;
  readonly frames: readonly RecordedFrame[];
  /** The body of an answer that is not an event stream. */
  readonly body: string;
  /** Why the request or the stream failed (cannot connect, cut off, timed out), when it did. */
  readonly error?: string;
  /** True when `error` is the run's time limit for one answer running out (not a refused or broken connection). */
  readonly timedOut?: boolean;
}

/** Options of {@link recordAnswer}. */
export interface RecordOptions {
  readonly fetch: typeof fetch;
  /** Milliseconds, monotonic. */
  readonly now: () => number;
  /** Gives up on the whole answer after this long, in ms. */
  readonly timeoutMs: number;
  /** Called for each frame as it arrives (before the stream ends). */
  readonly onFrame?: (frame: RecordedFrame) => void;
}

/** Sends one request and records its whole answer. Never throws: failures are in {@link RecordedAnswer.error}. */
export async function recordAnswer(url: string, init: RequestInit, options: RecordOptions): Promise<RecordedAnswer> {
  const frames: RecordedFrame[] = [];
  const signal = AbortSignal.timeout(options.timeoutMs);
  let response: Response;
  try {
    response = await options.fetch(url, { ...init, signal });
  } catch (error) {
    return { status: 0, contentType: null, isStream: false, frames, body: '', ...failed(error, options) };
  }
  const contentType = response.headers.get('content-type');
  const base = { status: response.status, contentType };
  if (!contentType?.toLowerCase().startsWith('text/event-stream')) {
    try {
      return { ...base, isStream: false, frames, body: await response.text() };
    } catch (error) {
      return { ...base, isStream: false, frames, body: '', ...failed(error, options) };
    }
  }
  const push = (frame: RecordedFrame): void => {
    frames.push(frame);
    options.onFrame?.(frame);
  };
  const reader: SseReaderCallbacks = {
    onEvent: ({ data, event, id }) =>
      push({
        kind: 'event',
        data,
        ...(event !== undefined ? { event } : {}),
        ...(id !== undefined ? { id } : {}),
        at: options.now(),
      }),
    onComment: (text) => push({ kind: 'comment', text, at: options.now() }),
  };
  try {
    if (response.body) await readSse(response.body, reader);
  } catch (error) {
    return { ...base, isStream: true, frames, body: '', ...failed(error, options) };
  }
  return { ...base, isStream: true, frames, body: '' };
}

/** Plain words for what fetch says when it cannot connect; the code follows, for whoever searches for it. */
const CONNECT_WORDS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'no such host',
  EAI_AGAIN: 'the host name could not be looked up',
  EHOSTUNREACH: 'the host is unreachable',
  ECONNRESET: 'the connection was reset',
  UND_ERR_SOCKET: 'the server closed the connection',
};

function failed(error: unknown, options: RecordOptions): { error: string; timedOut?: true } {
  const err = error as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (err?.name === 'TimeoutError' || err?.name === 'AbortError') {
    return { error: `no complete answer within ${Math.round(options.timeoutMs / 1000)} s`, timedOut: true };
  }
  const code = err?.cause?.code;
  const words = code === undefined ? undefined : CONNECT_WORDS[code];
  if (words !== undefined) return { error: `${words} (${code})` };
  // undici refuses the Fetch standard's blocked ports (6000, 6665–6669, …) before connecting, with no error code.
  if (err?.cause?.message === 'bad port') {
    return { error: 'Node\'s fetch never connects to this port (its "bad port" blocklist: 6000, 6665–6669, …)' };
  }
  const cause = code ?? err?.cause?.message;
  return { error: cause ? `${err?.message ?? 'request failed'} (${cause})` : (err?.message ?? String(error)) };
}
