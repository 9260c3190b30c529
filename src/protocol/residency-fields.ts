/**
 * The fields by which a modeldeck server says how long a resident model stays and where a waiting load stands, read
 * leniently from any payload that may carry them: `expires_in_ms` (and `expires_at`) on a resident entry of
 * `GET /v1/models` and of the feed's `snapshot`, on a `ready` event and on `chat_end`, and the feed's `expiry` event;
 * `queue` on a `loading` event of stage `queued`. Upstream sends none of them: absent or malformed, they read as
 * unknown, and nothing else about the payload changes. Pure.
 */

/** Where a load that waits its turn stands. */
export interface QueuePlace {
  /** Its place in the line: 1 is next. */
  readonly position: number;
  /** What it waits for: `load_slot` (`--max-loads`), `model_slot` (`--max-models`), or another server's word. */
  readonly reason: string;
  /** The loads running now, each holding a slot, when the server says. */
  readonly running: number | null;
  /** The models (`id@revision`) holding what it waits for, when the server says. */
  readonly heldBy: readonly string[];
}

/** The stage name of a load that waits its turn (before `processor`). */
export const QUEUED_STAGE = 'queued';

/** What a `/load_model` event adds: the queue of a `queued` event, the unload countdown of a `ready` event. */
export interface LoadExtras {
  readonly queue?: QueuePlace;
  /** Milliseconds until the server unloads the model for idleness; `null`: none scheduled; absent: not said. */
  readonly expiresInMs?: number | null;
}

/** What a feed frame adds to what the feed's parser reads. */
export interface FeedExtras extends LoadExtras {
  /** `snapshot`: each resident model's countdown, by `id@revision`, where the server gave one. */
  readonly expires?: Readonly<Record<string, number | null>>;
  /** `expiry`: the model whose countdown moved (the countdown is {@link LoadExtras.expiresInMs}). */
  readonly model?: string;
}

/** A `queue` object as sent, or undefined when absent or unreadable. `held_by` may be one id or a list. */
export function readQueuePlace(value: unknown): QueuePlace | undefined {
  if (!isObject(value)) return undefined;
  const { position, reason, running, held_by } = value;
  if (!isCount(position) || position < 1 || typeof reason !== 'string' || reason === '') return undefined;
  const heldBy =
    typeof held_by === 'string'
      ? [held_by]
      : Array.isArray(held_by)
        ? held_by.filter((h): h is string => typeof h === 'string')
        : [];
  return { position, reason, running: isCount(running) ? running : null, heldBy };
}

/** `expires_in_ms` of an object: a count, `null` (none scheduled), or undefined when absent or malformed. */
export function readExpiresInMs(value: unknown): number | null | undefined {
  if (!isObject(value)) return undefined;
  const inMs = value['expires_in_ms'];
  if (inMs === null) return null;
  if (isCount(inMs)) return inMs;
  // A server that gives only the time: read it against nothing (no shared clock), so it is not used.
  return undefined;
}

/** The extras of one `/load_model` event's data (cheap when it has none: the JSON is parsed only if it might). */
export function readLoadExtras(data: string): LoadExtras {
  if (!data.includes('"queue"') && !data.includes('"expires_in_ms"')) return {};
  const value = parse(data);
  if (!isObject(value)) return {};
  const queue = readQueuePlace(value['queue']);
  const expiresInMs = readExpiresInMs(value);
  return { ...(queue ? { queue } : {}), ...(expiresInMs !== undefined ? { expiresInMs } : {}) };
}

/** The extras of one feed frame, by its `event:` name. */
export function readFeedExtras(name: string, data: string): FeedExtras {
  switch (name) {
    case 'load':
      return readLoadExtras(data);
    case 'chat_end':
    case 'expiry': {
      if (!data.includes('"expires_in_ms"')) return {};
      const value = parse(data);
      const expiresInMs = readExpiresInMs(value);
      const model = isObject(value) && typeof value['model'] === 'string' ? value['model'] : undefined;
      return {
        ...(expiresInMs !== undefined ? { expiresInMs } : {}),
        ...(name === 'expiry' && model !== undefined ? { model } : {}),
      };
    }
    case 'snapshot': {
      if (!data.includes('"expires_in_ms"')) return {};
      const value = parse(data);
      const models = isObject(value) ? value['models'] : undefined;
      if (!Array.isArray(models)) return {};
      const expires: Record<string, number | null> = {};
      for (const entry of models) {
        const inMs = readExpiresInMs(entry);
        if (inMs !== undefined && isObject(entry) && typeof entry['model'] === 'string') expires[entry['model']] = inMs;
      }
      return { expires };
    }
    default:
      return {};
  }
}

function parse(data: string): unknown {
  try {
    return JSON.parse(data);
  } catch {
    return undefined;
  }
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
