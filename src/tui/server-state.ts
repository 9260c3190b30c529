/**
 * One server as the server view shows it, and the pure reducer that keeps it: every model the server knows with its
 * state, stage, progress, subscribers and size, kept live from its feed (`GET /events`), or, when it has none, from
 * polling its kind's own routes (`client/kind-models.ts`: Ollama's `/api/ps`, the router's `/models`, `/v1/models`
 * elsewhere), a model whose state the kind does not tell being `unknown`; and its throughput over time. Times come
 * from the actions.
 */

import { parseFeedId } from '../protocol/feed.js';
import type { FeedExtras } from '../protocol/residency-fields.js';
import type { FeedStatus } from '../client/server-feed.js';
import type { FeedModel, FeedPullView, FeedUpdate, ModelResidency } from '../client/feed-events.js';
import { isRetryable, type Failure } from '../client/failures.js';
import type { ListedModel } from '../client/model-admin.js';
import type { ServerKind } from '../client/server-kind.js';
import { addThroughput, NO_THROUGHPUT, type Throughput } from './throughput.js';

/**
 * Between two polls of a server without a feed, in ms: short enough that a ready session says within
 * about two seconds that its model left memory.
 */
export const POLL_INTERVAL_MS = 1500;

/**
 * How a server whose models are not known now is said: `unreachable` when it does not answer (or its feed broke),
 * `not serving (HTTP 503)` when it answers its list with a 5xx: it is there, but tells nothing.
 */
export function lostWord(server: ServerState): string {
  const failure = server.feed.state === 'reconnecting' ? server.feed.failure : server.pollFailure;
  return failure?.kind === 'http' && failure.status !== undefined
    ? `not serving (HTTP ${failure.status})`
    : 'unreachable';
}

/** The routes a server without a feed is polled on, by its kind (`client/kind-models.ts`); `null`: not known yet. */
export function pollRoutes(kind: ServerKind | null): string {
  switch (kind) {
    case null:
      return 'its kind’s routes (detecting its kind)';
    case 'modeldeck':
    case 'transformers-serve':
      return '/v1/models';
    case 'ollama':
      return '/api/ps and /api/tags';
    case 'llamacpp':
      return '/models';
    case 'openai':
      return '/v1/models and /metrics';
    default: {
      const never: never = kind;
      throw new TypeError(`unknown server kind ${String(never)}`);
    }
  }
}

/**
 * A row's state: the feed's, or `unknown` where a polled server's kind does not say whether the model is in memory
 * (`transformers serve`'s `/v1/models` is its disk cache).
 */
export type RowState = ModelResidency | 'unknown';

/** One model's row. */
export interface ServerModelRow {
  /** `id@revision` as the server writes it. */
  readonly model: string;
  readonly state: RowState;
  readonly stage: string | null;
  readonly progress: { readonly current: number; readonly total: number | null } | null;
  /** Clients following its load while it loads; 0 once the load ended; `null` when the server never said. */
  readonly subscribers: number | null;
  /** Bytes of its weights, from the snapshot, a poll or its `ready` event. */
  readonly sizeBytes: number | null;
  /** Chat requests running on it, as the feed told. */
  readonly chats: number;
  /**
   * When (ms since the epoch, this machine's clock) the server will unload it for idleness: `expires_in_ms` added to
   * the time it was received. `null` when none is scheduled or the server does not say.
   */
  readonly expiresAt: number | null;
  /** Why it left memory, or how its load failed. */
  readonly note: string | null;
}

/** One server. */
export interface ServerState {
  /** The service root (`http://host:port`). */
  readonly root: string;
  /**
   * The kind of server its polls read (named in a session's config, or detected by the probes); `null` until a poll
   * knows it (a server with a live feed is modeldeck's own).
   */
  readonly kind: ServerKind | null;
  readonly feed: FeedStatus;
  readonly rows: Readonly<Record<string, ServerModelRow>>;
  /** Download bytes per second of every load on the server (from the feed). */
  readonly downloadRate: Throughput;
  /** Tokens per second of every chat on the server (from the feed's chat ends). */
  readonly tokenRate: Throughput;
  /** Feed events seen. */
  readonly events: number;
  /**
   * The server run the feed's event ids name (`{run}-{sequence}`), once one arrived: another run means the server
   * restarted, and nothing resident before is resident now.
   */
  readonly run: string | null;
  /** The last `/v1/models` poll's failure, while polling. */
  readonly pollFailure: Failure | null;
  /**
   * Since when (ms since the epoch) the server cannot be reached: its feed was lost and is reconnecting, or a poll
   * failed in a way a later one can cure. `null` while it answers. Ready sessions on it say so.
   */
  readonly lostSince: number | null;
  /** The last lines its kind's own status routes gave (Ollama's `/api/ps`, vLLM's `/metrics`); empty when none. */
  readonly facts: readonly string[];
  /** The pulls under way on it (files onto its disk, nothing into memory), by `id@revision`, as the feed told. */
  readonly pulls: Readonly<Record<string, FeedPullView>>;
  /** The server process's resident set as the feed last told it, and when (ms since the epoch); `null`: not said. */
  readonly rss: { readonly bytes: number; readonly at: number } | null;
}

/** What changes a server's view. */
export type ServerAction =
  | { readonly type: 'feed-status'; readonly at: number; readonly status: FeedStatus }
  /** A feed frame: what it changes, its `id:`, and modeldeck's fields the feed's parser does not read. */
  | {
      readonly type: 'feed';
      readonly at: number;
      readonly update: FeedUpdate;
      readonly id?: string | undefined;
      readonly extras?: FeedExtras | undefined;
    }
  /**
   * A poll's answer; `askedAt`, when the request went out (the list is as of then); `kind`, whose routes it read (a
   * model without a state is one whose residency that kind does not tell).
   */
  | {
      readonly type: 'polled';
      readonly at: number;
      readonly models: readonly ListedModel[];
      readonly askedAt?: number | undefined;
      readonly kind?: ServerKind | undefined;
    }
  | { readonly type: 'poll-failed'; readonly at: number; readonly failure: Failure }
  /** What the server's kind's own status routes say (`EngineAdapter.serverFacts`), as lines. */
  | { readonly type: 'facts'; readonly at: number; readonly lines: readonly string[] };

/** A server before its feed answers. */
export function createServerState(root: string): ServerState {
  return {
    root,
    kind: null,
    feed: { state: 'connecting', attempt: 1 },
    rows: {},
    downloadRate: NO_THROUGHPUT,
    tokenRate: NO_THROUGHPUT,
    events: 0,
    run: null,
    pollFailure: null,
    lostSince: null,
    facts: [],
    pulls: {},
    rss: null,
  };
}

/** The server run a feed event id names, `null` for an id of another shape (or none). */
export function runOf(id: string | undefined): string | null {
  return id === undefined ? null : (parseFeedId(id)?.boot ?? null);
}

/** `previous`, or a row for `model` that nothing is known of yet. */
export function rowOf(model: string, previous: ServerModelRow | undefined): ServerModelRow {
  return (
    previous ?? {
      model,
      state: 'unloaded',
      stage: null,
      progress: null,
      subscribers: null,
      sizeBytes: null,
      chats: 0,
      note: null,
      expiresAt: null,
    }
  );
}

/**
 * A snapshot's entry. Its one count is the load's subscribers while loading and the requests it serves once resident
 * (`active_requests`): the latter are chats, and a resident model has no load to follow.
 */
function fromFeedModel(
  m: FeedModel,
  previous: ServerModelRow | undefined,
  expiresInMs: number | null | undefined,
  at: number,
): ServerModelRow {
  const resident = m.state === 'resident';
  return {
    ...rowOf(m.model, previous),
    ...m,
    // A server that never counts says nothing (null), rather than 0.
    subscribers: resident && m.subscribers !== null ? 0 : resident ? null : m.subscribers,
    chats: resident ? (m.subscribers ?? 0) : 0,
    sizeBytes: m.sizeBytes ?? previous?.sizeBytes ?? null,
    note: null,
    expiresAt: resident && typeof expiresInMs === 'number' ? at + expiresInMs : null,
  };
}

/** A polled list's entry (`since`: when the list was asked for). A model whose state the list does not say is unknown. */
function polledRow(m: ListedModel, previous: ServerModelRow | undefined, since: number): ServerModelRow {
  const state = m.state ?? 'unknown';
  const resident = state === 'resident';
  return {
    ...rowOf(m.id, previous),
    state,
    stage: state === 'loading' ? (m.stage ?? null) : null,
    progress: null,
    sizeBytes: m.sizeBytes ?? previous?.sizeBytes ?? null,
    // A listing's count of a resident model is its requests (`active_requests`), not a load's followers.
    subscribers: resident && m.subscribers !== null ? 0 : resident ? null : m.subscribers,
    chats: resident ? (m.subscribers ?? 0) : 0,
    expiresAt: resident && typeof m.expiresInMs === 'number' ? since + m.expiresInMs : null,
    note: m.note ?? null,
  };
}

/** The row with its unload countdown moved (`undefined`: not said, kept). */
function withExpiry(row: ServerModelRow, expiresInMs: number | null | undefined, at: number): ServerModelRow {
  if (expiresInMs === undefined) return row;
  return { ...row, expiresAt: expiresInMs === null ? null : at + expiresInMs };
}

/** Applies one action. Pure. */
export function reduceServer(state: ServerState, action: ServerAction): ServerState {
  switch (action.type) {
    case 'feed-status':
      return { ...state, feed: action.status, lostSince: lostSince(state, action.status, action.at) };
    case 'feed':
      return applyFeed(
        { ...state, events: state.events + 1, run: runOf(action.id) ?? state.run },
        action.update,
        action.at,
        action.extras ?? {},
      );
    case 'polled': {
      const rows: Record<string, ServerModelRow> = {};
      // The list is as of when it was asked for: a countdown counts from then.
      for (const m of action.models) rows[m.id] = polledRow(m, state.rows[m.id], action.askedAt ?? action.at);
      return { ...state, kind: action.kind ?? state.kind, rows, pollFailure: null, lostSince: null };
    }
    case 'facts':
      return { ...state, facts: action.lines };
    case 'poll-failed':
      return {
        ...state,
        pollFailure: action.failure,
        // A refusal (401, 404) comes from a live server; a lost connection or a 5xx does not.
        lostSince: isRetryable(action.failure) ? (state.lostSince ?? action.at) : null,
      };
    default: {
      const never: never = action;
      throw new TypeError(`unknown server action ${JSON.stringify(never)}`);
    }
  }
}

function lostSince(state: ServerState, status: FeedStatus, at: number): number | null {
  switch (status.state) {
    case 'reconnecting':
      return state.lostSince ?? at;
    case 'connecting':
      return state.lostSince;
    case 'live':
    case 'unsupported':
    case 'failed':
    case 'closed':
      return null;
    default: {
      const never: never = status;
      throw new TypeError(`unknown feed status ${JSON.stringify(never)}`);
    }
  }
}

function applyFeed(state: ServerState, update: FeedUpdate, at: number, extras: FeedExtras): ServerState {
  switch (update.type) {
    case 'snapshot': {
      const rows: Record<string, ServerModelRow> = {};
      for (const m of update.models) {
        rows[m.model] = fromFeedModel(m, state.rows[m.model], extras.expires?.[m.model], at);
      }
      const pulls = Object.fromEntries((update.pulls ?? []).map((p) => [p.model, p]));
      const rss = update.memory ? { bytes: update.memory.rssBytes, at } : state.rss;
      return { ...state, rows, pulls, rss };
    }
    case 'pull': {
      const { event } = update;
      const { [event.model]: _ended, ...others } = state.pulls;
      if (event.status !== 'loading') return { ...state, pulls: others };
      const pull = { model: event.model, stage: event.stage, progress: event.progress ?? null };
      return { ...state, pulls: { ...others, [event.model]: pull } };
    }
    case 'memory':
      return { ...state, rss: { bytes: update.memory.rssBytes, at } };
    case 'load': {
      const event = update.event;
      const previous = rowOf(event.model, state.rows[event.model]);
      const subscribers = update.subscribers ?? previous.subscribers;
      let next: ServerModelRow;
      let downloadRate = state.downloadRate;
      switch (event.status) {
        case 'loading': {
          const progress = event.progress ?? null;
          if (
            event.stage === 'download' &&
            progress !== null &&
            previous.progress !== null &&
            previous.stage === 'download'
          ) {
            downloadRate = addThroughput(downloadRate, at, progress.current - previous.progress.current);
          }
          next = {
            ...previous,
            state: 'loading',
            stage: event.stage,
            progress,
            subscribers,
            note: null,
            expiresAt: null,
          };
          break;
        }
        case 'ready':
          // The load is over: nobody follows it any more. Its size is in the event (modeldeck's `size_bytes`).
          next = withExpiry(
            {
              ...previous,
              state: 'resident',
              stage: null,
              progress: null,
              subscribers: 0,
              sizeBytes: event.size_bytes ?? previous.sizeBytes,
              note: null,
            },
            extras.expiresInMs,
            at,
          );
          break;
        case 'error':
          next = {
            ...previous,
            state: 'failed',
            stage: null,
            progress: null,
            subscribers: 0,
            expiresAt: null,
            note: event.code ? `${event.code}: ${event.message}` : event.message,
          };
          break;
        default: {
          const never: never = event;
          throw new TypeError(`unknown load event ${JSON.stringify(never)}`);
        }
      }
      return { ...state, downloadRate, rows: { ...state.rows, [event.model]: next } };
    }
    case 'unload': {
      const previous = rowOf(update.model, state.rows[update.model]);
      return {
        ...state,
        rows: {
          ...state.rows,
          [update.model]: {
            ...previous,
            state: 'unloaded',
            stage: null,
            progress: null,
            subscribers: 0,
            chats: 0,
            note: update.reason,
            expiresAt: null,
          },
        },
      };
    }
    case 'chat-start': {
      const previous = rowOf(update.model, state.rows[update.model]);
      // A model that generates is not idle: no unload is due until its replies end.
      const row = { ...previous, chats: previous.chats + 1, expiresAt: null };
      return { ...state, rows: { ...state.rows, [update.model]: row } };
    }
    case 'chat-end': {
      const previous = rowOf(update.model, state.rows[update.model]);
      const row = withExpiry({ ...previous, chats: Math.max(0, previous.chats - 1) }, extras.expiresInMs, at);
      return {
        ...state,
        tokenRate: addThroughput(state.tokenRate, at, update.tokens ?? 0),
        rows: { ...state.rows, [update.model]: row },
      };
    }
    case 'expiry': {
      const previous = state.rows[update.model];
      if (previous === undefined || previous.state !== 'resident') return state;
      return { ...state, rows: { ...state.rows, [update.model]: withExpiry(previous, update.expiresInMs, at) } };
    }
    case 'other':
      return state;
    default: {
      const never: never = update;
      throw new TypeError(`unknown feed update ${JSON.stringify(never)}`);
    }
  }
}
