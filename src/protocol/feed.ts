/**
 * The events of `GET /events`, the server-wide feed: their names, payloads, ids, and a reader for what arrives.
 * `docs/protocol.md` ("The server's event feed") is the contract.
 *
 * Every frame has `event:` (one of {@link FEED_EVENT_NAMES}) and `id:` (`{boot}-{sequence}`: `boot` names one run of
 * the server, `sequence` grows by one per event). The `load` payload is exactly a `/load_model` event.
 */

import { parseLoadEvent, readLoadQueue, type LoadEvent, type LoadQueue, type Progress } from './events.js';

/** The `event:` names of the feed. */
export const FEED_EVENT_NAMES = [
  'snapshot',
  'load',
  'pull',
  'unload',
  'chat_start',
  'chat_end',
  'expiry',
  'memory',
] as const;

/** One of {@link FEED_EVENT_NAMES}. */
export type FeedEventName = (typeof FEED_EVENT_NAMES)[number];

/** Why a model left memory (or a load ended without one). */
export type UnloadReason = 'idle' | 'keep_alive' | 'request' | 'evicted' | 'reset' | 'cancelled' | 'shutdown';

/** {@link UnloadReason} values. */
export const UNLOAD_REASONS: readonly UnloadReason[] = [
  'idle',
  'keep_alive',
  'request',
  'evicted',
  'reset',
  'cancelled',
  'shutdown',
];

/** Where a model is. */
export type ModelState = 'resident' | 'loading' | 'cached';

/** One model in a snapshot (and, with OpenAI's fields added, in `GET /v1/models`). */
export interface FeedModel {
  /** Normalised `id@revision`. */
  readonly model: string;
  readonly state: ModelState;
  /** `loading`: the stage it is in (absent before the first event). */
  readonly stage?: string;
  /** `loading`: how far that stage has come. */
  readonly progress?: Progress;
  /** `loading` in stage `queued`: where it stands in its line. */
  readonly queue?: LoadQueue;
  /** `loading`: clients subscribed to the load. */
  readonly subscribers?: number;
  /** `resident`: bytes of its weight files; `null` when not known. */
  readonly size_bytes?: number | null;
  /** `resident`: the ONNX dtype its weights were loaded in (`q8`, `q4f16`, …), when known. */
  readonly dtype?: string;
  /** `resident`: whether it has a chat template (false: a base model, for `/v1/completions` only), when known. */
  readonly has_chat_template?: boolean;
  /** `resident`: milliseconds since it was last used. */
  readonly idle_ms?: number;
  /** `resident`: chat requests it is serving (generating or queued). */
  readonly active_requests?: number;
  /** `resident`: when it will be unloaded for idleness (RFC 3339, UTC); `null` when no unload is scheduled. */
  readonly expires_at?: string | null;
  /** `resident`: milliseconds from this answer until then; `null` with `expires_at`. */
  readonly expires_in_ms?: number | null;
}

/**
 * A pull under way (`POST /pull_model`: files onto the disk, nothing in memory), in a snapshot's `pulls` and
 * `GET /v1/models`' `pulls`: its stage, progress, queue and subscribers as a load's entry has them.
 */
export type FeedPull = Pick<FeedModel, 'model' | 'stage' | 'progress' | 'queue' | 'subscribers'>;

/** `snapshot`: every model the server knows, as of this event's id. */
export interface SnapshotPayload {
  readonly models: readonly FeedModel[];
  /** modeldeck's: the pulls under way (a model may be resident, loading or cached beside its pull). */
  readonly pulls?: readonly FeedPull[];
  /** modeldeck's: the process's resident set, the resident models' weights and `--max-memory` (null: none), in bytes. */
  readonly memory?: MemoryPayload;
}

/**
 * `memory` (and a snapshot's `memory`): the server process's resident set, the resident models' weights and the
 * `--max-memory` budget (`null`: none), in bytes, as of the event. Sent after every load, pull and unload ends.
 */
export interface MemoryPayload {
  readonly rss_bytes: number;
  readonly weights_bytes: number;
  readonly budget_bytes: number | null;
}

/** `unload`: a model left memory, or a load was cancelled. */
export interface UnloadPayload {
  readonly model: string;
  readonly reason: UnloadReason;
}

/**
 * `expiry`: when a resident model will be unloaded for idleness moved (it loaded, was used, began or ended a reply).
 * Both `null`: no unload is scheduled (the server never unloads for idleness, or the model is generating: its timer
 * starts again when its last reply ends).
 */
export interface ExpiryPayload {
  readonly model: string;
  /** RFC 3339 (UTC, milliseconds), or `null`. */
  readonly expires_at: string | null;
  /** Milliseconds from the moment the event was published, or `null`. */
  readonly expires_in_ms: number | null;
}

/** `chat_start`: a chat request began generating. Never carries message content. */
export interface ChatStartPayload {
  readonly model: string;
  /** The completion's id (`chatcmpl-…`), which its `chat_end` repeats. */
  readonly request: string;
  /** The HTTP request's `X-Request-ID` (the client's, or one the server minted), when the server sent one. */
  readonly request_id?: string;
}

/** `chat_end`: a chat request ended. */
export interface ChatEndPayload {
  readonly model: string;
  readonly request: string;
  /** As in {@link ChatStartPayload.request_id}. */
  readonly request_id?: string;
  /** `stop`/`length` as the completion's `finish_reason`; `error` when the generation failed. */
  readonly outcome: 'stop' | 'length' | 'error';
  readonly prompt_tokens: number;
  readonly completion_tokens: number;
  /** Completion tokens per second of generation (0 when none were generated). */
  readonly tokens_per_second: number;
}

/** One feed event, parsed. */
export type FeedEvent =
  | { readonly event: 'snapshot'; readonly id: string; readonly data: SnapshotPayload }
  | { readonly event: 'load'; readonly id: string; readonly data: LoadEvent }
  /** A pull's events, exactly as its `/pull_model` stream has them (`ready` there means "on disk"). */
  | { readonly event: 'pull'; readonly id: string; readonly data: LoadEvent }
  | { readonly event: 'unload'; readonly id: string; readonly data: UnloadPayload }
  | { readonly event: 'chat_start'; readonly id: string; readonly data: ChatStartPayload }
  | { readonly event: 'chat_end'; readonly id: string; readonly data: ChatEndPayload }
  | { readonly event: 'expiry'; readonly id: string; readonly data: ExpiryPayload }
  | { readonly event: 'memory'; readonly id: string; readonly data: MemoryPayload };

/** Builds the id of the `sequence`-th event of the server run `boot`. */
export function feedId(boot: string, sequence: number): string {
  return `${boot}-${sequence}`;
}

/** Splits a feed id into its run and sequence; `undefined` for anything else. */
export function parseFeedId(id: string): { boot: string; sequence: number } | undefined {
  const match = /^([0-9a-z]+)-(\d{1,15})$/.exec(id);
  if (!match?.[1] || !match[2]) return undefined;
  return { boot: match[1], sequence: Number(match[2]) };
}

/** What {@link parseFeedEvent} returns. */
export type ParseFeedEventResult = { ok: true; event: FeedEvent } | { ok: false; error: string };

/**
 * Reads one feed frame (its `event:` name, `id:` and `data:`). Refuses (never throws) an unknown name, a missing id,
 * data that is not JSON or lacks a field the name requires. Unknown extra fields are ignored.
 */
export function parseFeedEvent(name: string, id: string, data: string): ParseFeedEventResult {
  if (id === '') return { ok: false, error: `a ${name || 'feed'} event without an id` };
  if (name === 'load' || name === 'pull') {
    const parsed = parseLoadEvent(data);
    return parsed.ok ? { ok: true, event: { event: name, id, data: parsed.event } } : parsed;
  }
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch (error) {
    return { ok: false, error: `${name} data is not JSON: ${(error as Error).message}` };
  }
  if (!isObject(value)) return { ok: false, error: `${name} data is not a JSON object` };
  switch (name) {
    case 'snapshot': {
      const models = value['models'];
      if (!Array.isArray(models)) return { ok: false, error: 'snapshot has no "models" array' };
      const read: FeedModel[] = [];
      for (const entry of models) {
        const model = readModel(entry);
        if (model === undefined) return { ok: false, error: `snapshot has a bad model entry ${JSON.stringify(entry)}` };
        read.push(model);
      }
      const memory = readMemory(value['memory']);
      const pulls = readPulls(value['pulls']);
      const data = { models: read, ...(pulls ? { pulls } : {}), ...(memory ? { memory } : {}) };
      return { ok: true, event: { event: 'snapshot', id, data } };
    }
    case 'unload': {
      const { model, reason } = value;
      if (typeof model !== 'string') return { ok: false, error: 'unload has no "model"' };
      if (typeof reason !== 'string' || !(UNLOAD_REASONS as readonly string[]).includes(reason)) {
        return { ok: false, error: `unload has an unknown "reason": ${JSON.stringify(reason)}` };
      }
      return { ok: true, event: { event: 'unload', id, data: { model, reason: reason as UnloadReason } } };
    }
    case 'chat_start': {
      const { model, request } = value;
      if (typeof model !== 'string' || typeof request !== 'string') {
        return { ok: false, error: 'chat_start needs "model" and "request"' };
      }
      return { ok: true, event: { event: 'chat_start', id, data: { model, request, ...requestIdOf(value) } } };
    }
    case 'chat_end': {
      const { model, request, outcome } = value;
      const counts = ['prompt_tokens', 'completion_tokens', 'tokens_per_second'].map((key) => value[key]);
      if (typeof model !== 'string' || typeof request !== 'string') {
        return { ok: false, error: 'chat_end needs "model" and "request"' };
      }
      if (outcome !== 'stop' && outcome !== 'length' && outcome !== 'error') {
        return { ok: false, error: `chat_end has an unknown "outcome": ${JSON.stringify(outcome)}` };
      }
      if (!counts.every((n) => typeof n === 'number' && Number.isFinite(n) && n >= 0)) {
        return { ok: false, error: 'chat_end needs non-negative prompt_tokens, completion_tokens, tokens_per_second' };
      }
      const [prompt_tokens = 0, completion_tokens = 0, tokens_per_second = 0] = counts as number[];
      return {
        ok: true,
        event: {
          event: 'chat_end',
          id,
          data: { model, request, ...requestIdOf(value), outcome, prompt_tokens, completion_tokens, tokens_per_second },
        },
      };
    }
    case 'expiry':
      return readExpiryEvent(value, id);
    case 'memory': {
      const memory = readMemory(value);
      if (memory === undefined)
        return { ok: false, error: 'memory needs "rss_bytes", "weights_bytes", "budget_bytes"' };
      return { ok: true, event: { event: 'memory', id, data: memory } };
    }
    default:
      return { ok: false, error: `unknown feed event ${JSON.stringify(name)}` };
  }
}

/** A snapshot's optional `pulls`, each entry that reads (another server's, or a bad entry, is left out). */
function readPulls(value: unknown): FeedPull[] | undefined {
  if (!Array.isArray(value)) return undefined;
  return value.flatMap((entry: unknown) => {
    const read = isObject(entry) ? readModel({ ...entry, state: 'loading' }) : undefined;
    if (read === undefined) return [];
    const { model, stage, progress, queue, subscribers } = read;
    return [
      {
        model,
        ...(stage === undefined ? {} : { stage }),
        ...(progress === undefined ? {} : { progress }),
        ...(queue === undefined ? {} : { queue }),
        ...(subscribers === undefined ? {} : { subscribers }),
      },
    ];
  });
}

/** A snapshot's optional `memory`, when its figures read; undefined otherwise (another server's is ignored). */
function readMemory(value: unknown): SnapshotPayload['memory'] {
  if (!isObject(value)) return undefined;
  const { rss_bytes, weights_bytes, budget_bytes } = value;
  if (typeof rss_bytes !== 'number' || typeof weights_bytes !== 'number') return undefined;
  if (budget_bytes !== null && typeof budget_bytes !== 'number') return undefined;
  return { rss_bytes, weights_bytes, budget_bytes };
}

/** A chat event's optional `request_id`, when it is a string. */
function requestIdOf(value: Record<string, unknown>): { request_id?: string } {
  const requestId = value['request_id'];
  return typeof requestId === 'string' ? { request_id: requestId } : {};
}

function readExpiryEvent(value: Record<string, unknown>, id: string): ParseFeedEventResult {
  const { model, expires_at, expires_in_ms } = value;
  if (typeof model !== 'string') return { ok: false, error: 'expiry has no "model"' };
  const { expires_at: at, expires_in_ms: inMs } = readExpiry(value);
  if (at === undefined || inMs === undefined || (at === null) !== (inMs === null)) {
    const got = JSON.stringify({ expires_at, expires_in_ms });
    return {
      ok: false,
      error: `expiry needs "expires_at" (RFC 3339) and "expires_in_ms", both or neither null: ${got}`,
    };
  }
  return { ok: true, event: { event: 'expiry', id, data: { model, expires_at: at, expires_in_ms: inMs } } };
}

function readModel(entry: unknown): FeedModel | undefined {
  if (!isObject(entry)) return undefined;
  const { model, state, stage, progress, subscribers, size_bytes, dtype, has_chat_template, idle_ms, active_requests } =
    entry;
  if (typeof model !== 'string') return undefined;
  if (state !== 'resident' && state !== 'loading' && state !== 'cached') return undefined;
  const queue = readLoadQueue(entry['queue']);
  let readProgress: Progress | undefined;
  if (isObject(progress)) {
    const { current, total } = progress;
    if (!count(current) || !(total === null || count(total))) return undefined;
    readProgress = { current, total };
  }
  return {
    model,
    state,
    ...(typeof stage === 'string' ? { stage } : {}),
    ...(readProgress ? { progress: readProgress } : {}),
    ...(queue ? { queue } : {}),
    ...(count(subscribers) ? { subscribers } : {}),
    ...(count(size_bytes) || size_bytes === null ? { size_bytes } : {}),
    ...(typeof dtype === 'string' ? { dtype } : {}),
    ...(typeof has_chat_template === 'boolean' ? { has_chat_template } : {}),
    ...(count(idle_ms) ? { idle_ms } : {}),
    ...(count(active_requests) ? { active_requests } : {}),
    ...readExpiry(entry),
  };
}

/** A snapshot entry's `expires_at` and `expires_in_ms`, when well formed. */
function readExpiry(entry: Record<string, unknown>): Pick<FeedModel, 'expires_at' | 'expires_in_ms'> {
  const { expires_at, expires_in_ms } = entry;
  return {
    ...(expires_at === null || (typeof expires_at === 'string' && Number.isFinite(Date.parse(expires_at)))
      ? { expires_at }
      : {}),
    ...(expires_in_ms === null || count(expires_in_ms) ? { expires_in_ms } : {}),
  };
}

function count(n: unknown): n is number {
  return typeof n === 'number' && Number.isFinite(n) && n >= 0;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
