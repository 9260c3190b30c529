/**
 * A server's live feed (`GET /events`) through eventsource-client: its reconnect after any end, its `Last-Event-ID`
 * and its `retry:` handling are what a persistent feed needs. What it lacks (it ignores the HTTP status, reconnects
 * after every answer, never reports an error) is supplied by a `fetch` of our own, which sees every request and
 * answer: a network error or a 5xx is reported and left to its reconnect; a 404 says the server has no feed
 * (`transformers serve`, an older modeldeck); any other non-2xx or a non-event-stream answer is reported as a clear
 * failure; both end the source (answered to it as a 204, which it takes as "stop").
 */

import { createEventSource, type EventSourceClient, type EventSourceMessage } from 'eventsource-client';
import { readFeedExtras, type FeedExtras } from '../protocol/residency-fields.js';
import { parseFeedFrame, type FeedUpdate } from './feed-events.js';
import { isRetryable, type Failure } from './failures.js';
import type { RawFrame } from './frames.js';
import { isAbort, networkFailure, refuseNonStream } from './http.js';
import { serviceRoot } from './server-url.js';

/** Where the feed stands. */
export type FeedStatus =
  | { readonly state: 'connecting'; readonly attempt: number }
  /** Connected, and current since its first frame or comment (until then a reconnect is still `connecting`). */
  | { readonly state: 'live'; readonly since: number }
  /** Lost (or refused for now); the source retries in `delayMs`. */
  | { readonly state: 'reconnecting'; readonly failure: Failure; readonly retryAt: number | null }
  /** 404 on `/events`: the server has no feed. */
  | { readonly state: 'unsupported'; readonly failure: Failure }
  /** Refused for good (401, 403, not an event stream): the source is closed. */
  | { readonly state: 'failed'; readonly failure: Failure }
  | { readonly state: 'closed' };

/** Options of {@link openServerFeed}. */
export interface ServerFeedOptions {
  readonly server: string;
  readonly apiKey?: string | undefined;
  readonly fetch?: typeof fetch;
  /** Milliseconds since the epoch (for the times in {@link FeedStatus}). */
  readonly now?: () => number;
  /** Each frame read, with its `id:` and modeldeck's fields the feed's parser leaves out (`residency-fields.ts`). */
  readonly onUpdate: (update: FeedUpdate, id: string | undefined, extras: FeedExtras) => void;
  readonly onStatus: (status: FeedStatus) => void;
  /** Every frame and connection note, for the event log. */
  readonly onFrame?: (frame: RawFrame) => void;
}

/** An open feed. */
export interface ServerFeed {
  /** The id of the last frame seen (sent back as `Last-Event-ID` on reconnect). */
  lastEventId(): string | undefined;
  /** Ends the feed for good. */
  close(): void;
}

const RETRYABLE_STATUS = new Set([429, 500, 502, 503, 504]);

/** What an answer to `GET /events` means: a live feed, a refusal left to the source's reconnect, or the end. */
type FeedAnswer =
  | { readonly kind: 'live' }
  | { readonly kind: 'retry'; readonly failure: Failure }
  | { readonly kind: 'stop'; readonly status: Extract<FeedStatus, { state: 'unsupported' | 'failed' }> };

/**
 * Judges the answer to `GET /events`: a 404 says the server has no feed; a 429 or 5xx is worth another try; any
 * other non-2xx or non-event-stream answer ends the feed (its body read and logged through `onFrame`).
 */
async function judgeFeedAnswer(
  response: Response,
  root: string,
  onFrame: ((frame: RawFrame) => void) | undefined,
): Promise<FeedAnswer> {
  if (response.status === 404) {
    await response.body?.cancel().catch(() => {});
    const failure: Failure = { kind: 'http', status: 404, message: 'this server has no live feed (404 on /events)' };
    onFrame?.({ kind: 'other', raw: 'feed: HTTP 404 on /events' });
    return { kind: 'stop', status: { state: 'unsupported', failure } };
  }
  const refused = await refuseNonStream(response, { server: root, ...(onFrame ? { onFrame } : {}) });
  if (refused === undefined) return { kind: 'live' };
  if (refused.kind === 'http' && refused.status !== undefined && RETRYABLE_STATUS.has(refused.status)) {
    return { kind: 'retry', failure: refused };
  }
  return { kind: 'stop', status: { state: 'failed', failure: refused } };
}

/** One frame of the feed to the options' callbacks: raw to the log, parsed to the state. */
function deliverMessage(options: ServerFeedOptions, message: EventSourceMessage): void {
  options.onFrame?.({ kind: 'data', raw: message.data });
  const update = parseFeedFrame(message.event, message.id, message.data);
  if (update.type === 'other') options.onFrame?.({ kind: 'other', raw: `skipped a feed frame: ${update.error}` });
  options.onUpdate(update, message.id, readFeedExtras(message.event ?? '', message.data));
}

/** Calls `onFirst` on the first word (frame or comment) heard after each `expect()`; `forget()` stops waiting. */
function createFirstWordGate(onFirst: () => void): { expect(): void; heard(): void; forget(): void } {
  let waiting = false;
  return {
    expect: () => (waiting = true),
    forget: () => (waiting = false),
    heard() {
      if (!waiting) return;
      waiting = false;
      onFirst();
    },
  };
}

/** Opens the feed of `server` at once. */
export function openServerFeed(options: ServerFeedOptions): ServerFeed {
  const root = serviceRoot(options.server);
  const doFetch = options.fetch ?? fetch;
  const now = options.now ?? Date.now;
  let attempt = 0;
  let closed = false;
  let lastFailure: Failure = { kind: 'ended-early', message: 'the feed ended' };
  // Not live at the response's headers: until the first frame (the snapshot, the replay of what was missed, or the
  // comment that ends a replay), what the client holds is from before the reconnect, which a restart may have undone.
  const firstWord = createFirstWordGate(() => status({ state: 'live', since: now() }));
  const status = (s: FeedStatus): void => {
    if (!closed || s.state === 'closed') options.onStatus(s);
  };
  /** Ends the source for good, saying why: it takes a 204 as "stop". */
  const stop = (why: FeedStatus): Response => {
    status(why);
    // The source is closed once it has taken the 204; closing it here as well stops a reconnect timer.
    queueMicrotask(() => source.close());
    return new Response(null, { status: 204 });
  };

  const guardedFetch = async (url: string | URL, init?: RequestInit): Promise<Response> => {
    attempt++;
    status({ state: 'connecting', attempt });
    let response: Response;
    try {
      response = await doFetch(url, init);
    } catch (error) {
      if (!isAbort(error, init?.signal ?? undefined)) {
        lastFailure = networkFailure(error, `cannot reach ${root}`);
        options.onFrame?.({ kind: 'other', raw: `feed: ${lastFailure.message}` });
        // A port fetch refuses ("bad port") is refused on every attempt: stop rather than reconnect forever.
        if (!isRetryable(lastFailure)) return stop({ state: 'failed', failure: lastFailure });
      }
      throw error;
    }
    const answer = await judgeFeedAnswer(response, root, options.onFrame);
    if (answer.kind === 'retry') {
      lastFailure = answer.failure;
      throw new Error(answer.failure.message);
    }
    if (answer.kind === 'stop') return stop(answer.status);
    attempt = 0;
    // What the next reconnect reports, unless a failure says more: the source schedules it before onDisconnect.
    lastFailure = { kind: 'ended-early', message: 'the feed ended (the server stopped or restarted?)' };
    firstWord.expect();
    return response;
  };

  const source: EventSourceClient = createEventSource({
    url: `${root}/events`,
    fetch: guardedFetch as typeof fetch,
    headers: options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {},
    onMessage: (message) => {
      deliverMessage(options, message);
      firstWord.heard();
    },
    onComment: (text) => {
      options.onFrame?.({ kind: 'comment', raw: text });
      firstWord.heard();
    },
    onScheduleReconnect: ({ delay }) => {
      firstWord.forget();
      status({ state: 'reconnecting', failure: lastFailure, retryAt: now() + delay });
    },
  });

  return {
    lastEventId: () => source.lastEventId,
    close() {
      if (closed) return;
      closed = true;
      source.close();
      options.onStatus({ state: 'closed' });
    },
  };
}
