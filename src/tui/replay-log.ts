/**
 * A saved log as a replay: what `w` writes (JSON Lines) parsed back into records, and a source that plays them on
 * the injected Clock with their original gaps (divided by a speed factor), with pause and single steps. No I/O here:
 * the runtime (`dashboard.ts`) turns each record into the action a live session would have produced.
 *
 * A saved log holds three kinds of line, all with `time` (ISO 8601) and `session` (the session's tag):
 * - `{"kind": "data" | "comment" | "other", "raw"}`: a frame of the event log, as before;
 * - `{"kind": "open", "server", "model"}`: the session was opened;
 * - `{"kind": "update", "update"}`: what the session's client reported (a load event, a chat chunk, a failure),
 *   the very value the dashboard's reducer took.
 */

import type { FrameKind } from '../client/frames.js';
import type { SessionUpdate } from '../client/session-update.js';
import type { Clock, TimerHandle } from '../common/clock.js';
import { toJsonl } from './event-log.js';

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
  | { readonly time: number; readonly session: string; readonly kind: FrameKind; readonly raw: string };

const FRAME_KINDS: ReadonlySet<string> = new Set(['data', 'comment', 'other']);
const UPDATE_TYPES: ReadonlySet<string> = new Set([
  'connecting',
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
  if (typeof kind === 'string' && FRAME_KINDS.has(kind)) {
    if (typeof o['raw'] !== 'string') return 'a frame line needs a string "raw"';
    return { time, session, kind: kind as FrameKind, raw: o['raw'] };
  }
  return `unknown kind ${JSON.stringify(kind)} (expected data, comment, other, open or update)`;
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
  /** Stops its timer; nothing more is played. */
  dispose(): void;
}

/** A source that plays `records` on `clock`. */
export function createReplaySource(options: ReplaySourceOptions): ReplaySource {
  const speed = options.speed ?? 1;
  if (!(speed > 0) || !Number.isFinite(speed))
    throw new RangeError(`replay speed must be a positive number, got ${speed}`);
  const { records, clock } = options;
  let next = 0;
  let timer: TimerHandle | undefined;
  let dueAt = 0;
  let remaining: number | null = null;
  let paused = false;
  let disposed = false;

  const emit = (): void => {
    const record = records[next];
    if (record === undefined) return;
    next++;
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
    const record = records[next];
    const previous = records[next - 1];
    if (record === undefined || previous === undefined) return;
    schedule((record.time - previous.time) / speed);
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
    dispose() {
      disposed = true;
      cancel();
    },
  };
}
