/**
 * The frames of a server's `GET /events` feed as the dashboard reads them, tolerant of what it does not know: a
 * snapshot of every model the server knows, each load's progress and outcome (the `/load_model` payloads), unloads
 * with their reason, and chat requests starting and ending. Pure.
 */

import { parseLoadEvent, type LoadEvent } from '../protocol/events.js';

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

/** One frame of the feed, read. */
export type FeedUpdate =
  | { readonly type: 'snapshot'; readonly models: readonly FeedModel[] }
  | { readonly type: 'load'; readonly event: LoadEvent; readonly subscribers: number | null }
  | { readonly type: 'unload'; readonly model: string; readonly reason: string }
  | { readonly type: 'chat-start'; readonly model: string }
  | {
      readonly type: 'chat-end';
      readonly model: string;
      readonly tokens: number | null;
      readonly tokensPerSecond: number | null;
    }
  /** A frame this client does not know (kept for the event log, changes nothing). */
  | { readonly type: 'other'; readonly name: string };

type Json = Record<string, unknown>;

const num = (value: unknown): number | null => (typeof value === 'number' && Number.isFinite(value) ? value : null);
const str = (value: unknown): string | null => (typeof value === 'string' ? value : null);

/** A model's state as servers spell it (`loaded`, `ready`, `cached`, …), or `null` when it says none. */
export function residencyOf(value: unknown): ModelResidency | null {
  if (value === undefined || value === null) return null;
  return residency(value);
}

function residency(value: unknown): ModelResidency {
  switch (value) {
    case 'resident':
    case 'ready':
    case 'loaded':
      return 'resident';
    case 'loading':
      return 'loading';
    case 'on-disk':
    case 'on_disk':
    case 'cached':
    case 'disk':
      return 'on-disk';
    case 'failed':
    case 'error':
      return 'failed';
    default:
      return 'unloaded';
  }
}

function progressOf(value: unknown): FeedModel['progress'] {
  if (typeof value !== 'object' || value === null) return null;
  const p = value as Json;
  const current = num(p['current']);
  return current === null ? null : { current, total: num(p['total']) };
}

function modelOf(value: unknown): FeedModel | null {
  if (typeof value !== 'object' || value === null) return null;
  const m = value as Json;
  const model = str(m['model']) ?? str(m['id']);
  if (model === null) return null;
  return {
    model,
    state: residency(m['state'] ?? m['status']),
    stage: str(m['stage']),
    progress: progressOf(m['progress']),
    subscribers: num(m['subscribers']) ?? num(m['watchers']) ?? num(m['requests']),
    sizeBytes: num(m['sizeBytes']) ?? num(m['size_bytes']) ?? num(m['size']) ?? num(m['bytes']),
  };
}

/** Reads one feed frame by its `event:` name (absent: a plain message) and its `data:`. */
export function parseFeedFrame(name: string | undefined, data: string): FeedUpdate {
  const kind = name ?? 'message';
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return { type: 'other', name: kind };
  }
  if (typeof value !== 'object' || value === null) return { type: 'other', name: kind };
  const body = value as Json;
  if (kind === 'snapshot' || Array.isArray(body['models'])) {
    const list = Array.isArray(body['models']) ? body['models'] : Array.isArray(value) ? value : [];
    return { type: 'snapshot', models: list.flatMap((m) => modelOf(m) ?? []) };
  }
  const model = str(body['model']) ?? '';
  if (kind.startsWith('unload') || kind === 'evicted' || typeof body['reason'] === 'string') {
    return { type: 'unload', model, reason: str(body['reason']) ?? kind };
  }
  if (kind === 'chat-start' || kind === 'chat_start' || (kind === 'chat' && body['phase'] === 'start')) {
    return { type: 'chat-start', model };
  }
  if (kind === 'chat-end' || kind === 'chat_end' || kind === 'chat') {
    const usage = (typeof body['usage'] === 'object' && body['usage'] !== null ? body['usage'] : {}) as Json;
    return {
      type: 'chat-end',
      model,
      tokens: num(body['tokens']) ?? num(body['completionTokens']) ?? num(usage['completion_tokens']),
      tokensPerSecond: num(body['tokensPerSecond']) ?? num(body['tokens_per_second']),
    };
  }
  const parsed = parseLoadEvent(data);
  if (parsed.ok) return { type: 'load', event: parsed.event, subscribers: num(body['subscribers']) };
  return { type: 'other', name: kind };
}
