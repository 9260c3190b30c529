/** What a session's I/O reports, as plain data for a reducer. */

import type { LoadEvent } from '../protocol/events.js';
import type { QueuePlace } from '../protocol/residency-fields.js';
import type { ChatTokenCounts } from './chat-stream.js';
import type { Failure } from './failures.js';
import type { ServerTimings } from './server-timings.js';

/** Where a piece of a reply belongs besides the answer. */
export type ChatChannel = 'reasoning' | 'tool-call';

/** What a controller reports; times are milliseconds since the epoch, from its clock. */
export type SessionUpdate =
  | { readonly type: 'connecting'; readonly at: number; readonly attempt: number }
  /** The server answered 200 with an event stream: the load is accepted, though no event may have come yet. */
  | { readonly type: 'accepted'; readonly at: number }
  /**
   * A load event; `queue` where a `queued` event says where the load waits, `expiresInMs` where a `ready` event says
   * when the server will unload the model for idleness (`null`: never), both modeldeck's own fields.
   */
  | {
      readonly type: 'event';
      readonly at: number;
      readonly event: LoadEvent;
      readonly queue?: QueuePlace;
      readonly expiresInMs?: number | null;
    }
  /** `retryAt` is when the controller reconnects, or `null` when it waits for the user. */
  | { readonly type: 'failed'; readonly at: number; readonly failure: Failure; readonly retryAt: number | null }
  | { readonly type: 'chat-sent'; readonly at: number; readonly text: string }
  /**
   * A piece of the reply: of the answer (no `channel`), of the model's reasoning (`reasoning_content` deltas,
   * Ollama's `thinking`), or of a tool call it makes (its name and arguments as they stream).
   */
  | { readonly type: 'chat-delta'; readonly at: number; readonly text: string; readonly channel?: ChatChannel }
  /** `usage` when the server counted the tokens (a `usage` chunk), absent when it did not. */
  | {
      readonly type: 'chat-done';
      readonly at: number;
      readonly usage?: ChatTokenCounts;
      /** The server's own figures of the reply's speed, when it sent them. */
      readonly timings?: ServerTimings;
    }
  /** The user stopped the reply: what arrived is kept. */
  | { readonly type: 'chat-stopped'; readonly at: number }
  | { readonly type: 'chat-failed'; readonly at: number; readonly failure: Failure };
