/**
 * The events of a `/load_model` stream: their types, the exact JSON upstream writes, and a tolerant reader for what
 * other servers write. The contract is the team's protocol page ("The /load_model protocol, as modeldeck speaks it").
 */

/** The stages modeldeck and upstream send, in the order a fresh load passes them. Other servers may send others. */
export type KnownStage = 'processor' | 'config' | 'download' | 'weights';

/** {@link KnownStage} values, in load order. */
export const KNOWN_STAGES: readonly KnownStage[] = ['processor', 'config', 'download', 'weights'];

/**
 * The stage of a load that waits its turn before it runs (modeldeck's own; upstream never sends it): always before
 * {@link KNOWN_STAGES}, its event carries a {@link LoadQueue}.
 */
export const QUEUED_STAGE = 'queued';

/** Every stage a modeldeck server sends, in the order a load passes them: `queued`, then {@link KNOWN_STAGES}. */
export const WIRE_STAGES: readonly string[] = [QUEUED_STAGE, ...KNOWN_STAGES];

/** Where a load that waits its turn stands (the `queue` of a `queued` event). */
export interface LoadQueue {
  /** Its place in the line: 1 is next. */
  readonly position: number;
  /**
   * What it waits for: `load_slot`, one of the `--max-loads` slots (loads running at once); `model_slot`, room under
   * `--max-models` (models in memory or loading). Another server's reason is kept as sent (show it raw).
   */
  readonly reason: string;
  /** `load_slot`: the loads running now, each holding a slot. */
  readonly running?: number;
  /** The models (`id@revision`) holding what it waits for: the running loads, or the models in memory or loading. */
  readonly held_by?: readonly string[];
}

/**
 * How far a stage has come.
 *
 * Units depend on the stage: `download` counts bytes fetched over the network in that stage, summed over its files;
 * `weights` counts items (units of work that really complete one by one). `total` is `null` when the sender does not
 * know it (upstream does this when no file announced a size): show the figure so far, without a percentage.
 */
export interface Progress {
  /** Units done so far (bytes for `download`, items for `weights`). */
  readonly current: number;
  /** Units in the whole stage, or `null` when unknown. */
  readonly total: number | null;
}

/** A non-terminal event: a stage is running. */
export interface LoadingEvent {
  readonly status: 'loading';
  /** Normalised `id@revision`. */
  readonly model: string;
  /** A {@link KnownStage}, or another server's stage name, kept as sent so it can be shown raw. */
  readonly stage: string;
  /** Present where the stage reports progress (`download`, `weights`). */
  readonly progress?: Progress;
  /** Present on `queued`: where the load stands in its line. */
  readonly queue?: LoadQueue;
}

/** Terminal: the model is usable. */
export interface ReadyEvent {
  readonly status: 'ready';
  /** Normalised `id@revision`. */
  readonly model: string;
  /** The model was already resident in server memory (not merely present on disk). */
  readonly cached: boolean;
  /** Bytes of its weight files, `null` when the server does not know them (modeldeck's addition). */
  readonly size_bytes?: number | null;
  /** The ONNX dtype its weights were loaded in, when known (modeldeck's addition). */
  readonly dtype?: string;
}

/** Terminal: loading failed. */
export interface ErrorEvent {
  readonly status: 'error';
  /** Normalised `id@revision`. */
  readonly model: string;
  /** Shown to users as is; says what went wrong and, where possible, what to do. */
  readonly message: string;
  /** Machine-readable reason (a modeldeck addition; upstream sends none). */
  readonly code?: string;
}

/** One event of a `/load_model` stream, discriminated on the wire's own `status` field. */
export type LoadEvent = LoadingEvent | ReadyEvent | ErrorEvent;

/** True for the events that end a stream (`ready`, `error`). */
export function isTerminal(event: LoadEvent): event is ReadyEvent | ErrorEvent {
  return event.status !== 'loading';
}

/**
 * Writes an event as upstream's Python `json.dumps(payload)` does, byte for byte: `", "` and `": "` separators; keys
 * in the order `status`, `model`, `stage`, `progress` (`current`, `total`), `queue` (`position`, `reason`, `running`,
 * `held_by`), `cached`, `size_bytes`, `dtype`, `message`, `code` (modeldeck's additions, `queue`, `size_bytes` and
 * `dtype`, only when set); and, as
 * Python's default `ensure_ascii`, every character outside printable ASCII escaped as `\uXXXX` (lowercase hex,
 * surrogate pairs for astral characters), so the output is pure ASCII and valid JSON for any string.
 *
 * @throws TypeError when a progress figure is not a finite number (Python would write `NaN`, which is not JSON).
 */
export function serializeLoadEvent(event: LoadEvent): string {
  const parts = [`"status": ${pyString(event.status)}`, `"model": ${pyString(event.model)}`];
  switch (event.status) {
    case 'loading':
      parts.push(`"stage": ${pyString(event.stage)}`);
      if (event.progress !== undefined) {
        const { current, total } = event.progress;
        const totalJson = total === null ? 'null' : pyNumber(total, 'progress.total');
        parts.push(`"progress": {"current": ${pyNumber(current, 'progress.current')}, "total": ${totalJson}}`);
      }
      if (event.queue !== undefined) parts.push(`"queue": ${pyQueue(event.queue)}`);
      break;
    case 'ready':
      parts.push(`"cached": ${event.cached ? 'true' : 'false'}`);
      if (event.size_bytes !== undefined) {
        parts.push(`"size_bytes": ${event.size_bytes === null ? 'null' : pyNumber(event.size_bytes, 'size_bytes')}`);
      }
      if (event.dtype !== undefined) parts.push(`"dtype": ${pyString(event.dtype)}`);
      break;
    case 'error':
      parts.push(`"message": ${pyString(event.message)}`);
      if (event.code !== undefined) parts.push(`"code": ${pyString(event.code)}`);
      break;
    default:
      return unreachable(event);
  }
  return `{${parts.join(', ')}}`;
}

function pyString(text: string): string {
  // JSON.stringify already escapes quotes, backslashes, C0 controls and lone surrogates exactly as Python does;
  // what remains outside printable ASCII is DEL and non-ASCII, which Python's ensure_ascii also escapes.
  return JSON.stringify(text).replace(
    /[^\x20-\x7e]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

function pyNumber(value: number, field: string): string {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new TypeError(`${field} must be a finite number, got ${String(value)}`);
  }
  return JSON.stringify(value);
}

function pyQueue(queue: LoadQueue): string {
  const parts = [`"position": ${pyNumber(queue.position, 'queue.position')}`, `"reason": ${pyString(queue.reason)}`];
  if (queue.running !== undefined) parts.push(`"running": ${pyNumber(queue.running, 'queue.running')}`);
  if (queue.held_by !== undefined) parts.push(`"held_by": [${queue.held_by.map(pyString).join(', ')}]`);
  return `{${parts.join(', ')}}`;
}

function unreachable(value: never): never {
  throw new TypeError(`unknown load event status ${JSON.stringify((value as { status?: unknown }).status)}`);
}

/** What {@link parseLoadEvent} returns. `raw` is the whole parsed object, unknown fields included. */
export type ParseLoadEventResult =
  { ok: true; event: LoadEvent; raw: Readonly<Record<string, unknown>> } | { ok: false; error: string };

/**
 * What a client says of a `/load_model` stream that ended without `ready` or `error`: a failure, never a success
 * (the protocol page's exact words).
 */
export const ENDED_EARLY_MESSAGE = 'stream ended before ready';

/** The message given to an `error` event that arrived without a usable one. */
export const DEFAULT_ERROR_MESSAGE = 'the server reported an error without a message';

/**
 * Reads the `data` of one `/load_model` frame, tolerating what other servers send: any JSON spacing, unknown fields
 * (ignored in `event`, kept in `raw`), unknown stages (kept by name), `progress.total` of `null` or missing (read as
 * `null`), no `progress` (or `progress: null`), and a `ready` event without `cached` (read as `false`). modeldeck's
 * additions are read when well formed and left out otherwise: a loading event's `queue`, a ready event's
 * `size_bytes` and `dtype`.
 *
 * An `error` event without a non-empty string `message` (upstream sends `str(exception)`, which can be empty) is still
 * accepted, with {@link DEFAULT_ERROR_MESSAGE}: it is terminal, and dropping it would hide that the load failed. A
 * non-string `code` is ignored.
 *
 * Refuses (never throws): invalid JSON, anything but an object, a missing or unknown `status`, a non-string `model`,
 * a `loading` event without a string `stage`, a `progress` that is not an object, a `current` that is not a finite
 * number, a `total` that is neither a finite number nor `null`, and a non-boolean `cached`.
 */
export function parseLoadEvent(data: string): ParseLoadEventResult {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch (error) {
    return { ok: false, error: `event data is not JSON: ${(error as Error).message}` };
  }
  if (!isPlainObject(value)) return { ok: false, error: `event data is not a JSON object: ${preview(data)}` };

  const { status, model } = value;
  if (status === undefined) return { ok: false, error: 'event has no "status"' };
  if (typeof model !== 'string') return { ok: false, error: 'event "model" is missing or not a string' };

  switch (status) {
    case 'loading':
      return readLoading(value, model);
    case 'ready': {
      const cached = value.cached === undefined ? false : value.cached;
      if (typeof cached !== 'boolean') return { ok: false, error: 'ready event "cached" is not a boolean' };
      const { size_bytes, dtype } = value;
      const event: ReadyEvent = {
        status: 'ready',
        model,
        cached,
        ...(size_bytes === null || isCount(size_bytes) ? { size_bytes } : {}),
        ...(typeof dtype === 'string' ? { dtype } : {}),
      };
      return { ok: true, event, raw: value };
    }
    case 'error': {
      const { message, code } = value;
      const event: ErrorEvent = {
        status: 'error',
        model,
        message: typeof message === 'string' && message.length > 0 ? message : DEFAULT_ERROR_MESSAGE,
        ...(typeof code === 'string' ? { code } : {}),
      };
      return { ok: true, event, raw: value };
    }
    default:
      return { ok: false, error: `event has an unknown "status": ${preview(JSON.stringify(status))}` };
  }
}

function readLoading(value: Record<string, unknown>, model: string): ParseLoadEventResult {
  const { stage, progress } = value;
  if (typeof stage !== 'string') return { ok: false, error: 'loading event "stage" is missing or not a string' };
  const queue = readLoadQueue(value.queue);
  if (progress === undefined || progress === null) {
    return { ok: true, event: { status: 'loading', model, stage, ...(queue ? { queue } : {}) }, raw: value };
  }
  if (!isPlainObject(progress)) return { ok: false, error: 'loading event "progress" is not an object' };
  const { current, total } = progress;
  if (typeof current !== 'number' || !Number.isFinite(current)) {
    return { ok: false, error: 'loading event "progress.current" is not a number' };
  }
  if (total !== undefined && total !== null && (typeof total !== 'number' || !Number.isFinite(total))) {
    return { ok: false, error: 'loading event "progress.total" is neither a number nor null' };
  }
  return {
    ok: true,
    event: {
      status: 'loading',
      model,
      stage,
      progress: { current, total: total ?? null },
      ...(queue ? { queue } : {}),
    },
    raw: value,
  };
}

/**
 * A `queue` as sent, or undefined when it is absent or unreadable (a reader tolerates it: the event still reads): a
 * position of 1 or more and a reason are required; `running` and `held_by` are kept when well formed. The feed's
 * snapshot entries are read with it too.
 */
export function readLoadQueue(value: unknown): LoadQueue | undefined {
  if (!isPlainObject(value)) return undefined;
  const { position, reason, running, held_by } = value;
  if (!isCount(position) || position < 1 || typeof reason !== 'string') return undefined;
  const holders = Array.isArray(held_by) && held_by.every((h) => typeof h === 'string') ? held_by : undefined;
  return {
    position,
    reason,
    ...(isCount(running) ? { running } : {}),
    ...(holders ? { held_by: holders as string[] } : {}),
  };
}

/** A finite number, 0 or more. */
function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function preview(text: string): string {
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}
