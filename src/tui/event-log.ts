/**
 * The raw event log: a bounded ring buffer of every SSE frame of every session, and pure queries over it (filter,
 * follow/pause, scroll, JSONL export). Bounded so that a long run keeps flat memory; read backwards from the newest
 * entry so a query costs what it shows, not what the buffer holds.
 */

import type { FrameKind } from '../client/frames.js';

/** One logged frame. */
export interface LogEntry {
  /** Increases by one per appended entry, across evictions: a stable position for "paused here". */
  readonly seq: number;
  /** Milliseconds since the epoch. */
  readonly time: number;
  /** The session's tag (`s1`). */
  readonly session: string;
  readonly kind: FrameKind;
  /** The payload as received (already redacted, see {@link redactSecrets}). */
  readonly raw: string;
  /**
   * `copy`: a server feed's frame that repeats a session's own `/load_model` frame (folded into it: the log hides it
   * unless asked); `echoed`: a session's frame its server's feed repeated.
   */
  readonly echo?: 'copy' | 'echoed';
}

/** What the log shows: entries of one session (or all), containing a text (or all). */
export interface LogFilter {
  /** A session tag, or `null` for every session. */
  readonly session: string | null;
  /** Case-insensitive substring of the raw frame, or `''` for any. */
  readonly text: string;
}

/**
 * No filter.
 * @internal Used by the tests; the dashboard starts from its own initial state.
 */
export const NO_FILTER: LogFilter = { session: null, text: '' };

/** A bounded, append-only log. */
export interface EventLog {
  /** Most entries kept. */
  readonly capacity: number;
  /** Entries held now (at most {@link EventLog.capacity}). */
  size(): number;
  /** The seq of the newest entry, 0 when none was ever appended. */
  lastSeq(): number;
  /** Appends an entry, evicting the oldest when full. Returns its seq. */
  append(time: number, session: string, kind: FrameKind, raw: string, echo?: LogEntry['echo']): number;
  /** Marks the entry `seq` (if still held) as a feed's copy or as echoed. */
  markEcho(seq: number, echo: NonNullable<LogEntry['echo']>): void;
  /** The entry `index` places back from the newest (0 = newest), or undefined. */
  fromEnd(index: number): LogEntry | undefined;
  /** Every entry held, oldest first. */
  toArray(): LogEntry[];
}

/** Creates an empty log of at most `capacity` entries (at least 1). */
export function createEventLog(capacity: number): EventLog {
  if (!Number.isSafeInteger(capacity) || capacity < 1) {
    throw new RangeError(`event log capacity must be a positive integer, got ${String(capacity)}`);
  }
  const ring: (LogEntry | undefined)[] = new Array<LogEntry | undefined>(capacity);
  let next = 0;
  let count = 0;
  let seq = 0;
  return {
    capacity,
    size: () => count,
    lastSeq: () => seq,
    append(time, session, kind, raw, echo) {
      seq++;
      ring[next] = { seq, time, session, kind, raw, ...(echo !== undefined ? { echo } : {}) };
      next = (next + 1) % capacity;
      if (count < capacity) count++;
      return seq;
    },
    markEcho(at, echo) {
      // Each append takes the next slot, so entry `at` sits at slot (at - 1) mod capacity while it is held.
      if (at <= seq - count || at > seq) return;
      const slot = (at - 1) % capacity;
      const entry = ring[slot];
      if (entry?.seq === at) ring[slot] = { ...entry, echo };
    },
    fromEnd(index) {
      if (index < 0 || index >= count) return undefined;
      return ring[(next - 1 - index + capacity * 2) % capacity];
    },
    toArray() {
      const out: LogEntry[] = [];
      for (let i = count - 1; i >= 0; i--) {
        const entry = ring[(next - 1 - i + capacity * 2) % capacity];
        if (entry) out.push(entry);
      }
      return out;
    },
  };
}

/** True when `entry` passes `filter`. */
export function matchesFilter(entry: LogEntry, filter: LogFilter): boolean {
  if (filter.session !== null && entry.session !== filter.session) return false;
  return filter.text === '' || entry.raw.toLowerCase().includes(filter.text.toLowerCase());
}

/** Where the log view stands. */
export interface LogWindow {
  readonly filter: LogFilter;
  /** Show only entries up to this seq (the position paused at), or `null` to follow the newest. */
  readonly untilSeq: number | null;
  /** Matching entries skipped from the bottom (scrolled up), 0 or more. */
  readonly scroll: number;
  /** Lines to show. */
  readonly height: number;
  /** Leave out the feeds' copies of the sessions' own frames (folded into them). */
  readonly hideCopies?: boolean;
}

/**
 * The entries a log window shows, oldest first: up to `height` matching entries ending `scroll` matches before the
 * newest one at or below `untilSeq`. Reads backwards and stops as soon as it has enough.
 */
export function selectWindow(log: EventLog, window: LogWindow): LogEntry[] {
  const out: LogEntry[] = [];
  if (window.height <= 0) return out;
  let skip = Math.max(0, window.scroll);
  for (let i = 0; i < log.size() && out.length < window.height; i++) {
    const entry = log.fromEnd(i);
    if (entry === undefined) break;
    if (window.untilSeq !== null && entry.seq > window.untilSeq) continue;
    if (!matchesFilter(entry, window.filter)) continue;
    if (window.hideCopies === true && entry.echo === 'copy') continue;
    if (skip > 0) {
      skip--;
      continue;
    }
    out.push(entry);
  }
  return out.reverse();
}

/** How many matching entries arrived after `seq` (the "new while paused" count), copies left out when hidden. */
export function countAfter(log: EventLog, seq: number, filter: LogFilter, hideCopies = false): number {
  let n = 0;
  for (let i = 0; i < log.size(); i++) {
    const entry = log.fromEnd(i);
    if (entry === undefined || entry.seq <= seq) break;
    if (matchesFilter(entry, filter) && !(hideCopies && entry.echo === 'copy')) n++;
  }
  return n;
}

/**
 * Replaces every occurrence of each non-empty secret with `[redacted]`: as is, and as it reads inside a JSON string
 * (a server echoing a key in a JSON body escapes its quotes and backslashes).
 */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret === '') continue;
    for (const form of new Set([secret, JSON.stringify(secret).slice(1, -1)])) {
      if (out.includes(form)) out = out.split(form).join('[redacted]');
    }
  }
  return out;
}

/**
 * The entries as JSON Lines, one `{"time", "session", "kind", "raw"}` object per line (`time` as ISO 8601), each
 * ending in LF. Secrets are redacted again here, so a key can never reach a saved file even if it slipped into a
 * frame.
 */
export function toJsonl(entries: readonly LogEntry[], secrets: readonly string[] = []): string {
  let out = '';
  for (const entry of entries) {
    const line = JSON.stringify({
      time: new Date(entry.time).toISOString(),
      session: entry.session,
      kind: entry.kind,
      raw: redactSecrets(entry.raw, secrets),
    });
    out += `${redactSecrets(line, secrets)}\n`;
  }
  return out;
}
