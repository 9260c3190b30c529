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
  /**
   * The server's kind as a session on it knows it (named or detected); `'pending'` while a session on it is still
   * finding it out (its own load is the first probe: the pool waits rather than probe beside it); undefined when no
   * session there knows: the pool detects it.
   */
  readonly kindFor?: ((root: string) => ServerKind | 'pending' | undefined) | undefined;
}

/** One server's poll: its timer, what stops it, the kind the probes found (asked once), and the rounds it waited. */
interface Poll {
  timer: TimerHandle | undefined;
  readonly abort: AbortController;
  kind: ServerKind | undefined;
  waited: number;
}

/**
 * Poll rounds to wait for a session still finding out its server's kind before the pool probes itself (a session that
 * cannot find it, the server down or answering no probe, must not leave the view without a list).
 */
const PENDING_ROUNDS = 4;

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

/** The server's own status routes, through its kind's adapter, beside each poll; nothing when it has none. */
function askFacts(
  options: FeedPoolOptions,
  root: string,
  kind: ServerKind,
  request: PollRequest,
  current: () => boolean,
) {
  const facts = adapterFor(kind).serverFacts;
  if (facts === undefined) return;
  void facts(request).then((outcome) => {
    if (current() && outcome.ok)
      options.onAction(root, { type: 'facts', at: options.clock.now(), lines: outcome.value });
  });
}

/** The kind to poll by: a session's, the one found before, or the probes' (`null`: not this round). */
async function pollKind(
  options: FeedPoolOptions,
  root: string,
  poll: Poll,
  request: PollRequest,
): Promise<ServerKind | null> {
  const told = options.kindFor?.(root);
  if (told !== undefined && told !== 'pending') return told;
  if (poll.kind !== undefined) return poll.kind;
  if (told === 'pending' && poll.waited++ < PENDING_ROUNDS) return null;
  const found = await detectServerKind(request);
  if (!found.ok) {
    if (found.failure.kind !== 'aborted')
      options.onAction(root, { type: 'poll-failed', at: options.clock.now(), failure: found.failure });
    return null;
  }
  options.onFrame(root, { kind: 'other', raw: `server kind: ${found.kind} (detected: ${found.because})` });
  poll.kind = found.kind;
  return found.kind;
}

/** One poll round: the kind, its facts, then its list of models; what they say goes to `onAction`. */
async function pollOnce(options: FeedPoolOptions, root: string, poll: Poll, request: PollRequest): Promise<void> {
  const current = (): boolean => !request.signal.aborted;
  const askedAt = options.clock.now();
  const kind = await pollKind(options, root, poll, request);
  if (kind === null || !current()) return;
  askFacts(options, root, kind, request, current);
  const outcome = await listKindModels(kind, request);
  if (!current()) return;
  const at = options.clock.now();
  options.onAction(
    root,
    outcome.ok
      ? { type: 'polled', at, models: outcome.value, askedAt, kind }
      : { type: 'poll-failed', at, failure: outcome.failure },
  );
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
      const poll: Poll = { timer: undefined, abort: new AbortController(), kind: undefined, waited: 0 };
      polls.set(root, poll);
      const request: PollRequest = {
        server: root,
        apiKey,
        signal: poll.abort.signal,
        ...(options.fetch ? { fetch: options.fetch } : {}),
      };
      const once = (): void => {
        poll.timer = undefined;
        void pollOnce(options, root, poll, request).then(() => {
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
