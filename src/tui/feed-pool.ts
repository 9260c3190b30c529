/**
 * The dashboard's server I/O: one live feed per distinct server (`GET /events`, see `client/server-feed.ts`), and for
 * a server without one a `GET /v1/models` poll every few seconds. Holds connections and timers, not state: what
 * they report goes to `onAction`, for the model's reducer, and their frames to `onFrame`, for the event log.
 */

import type { EngineAdapter } from '../client/engine-adapter.js';
import type { RawFrame } from '../client/frames.js';
import { listModels } from '../client/model-admin.js';
import { openServerFeed, type ServerFeed } from '../client/server-feed.js';
import type { Clock, TimerHandle } from '../common/clock.js';
import { POLL_INTERVAL_MS, type ServerAction } from './server-state.js';

/** Options of {@link createFeedPool}. */
export interface FeedPoolOptions {
  readonly clock: Clock;
  readonly fetch?: typeof fetch | undefined;
  readonly onAction: (root: string, action: ServerAction) => void;
  readonly onFrame: (root: string, frame: RawFrame) => void;
  /** The server's kind's status request (`EngineAdapter.serverFacts`), once a session on it knows its kind. */
  readonly factsFor?: ((root: string) => EngineAdapter['serverFacts']) | undefined;
}

/** The servers' feeds and polls. */
export interface FeedPool {
  open(root: string, apiKey: string | undefined): void;
  /** Polls `/v1/models` now and every {@link POLL_INTERVAL_MS} until closed. */
  poll(root: string, apiKey: string | undefined): void;
  close(root: string): void;
  closeAll(): void;
}

/** Creates an empty pool. */
export function createFeedPool(options: FeedPoolOptions): FeedPool {
  const { clock } = options;
  const feeds = new Map<string, ServerFeed>();
  const polls = new Map<string, { timer: TimerHandle | undefined; abort: AbortController }>();

  function stopPoll(root: string): void {
    const poll = polls.get(root);
    if (poll === undefined) return;
    if (poll.timer !== undefined) clock.clearTimeout(poll.timer);
    poll.abort.abort();
    polls.delete(root);
  }

  /** The server's own status routes, through its kind's adapter, beside each poll; nothing when it has none. */
  function askFacts(root: string, apiKey: string | undefined, signal: AbortSignal, current: () => boolean): void {
    const facts = options.factsFor?.(root);
    if (facts === undefined) return;
    void facts({ server: root, apiKey, signal, ...(options.fetch ? { fetch: options.fetch } : {}) }).then((outcome) => {
      if (current() && outcome.ok) options.onAction(root, { type: 'facts', at: clock.now(), lines: outcome.value });
    });
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
      const poll: { timer: TimerHandle | undefined; abort: AbortController } = {
        timer: undefined,
        abort: new AbortController(),
      };
      polls.set(root, poll);
      const once = (): void => {
        poll.timer = undefined;
        const askedAt = clock.now();
        askFacts(root, apiKey, poll.abort.signal, () => polls.get(root) === poll);
        void listModels({
          server: root,
          apiKey,
          signal: poll.abort.signal,
          ...(options.fetch ? { fetch: options.fetch } : {}),
        }).then((outcome) => {
          if (polls.get(root) !== poll) return;
          options.onAction(
            root,
            outcome.ok
              ? { type: 'polled', at: clock.now(), models: outcome.value, askedAt }
              : { type: 'poll-failed', at: clock.now(), failure: outcome.failure },
          );
          poll.timer = clock.setTimeout(once, POLL_INTERVAL_MS);
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
