/**
 * The frames of a server's `GET /events` feed as the dashboard reads them: the protocol's parsed feed events
 * (`protocol/feed.ts`) reduced to what a watcher shows. Pure.
 */

import type { LoadEvent } from '../protocol/events.js';
import {
  parseFeedEvent,
  type FeedEvent,
  type FeedModel as WireFeedModel,
  type MemoryPayload,
} from '../protocol/feed.js';

/** Where a model stands on its server. */
export type ModelResidency = 'resident' | 'loading' | 'on-disk' | 'unloaded' | 'failed';

/** One model as the feed describes it. */
export interface FeedModel {
  /** `id@revision` as the server writes it. */
  readonly model: string;
  readonly state: ModelResidency;
  /** The running stage, while loading. */
  readonly stage: string | null;
  readonly progress: { readonly current: number; readonly total: number | null } | null;
  /** Clients following its load, or requests it serves, when the server says. */
  readonly subscribers: number | null;
  /** Bytes of its weights, when the server says. */
  readonly sizeBytes: number | null;
}

/** A pull under way (`POST /pull_model`: files onto the server's disk, nothing into memory). */
export interface FeedPullView {
  readonly model: string;
  readonly stage: string | null;
  readonly progress: { readonly current: number; readonly total: number | null } | null;
}

/** The server process's memory as the feed last told it, in bytes. */
export interface FeedMemory {
  readonly rssBytes: number;
  readonly weightsBytes: number;
  readonly budgetBytes: number | null;
}

/** One frame of the feed, read. */
export type FeedUpdate =
  | {
      readonly type: 'snapshot';
      readonly models: readonly FeedModel[];
      /** The pulls under way (absent or empty from a server that does not say). */
      readonly pulls?: readonly FeedPullView[];
      /** The server's memory, when it says. */
      readonly memory?: FeedMemory | null;
    }
  | { readonly type: 'load'; readonly event: LoadEvent; readonly subscribers: number | null }
  /** A pull's event: `ready` means its files are on disk (nothing entered memory). */
  | { readonly type: 'pull'; readonly event: LoadEvent }
  | { readonly type: 'memory'; readonly memory: FeedMemory }
  | { readonly type: 'unload'; readonly model: string; readonly reason: string }
  | { readonly type: 'chat-start'; readonly model: string }
  | {
      readonly type: 'chat-end';
      readonly model: string;
      readonly tokens: number | null;
      readonly tokensPerSecond: number | null;
    }
  /** When a resident model will be unloaded for idleness moved; `null`: no unload is scheduled. */
  | {
      readonly type: 'expiry';
      readonly model: string;
      readonly expiresAt: string | null;
      readonly expiresInMs: number | null;
    }
  /** A frame that did not parse (kept for the event log, changes nothing). */
  | { readonly type: 'other'; readonly name: string; readonly error: string };

/** A model's state as servers spell it (`loaded`, `ready`, `cached`, …), or `null` when it says none. */
export function residencyOf(value: unknown): ModelResidency | null {
  switch (value) {
    case 'resident':
    case 'ready':
    case 'loaded':
      return 'resident';
    case 'loading':
      return 'loading';
    case 'cached':
    case 'on-disk':
      return 'on-disk';
    default:
      return null;
  }
}

function fromWire(m: WireFeedModel): FeedModel {
  return {
    model: m.model,
    state: residencyOf(m.state) ?? 'unloaded',
    stage: m.stage ?? null,
    progress: m.progress ?? null,
    subscribers: m.subscribers ?? m.active_requests ?? null,
    sizeBytes: m.size_bytes ?? null,
  };
}

function memoryOf(memory: MemoryPayload): FeedMemory {
  return { rssBytes: memory.rss_bytes, weightsBytes: memory.weights_bytes, budgetBytes: memory.budget_bytes };
}

/** What a parsed feed event changes. */
export function toFeedUpdate(event: FeedEvent): FeedUpdate {
  switch (event.event) {
    case 'snapshot':
      return {
        type: 'snapshot',
        models: event.data.models.map(fromWire),
        pulls: (event.data.pulls ?? []).map((p) => ({
          model: p.model,
          stage: p.stage ?? null,
          progress: p.progress ?? null,
        })),
        memory: event.data.memory ? memoryOf(event.data.memory) : null,
      };
    case 'load':
      return { type: 'load', event: event.data, subscribers: null };
    case 'pull':
      return { type: 'pull', event: event.data };
    case 'memory':
      return { type: 'memory', memory: memoryOf(event.data) };
    case 'unload':
      return { type: 'unload', model: event.data.model, reason: event.data.reason };
    case 'chat_start':
      return { type: 'chat-start', model: event.data.model };
    case 'chat_end':
      return {
        type: 'chat-end',
        model: event.data.model,
        tokens: event.data.completion_tokens,
        tokensPerSecond: event.data.tokens_per_second,
      };
    case 'expiry':
      return {
        type: 'expiry',
        model: event.data.model,
        expiresAt: event.data.expires_at,
        expiresInMs: event.data.expires_in_ms,
      };
    default: {
      const never: never = event;
      throw new TypeError(`unknown feed event ${JSON.stringify(never)}`);
    }
  }
}

/** Reads one feed frame (its `event:` name, `id:` and `data:`) with the protocol's reader. */
export function parseFeedFrame(name: string | undefined, id: string | undefined, data: string): FeedUpdate {
  const parsed = parseFeedEvent(name ?? '', id ?? '', data);
  return parsed.ok ? toFeedUpdate(parsed.event) : { type: 'other', name: name ?? 'message', error: parsed.error };
}
