/**
 * The dashboard's server I/O: one live feed per distinct server (`GET /events`, see `client/server-feed.ts`), and for
 * a server without one a poll every few seconds of its kind's own routes (`client/kind-models.ts`) and status routes
 * (`EngineAdapter.serverFacts`). The kind is the one a session on the server knows (named or detected), else the
 * pool detects it by the same probes (`client/server-kind.ts`), once. Holds connections and timers, not state: what
 * they report goes to `onAction`, for the model's reducer, and their frames to `onFrame`, for the event log.
 */

import { adapterFor } from '../client/engine-adapter.js';
import type { RawFrame } from '../client/frames.js';
import { listKindModels } from '../client/kind-models.js';
import { detectServerKind, type ServerKind } from '../client/server-kind.js';
import { openServerFeed, type ServerFeed } from '../client/server-feed.js';
import type { Clock, TimerHandle } from '../common/clock.js';
import { POLL_INTERVAL_MS, type ServerAction } from './server-state.js';

/** Options of {@link createFeedPool}. */
export interface FeedPoolOptions {
  readonly clock: Clock;
  readonly fetch?: typeof fetch | undefined;
  readonly onAction: (root: string, action: ServerAction) => void;
  readonly onFrame: (root: string, frame: RawFrame) => void;
  /** The server's kind as a session on it knows it (named or detected); undefined: the pool detects it. */
  readonly kindFor?: ((root: string) => ServerKind | undefined) | undefined;
}

/** One server's poll: its timer, what stops it, and the kind the probes found (asked once). */
interface Poll {
  timer: TimerHandle | undefined;
  readonly abort: AbortController;
  kind: ServerKind | undefined;
}

/** What every request of one server's poll carries. */
interface PollRequest {
  readonly server: string;
  readonly apiKey: string | undefined;
  readonly signal: AbortSignal;
  readonly fetch?: typeof fetch;
}

/** The servers' feeds and polls. */
export interface FeedPool {
  open(root: string, apiKey: string | undefined): void;
  /** Polls the server's kind's routes now and every {@link POLL_INTERVAL_MS} until closed. */
  poll(root: string, apiKey: string | undefined): void;
  close(root: string): void;
  closeAll(): void;
}

/** Creates an empty pool. */
export function createFeedPool(options: FeedPoolOptions): FeedPool {
  const { clock } = options;
  const feeds = new Map<string, ServerFeed>();
  const polls = new Map<string, Poll>();

  function stopPoll(root: string): void {
    const poll = polls.get(root);
    if (poll === undefined) return;
    if (poll.timer !== undefined) clock.clearTimeout(poll.timer);
    poll.abort.abort();
    polls.delete(root);
  }

  /** The server's own status routes, through its kind's adapter, beside each poll; nothing when it has none. */
  function askFacts(root: string, kind: ServerKind, request: PollRequest, current: () => boolean): void {
    const facts = adapterFor(kind).serverFacts;
    if (facts === undefined) return;
    void facts(request).then((outcome) => {
      if (current() && outcome.ok) options.onAction(root, { type: 'facts', at: clock.now(), lines: outcome.value });
    });
  }

  /** One poll: the kind (a session's, the one found before, or the probes'), its facts, then its list of models. */
  async function pollOnce(root: string, poll: Poll, request: PollRequest): Promise<void> {
    const current = (): boolean => polls.get(root) === poll;
    const askedAt = clock.now();
    let kind = options.kindFor?.(root) ?? poll.kind;
    if (kind === undefined) {
      const found = await detectServerKind(request);
      if (!current()) return;
      if (!found.ok) {
        options.onAction(root, { type: 'poll-failed', at: clock.now(), failure: found.failure });
        return;
      }
      options.onFrame(root, { kind: 'other', raw: `server kind: ${found.kind} (detected: ${found.because})` });
      kind = found.kind;
    }
    poll.kind = kind;
    askFacts(root, kind, request, current);
    const outcome = await listKindModels(kind, request);
    if (!current()) return;
    options.onAction(
      root,
      outcome.ok
        ? { type: 'polled', at: clock.now(), models: outcome.value, askedAt, kind }
        : { type: 'poll-failed', at: clock.now(), failure: outcome.failure },
    );
  }

  return {
    open(root, apiKey) {
      if (feeds.has(root)) return;
      feeds.set(
        root,
        openServerFeed({
          server: root,
          apiKey,
          ...(options.fetch ? { fetch: options.fetch } : {}),
          now: () => clock.now(),
          onUpdate: (update, id, extras) =>
            options.onAction(root, { type: 'feed', at: clock.now(), update, id, extras }),
          onStatus: (status) => {
            if (status.state !== 'closed') options.onAction(root, { type: 'feed-status', at: clock.now(), status });
          },
          onFrame: (frame) => options.onFrame(root, frame),
        }),
      );
    },
    poll(root, apiKey) {
      if (polls.has(root)) return;
      const poll: Poll = { timer: undefined, abort: new AbortController(), kind: undefined };
      polls.set(root, poll);
      const request: PollRequest = {
        server: root,
        apiKey,
        signal: poll.abort.signal,
        ...(options.fetch ? { fetch: options.fetch } : {}),
      };
      const once = (): void => {
        poll.timer = undefined;
        void pollOnce(root, poll, request).then(() => {
          if (polls.get(root) === poll) poll.timer = clock.setTimeout(once, POLL_INTERVAL_MS);
        });
      };
      once();
    },
    close(root) {
      feeds.get(root)?.close();
      feeds.delete(root);
      stopPoll(root);
    },
    closeAll() {
      for (const root of [...feeds.keys(), ...polls.keys()]) this.close(root);
    },
  };
}
