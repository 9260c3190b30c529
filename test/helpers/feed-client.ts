import { parseFeedEvent, parseFeedId, type FeedEvent } from '../../src/protocol/feed.js';
import { createSseParser } from '../../src/protocol/sse.js';
import { until } from './until.js';

/** One watcher of `GET /events`, reading over a real socket with the project's SSE parser and feed reader. */
export interface FeedWatch {
  readonly status: number;
  /** Every event, parsed, in arrival order. */
  readonly events: FeedEvent[];
  /** `retry:` values received. */
  readonly retries: number[];
  /** Comments received (`: keep-alive`, `: resumed: …`), without the colon, in arrival order. */
  readonly comments: string[];
  /** Waits until an event matches and returns it. */
  waitFor(what: string, match: (event: FeedEvent) => boolean, ms?: number): Promise<FeedEvent>;
  /** Disconnects. */
  close(): void;
  /** Resolves when the stream has ended (server closed it, or close()). */
  readonly ended: Promise<void>;
}

/** Opens a watch of `baseUrl`'s feed; resolves once the response headers arrived. */
export async function watchFeed(
  baseUrl: string,
  options: { lastEventId?: string; headers?: Record<string, string> } = {},
): Promise<FeedWatch> {
  const controller = new AbortController();
  const events: FeedEvent[] = [];
  const retries: number[] = [];
  const comments: string[] = [];
  const res = await fetch(`${baseUrl}/events`, {
    headers: {
      accept: 'text/event-stream',
      ...(options.lastEventId !== undefined ? { 'last-event-id': options.lastEventId } : {}),
      ...options.headers,
    },
    signal: controller.signal,
  });
  const parser = createSseParser({
    onEvent({ event = '', id = '', data }) {
      const parsed = parseFeedEvent(event, id, data);
      if (!parsed.ok) throw new Error(`unreadable feed event ${event} ${id} ${data}: ${parsed.error}`);
      events.push(parsed.event);
    },
    onRetry: (ms) => retries.push(ms),
    onComment: (text) => comments.push(text.trim()),
  });
  const ended = (async () => {
    if (!res.body || !res.headers.get('content-type')?.startsWith('text/event-stream')) return;
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) parser.feed(chunk);
    } catch (error) {
      if ((error as Error).name !== 'AbortError') throw error;
    }
  })();
  return {
    status: res.status,
    events,
    retries,
    comments,
    async waitFor(what, match, ms = 60_000) {
      return until(what, () => events.find(match), ms);
    },
    close: () => controller.abort(),
    ended,
  };
}

/** The sequence number of a feed event's id. */
export function sequenceOf(event: FeedEvent): number {
  const parsed = parseFeedId(event.id);
  if (parsed === undefined) throw new Error(`not a feed id: ${event.id}`);
  return parsed.sequence;
}
