/**
 * The dashboard's connections: the wire tap (`client/wire-tap.ts`), and through it one session controller per open
 * session (`session-pool.ts`) and one feed per server (`feed-pool.ts`). What the tap records and every frame read go
 * to the recorder; what the sessions and servers report comes back to the runtime, as updates and actions.
 */

import type { RawFrame } from '../client/frames.js';
import type { BackoffOptions } from '../client/reconnect.js';
import type { SessionUpdate } from '../client/session-update.js';
import { createWireTap } from '../client/wire-tap.js';
import type { Clock } from '../common/clock.js';
import type { ServerAction } from './server-state.js';
import { createFeedPool, type FeedPool } from './feed-pool.js';
import { feedTag } from './log-tags.js';
import { wireRecord } from './recorder.js';
import type { ReplayRecord } from './replay-log.js';
import { createSessionPool, type SessionPool } from './session-pool.js';

/** Options of {@link openConnections}: how to connect, and where what the sockets report goes. */
export interface ConnectionsOptions {
  readonly clock: Clock;
  /** The fetch under the tap; the global `fetch` by default. */
  readonly fetch?: typeof fetch | undefined;
  readonly backoff?: BackoffOptions | undefined;
  /** Upper bound of new tokens per chat reply. */
  readonly maxTokens?: number | undefined;
  /** The recorder's entry: every wire record and frame goes there. */
  readonly record: (record: ReplayRecord) => void;
  readonly tagOf: (id: string) => string;
  readonly sessionUpdate: (id: string, update: SessionUpdate) => void;
  /** What a server's feed or poll reported. */
  readonly server: (root: string, action: ServerAction) => void;
}

/** Creates the tap and the two (empty) pools over it. */
export function openConnections(options: ConnectionsOptions): {
  pool: SessionPool;
  feeds: FeedPool;
  /** The tap's `fetch` for one-shot requests under a tag (a session's, or a server's {@link feedTag}). */
  tagged: (tag: string) => typeof fetch;
} {
  const { clock } = options;
  const tap = createWireTap({
    onRecord: (record) => options.record(wireRecord(record)),
    now: () => clock.now(),
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  const recordFrame = (tag: string, frame: RawFrame): void =>
    options.record({ time: clock.now(), session: tag, kind: frame.kind, raw: frame.raw });
  const pool = createSessionPool({
    clock,
    // The tap and the log name a session by its tag (its configured name, else its id).
    fetchFor: (id) => tap.taggedFetch(options.tagOf(id)),
    backoff: options.backoff,
    maxTokens: options.maxTokens,
    onUpdate: options.sessionUpdate,
    onFrame: (id, frame) => recordFrame(options.tagOf(id), frame),
  });
  const feeds = createFeedPool({
    clock,
    // The event feed and the /v1/models polls go through the tap like the sessions' requests, under the feed's tag.
    fetch: (input, init) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      return tap.taggedFetch(feedTag(new URL(url).origin))(input, init);
    },
    onAction: options.server,
    onFrame: (root, frame) => recordFrame(feedTag(root), frame),
    // A session still finding out its server's kind is asked first: its own load is the first probe.
    kindFor: (root) => pool.adapterForServer(root)?.kind ?? (pool.serves(root) ? 'pending' : undefined),
  });
  return { pool, feeds, tagged: (tag) => tap.taggedFetch(tag) };
}
