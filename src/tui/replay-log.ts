/**
 * A saved log as a replay: what Ctrl-S writes (JSON Lines) parsed back into records, and a source that plays them on
 * the injected Clock with their original gaps (divided by a speed factor), with pause and single steps. No I/O here:
 * the player (`replay-player.ts`) turns each record into what a live session would have produced.
 *
 * A saved log holds three kinds of line, all with `time` (ISO 8601) and `session` (the session's tag):
 * - `{"kind": "data" | "comment" | "other", "raw"}`: a frame of the event log, as before;
 * - `{"kind": "open", "server", "model"}`: the session was opened;
 * - `{"kind": "update", "update"}`: what the session's client reported (a load event, a chat chunk, a failure),
 *   the very value the dashboard's reducer took;
 * - `{"kind": "wire", "record"}`: what the wire tap recorded on one of its streams (a connection attempt, the HTTP
 *   answer, one line as sent, the end, an error; `client/wire-tap.ts`), which the log's debug and wire views and the
 *   inspector are built from;
 * - `{"kind": "server", "root", "action"}`: what a server's feed or `/v1/models` poll reported (under the feed's tag),
 *   which the server view and the sessions' view of their models (unloaded, loading again) are rebuilt from.
 *
 * A replay plays every record at its recorded time: the panes' durations, speeds and log times are the recording's,
 * whatever the speed; {@link ReplaySource.position} is where the recording stands.
 */

import type { FrameKind } from '../client/frames.js';
import type { SessionUpdate } from '../client/session-update.js';
import type { WireRecord } from '../client/wire-tap.js';
import type { Clock, TimerHandle } from '../common/clock.js';
import { toJsonl } from './event-log.js';
import type { ServerAction } from './server-state.js';

/** One line of a saved log; `time` in milliseconds since the epoch. */
export type ReplayRecord =
  | {
      readonly time: number;
      readonly session: string;
      readonly kind: 'open';
      readonly server: string;
      readonly model: string;
    }
  | { readonly time: number; readonly session: string; readonly kind: 'update'; readonly update: SessionUpdate }
  | { readonly time: number; readonly session: string; readonly kind: 'wire'; readonly record: WireRecord }
  | {
      readonly time: number;
      readonly session: string;
      readonly kind: 'server';
      readonly root: string;
      readonly action: ServerAction;
    }
  | { readonly time: number; readonly session: string; readonly kind: FrameKind; readonly raw: string };

const FRAME_KINDS: ReadonlySet<string> = new Set(['data', 'comment', 'other']);
const SERVER_ACTIONS: ReadonlySet<string> = new Set(['feed-status', 'feed', 'polled', 'poll-failed', 'facts']);
const UPDATE_TYPES: ReadonlySet<string> = new Set([
  'connecting',
  'accepted',
  'event',
  'failed',
  'chat-sent',
  'chat-delta',
  'chat-done',
  'chat-stopped',
  'chat-failed',
]);

/** A record as one JSON line (no LF). */
export function recordLine(record: ReplayRecord): string {
  const time = new Date(record.time).toISOString();
  switch (record.kind) {
    case 'open':
      return JSON.stringify({
        time,
        session: record.session,
        kind: 'open',
        server: record.server,
        model: record.model,
      });
    case 'update':
      return JSON.stringify({ time, session: record.session, kind: 'update', update: record.update });
    case 'wire':
      return JSON.stringify({ time, session: record.session, kind: 'wire', record: record.record });
    case 'server':
      return JSON.stringify({
        time,
        session: record.session,
        kind: 'server',
        root: record.root,
        action: record.action,
      });
    default:
      // A frame is written as the event log writes its entries, so both kinds of save agree line for line.
      return toJsonl([
        { seq: 0, time: record.time, session: record.session, kind: record.kind, raw: record.raw },
      ]).slice(0, -1);
  }
}

/** What {@link parseReplayLog} returns: the records, oldest first, or why the text is not a replayable log. */
export type ParsedReplayLog =
  { readonly ok: true; readonly records: readonly ReplayRecord[] } | { readonly ok: false; readonly message: string };

/**
 * Parses a saved log. Refuses, naming the line: a line that is not JSON, a line of the wrong shape, times going
 * backwards; and a log with no line at all, or with frames but no session opened (a log saved before replay
 * existed: it has the frames but not what the panes showed).
 */
export function parseReplayLog(text: string): ParsedReplayLog {
  const records: ReplayRecord[] = [];
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  for (const [i, raw] of lines.entries()) {
    const where = `line ${i + 1}`;
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      return { ok: false, message: `${where} is not JSON (a saved log is JSON Lines, one object per line)` };
    }
    const record = toRecord(value);
    if (typeof record === 'string') return { ok: false, message: `${where}: ${record}` };
    const previous = records.at(-1);
    if (previous && record.time < previous.time) {
      return { ok: false, message: `${where}: its time is before the line above's (the log must be in time order)` };
    }
    records.push(record);
  }
  if (records.length === 0) return { ok: false, message: 'the log is empty: nothing to replay' };
  if (!records.some((r) => r.kind === 'open')) {
    return {
      ok: false,
      message:
        'the log opens no session (no "open" line): it holds frames only, so no pane can be rebuilt; save it again with w from this version',
    };
  }
  return { ok: true, records };
}

function toRecord(value: unknown): ReplayRecord | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not a JSON object';
  const o = value as Record<string, unknown>;
  if (typeof o['time'] !== 'string') return '"time" is missing or not a string';
  const time = Date.parse(o['time']);
  if (!Number.isFinite(time)) return `"time" is not an ISO 8601 time: ${JSON.stringify(o['time'])}`;
  const session = o['session'];
  if (typeof session !== 'string' || session === '') return '"session" is missing or not a string';
  const kind = o['kind'];
  if (kind === 'open') {
    if (typeof o['server'] !== 'string' || typeof o['model'] !== 'string')
      return 'an "open" line needs "server" and "model"';
    return { time, session, kind, server: o['server'], model: o['model'] };
  }
  if (kind === 'update') {
    const update = o['update'];
    if (typeof update !== 'object' || update === null) return 'an "update" line needs an "update" object';
    const u = update as Record<string, unknown>;
    if (typeof u['type'] !== 'string' || !UPDATE_TYPES.has(u['type'])) {
      return `unknown update type ${JSON.stringify(u['type'])}`;
    }
    if (typeof u['at'] !== 'number') return 'an update needs a numeric "at"';
    return { time, session, kind, update: update as SessionUpdate };
  }
  if (kind === 'server') {
    const action = o['action'];
    if (typeof o['root'] !== 'string') return 'a "server" line needs a string "root"';
    if (typeof action !== 'object' || action === null) return 'a "server" line needs an "action" object';
    const a = action as Record<string, unknown>;
    if (typeof a['type'] !== 'string' || !SERVER_ACTIONS.has(a['type'])) {
      return `unknown server action ${JSON.stringify(a['type'])}`;
    }
    if (typeof a['at'] !== 'number') return 'a server action needs a numeric "at"';
    return { time, session, kind, root: o['root'], action: action as ServerAction };
  }
  if (kind === 'wire') {
    const record = toWireRecord(o['record']);
    return typeof record === 'string' ? `a "wire" line's record: ${record}` : { time, session, kind, record };
  }
  if (typeof kind === 'string' && FRAME_KINDS.has(kind)) {
    if (typeof o['raw'] !== 'string') return 'a frame line needs a string "raw"';
    return { time, session, kind: kind as FrameKind, raw: o['raw'] };
  }
  return `unknown kind ${JSON.stringify(kind)} (expected data, comment, other, open, update, wire or server)`;
}

const LINE_ENDINGS: ReadonlySet<string> = new Set(['\n', '\r\n', '\r', '']);
const WIRE_FIELDS: ReadonlySet<string> = new Set(['data', 'event', 'id', 'retry', 'comment', 'blank', 'unknown']);

/** A saved wire tap record, checked field by field as `client/wire-tap.ts` writes them; else what is wrong. */
function toWireRecord(value: unknown): WireRecord | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not a JSON object';
  const r = value as Record<string, unknown>;
  if (typeof r['stream'] !== 'string' || typeof r['at'] !== 'number')
    return 'needs a string "stream" and a numeric "at"';
  const has = (field: string, type: 'string' | 'number'): boolean => typeof r[field] === type;
  switch (r['kind']) {
    case 'connecting':
      return has('method', 'string') && has('url', 'string') && has('attempt', 'number')
        ? (value as WireRecord)
        : 'a "connecting" record needs "method", "url" and "attempt"';
    case 'answer': {
      const headers = r['headers'];
      const headersOk =
        typeof headers === 'object' && headers !== null && Object.values(headers).every((v) => typeof v === 'string');
      return has('status', 'number') && has('statusText', 'string') && headersOk
        ? (value as WireRecord)
        : 'an "answer" record needs "status", "statusText" and string "headers"';
    }
    case 'line': {
      const line = r['line'] as Record<string, unknown> | null | undefined;
      const lineOk =
        typeof line === 'object' &&
        line !== null &&
        typeof line['text'] === 'string' &&
        typeof line['value'] === 'string' &&
        LINE_ENDINGS.has(line['ending'] as string) &&
        WIRE_FIELDS.has(line['field'] as string);
      return lineOk && has('frame', 'number')
        ? (value as WireRecord)
        : 'a "line" record needs a "line" (text, ending, field, value) and a numeric "frame"';
    }
    case 'end':
      return has('bytes', 'number') && (r['how'] === 'closed' || r['how'] === 'cancelled')
        ? (value as WireRecord)
        : 'an "end" record needs "bytes" and "how" (closed or cancelled)';
    case 'error':
      return has('message', 'string') ? (value as WireRecord) : 'an "error" record needs a "message"';
    default:
      return `unknown record kind ${JSON.stringify(r['kind'])}`;
  }
}

/** Options of {@link createReplaySource}. */
export interface ReplaySourceOptions {
  readonly records: readonly ReplayRecord[];
  readonly clock: Clock;
  /** Gaps between records are divided by this (2 plays twice as fast); positive. Default 1. */
  readonly speed?: number;
  /** Called with each record as it falls due, and the clock's time then. */
  readonly onRecord: (record: ReplayRecord, now: number) => void;
  /** Called once, after the last record. */
  readonly onEnd?: () => void;
}

/** A replay in progress. */
export interface ReplaySource {
  /** Plays the first record at once and the rest at their gaps. */
  start(): void;
  /** Pauses or resumes; a resumed replay waits what was left of the gap. */
  toggle(): void;
  readonly paused: () => boolean;
  /** Plays the next record now (pausing first when playing). False at the end. */
  step(): boolean;
  /** Records played so far, of {@link ReplaySource.total}. */
  readonly played: () => number;
  readonly total: number;
  /**
   * Where the recording stands (ms since the epoch, the recording's clock): the time of the last record played, moving
   * on at the speed while playing (never past the next record), still while paused.
   */
  position(): number;
  /** The first and the last record's times. */
  readonly span: { readonly start: number; readonly end: number };
  /** The speed factor. */
  readonly speed: number;
  /** Stops its timer; nothing more is played. */
  dispose(): void;
}

/** `speed`, checked: a positive number. */
function checkedSpeed(speed: number): number {
  if (!(speed > 0) || !Number.isFinite(speed))
    throw new RangeError(`replay speed must be a positive number, got ${speed}`);
  return speed;
}

/** The recorded gap before record `index` (after the one before it), undefined at either end. */
function gapBefore(records: readonly ReplayRecord[], index: number): number | undefined {
  const record = records[index];
  const previous = records[index - 1];
  return record === undefined || previous === undefined ? undefined : record.time - previous.time;
}

/**
 * The recording's time: set to a recorded time at the clock's now, it moves on from there at `speed` (while the
 * caller says it moves), up to a bound.
 */
function createRecordingClock(
  clock: Clock,
  speed: number,
  start: number,
): { set(recorded: number): void; now(moving: boolean, bound: number): number } {
  let anchor = { recorded: start, real: clock.now() };
  return {
    set(recorded) {
      anchor = { recorded, real: clock.now() };
    },
    now(moving, bound) {
      return moving ? Math.min(bound, anchor.recorded + (clock.now() - anchor.real) * speed) : anchor.recorded;
    },
  };
}

/** A source that plays `records` on `clock`. */
export function createReplaySource(options: ReplaySourceOptions): ReplaySource {
  const speed = checkedSpeed(options.speed ?? 1);
  const { records, clock } = options;
  let next = 0;
  let timer: TimerHandle | undefined;
  let dueAt = 0;
  let remaining: number | null = null;
  let paused = false;
  let disposed = false;
  const span = { start: records[0]?.time ?? 0, end: records.at(-1)?.time ?? 0 };
  const recording = createRecordingClock(clock, speed, span.start);
  // Never past the next record: a late timer does not let the screen's time run ahead of what it shows.
  const position = (): number => recording.now(!(paused || disposed || next === 0), records[next]?.time ?? span.end);

  const emit = (): void => {
    const record = records[next];
    if (record === undefined) return;
    next++;
    recording.set(record.time);
    options.onRecord(record, clock.now());
    if (next === records.length) options.onEnd?.();
  };
  const schedule = (wait: number): void => {
    dueAt = clock.now() + wait;
    timer = clock.setTimeout(() => {
      timer = undefined;
      if (disposed || paused) return;
      emit();
      scheduleNext();
    }, wait);
  };
  const scheduleNext = (): void => {
    const gap = gapBefore(records, next);
    if (gap !== undefined) schedule(gap / speed);
  };
  const cancel = (): void => {
    if (timer !== undefined) clock.clearTimeout(timer);
    timer = undefined;
  };

  return {
    start() {
      if (disposed || next > 0) return;
      emit();
      scheduleNext();
    },
    toggle() {
      if (disposed) return;
      recording.set(position());
      if (!paused) {
        paused = true;
        remaining = timer === undefined ? null : Math.max(0, dueAt - clock.now());
        cancel();
        return;
      }
      paused = false;
      if (remaining !== null) schedule(remaining);
      else if (next > 0) scheduleNext();
      remaining = null;
    },
    paused: () => paused,
    step() {
      if (disposed || next >= records.length) return false;
      if (!paused) {
        paused = true;
        cancel();
      }
      remaining = null;
      emit();
      return true;
    },
    played: () => next,
    total: records.length,
    position,
    span,
    speed,
    dispose() {
      disposed = true;
      cancel();
    },
  };
}
