/**
 * The dashboard's recorder: the bounded stores kept beside the model, all filled through one {@link Recorder.record}.
 * They are kept out of the model so that 5,000 frames a second cost no copying:
 * - the event log (every SSE frame, redacted; `event-log.ts`'s ring buffer), which the log pane shows; a server
 *   feed's frame that repeats a session's own `/load_model` frame (the same bytes, arriving within a few seconds of
 *   it, in either order) is marked as that frame's copy, and the session's frame as echoed, so the pane folds them;
 * - the wire journal (what the debug views and the inspector show), built from the wire tap's records;
 * - what Ctrl-S saves beside the frames so that a replay can rebuild the panes and the debug views: each session's
 *   opening (all kept), every update it reported, what each server's feed or poll reported, and the wire tap's
 *   records.
 * The lists are trimmed in halves, so that appending stays O(1) amortised.
 */

import { createWireJournal, type JournalEntry } from '../client/wire-journal.js';
import type { WireRecord } from '../client/wire-tap.js';
import { createEventLog, redactSecrets, type EventLog } from './event-log.js';
import { isFeedTag } from './log-tags.js';
import type { ReplayRecord } from './replay-log.js';

/** Options of {@link createRecorder}. */
export interface RecorderOptions {
  /** Event-log and journal entries kept; updates are kept 4 times as many, wire records 8 times. */
  readonly capacity: number;
  /** A silence longer than this on a stream, in ms, is a stall in the journal (its default otherwise). */
  readonly stallMs?: number | undefined;
  /** Every configured key, as of now: redacted from frames and journal entries as they are kept. */
  readonly secrets: () => readonly string[];
  /** True once the model has closed: nothing more is kept (the screen is gone, nothing can be saved). */
  readonly closed: () => boolean;
  /** Something the screen shows was kept (a frame, a journal entry). */
  readonly onChange: () => void;
}

/** The stores, and the one way into them. */
export interface Recorder {
  /**
   * Keeps one record: a frame goes to the event log, a `wire` record to the journal (and is kept for Ctrl-S), an `open`
   * or an `update` is kept for Ctrl-S.
   */
  record(record: ReplayRecord): void;
  /** The event log. */
  readonly log: EventLog;
  /** The journal's entries, oldest first (at most `capacity`). */
  journal(): readonly JournalEntry[];
  /** What Ctrl-S saves beside the frames, for a replay: the sessions' openings, their updates, the wire records. */
  sessionRecords(): readonly ReplayRecord[];
}

/** A wire tap's record as the recorder keeps it: under its session (the first word of its stream's name). */
export function wireRecord(record: WireRecord): ReplayRecord {
  return { time: record.at, session: record.stream.split(' ')[0] ?? record.stream, kind: 'wire', record };
}

/** Creates empty stores. */
export function createRecorder(options: RecorderOptions): Recorder {
  const log = createEventLog(options.capacity);
  const opens: ReplayRecord[] = [];
  const updates = createBoundedList<ReplayRecord>(options.capacity * 4);
  const servers = createBoundedList<ReplayRecord>(options.capacity * 4);
  const echoes = createEchoFolder(log);
  const wires = createBoundedList<ReplayRecord>(options.capacity * 8);
  const journal = createBoundedList<JournalEntry>(options.capacity);
  const journalWriter = createWireJournal({
    ...(options.stallMs !== undefined ? { stallMs: options.stallMs } : {}),
    onEntry: (entry) => {
      if (options.closed()) return;
      journal.push(redactEntry(entry, options.secrets()));
      options.onChange();
    },
  });

  return {
    record(record) {
      if (options.closed()) return;
      switch (record.kind) {
        case 'open':
          opens.push(record);
          return;
        case 'update':
          updates.push(record);
          return;
        case 'server':
          servers.push(record);
          return;
        case 'wire':
          journalWriter.feed(record.record);
          wires.push(record);
          return;
        case 'data':
          echoes.append(record.time, record.session, redactSecrets(record.raw, options.secrets()));
          options.onChange();
          return;
        case 'comment':
        case 'other':
          log.append(record.time, record.session, record.kind, redactSecrets(record.raw, options.secrets()));
          options.onChange();
          return;
        default: {
          const never: never = record;
          throw new TypeError(`unknown record ${JSON.stringify(never)}`);
        }
      }
    },
    log,
    journal: () => journal.last(),
    sessionRecords: () => [...opens, ...updates.all(), ...servers.all(), ...wires.all()],
  };
}

/** How long apart a frame and its feed copy may arrive, in ms. */
const ECHO_WINDOW_MS = 5000;

/** Frames waiting for their copy, at most (the oldest go first). */
const ECHO_PENDING = 256;

/**
 * Appends `data` frames to the log, pairing each session frame with the same bytes from a feed (and the other way
 * round) when they arrive within {@link ECHO_WINDOW_MS}: the feed's is marked `copy`, the session's `echoed`. One
 * frame pairs once: two sessions following one load each get their own line, and the feed's copy folds into one.
 */
function createEchoFolder(log: ReturnType<typeof createEventLog>): {
  append(time: number, session: string, raw: string): void;
} {
  const pending = new Map<string, { seq: number; time: number; feed: boolean }[]>();
  let held = 0;
  const take = (raw: string, feed: boolean, time: number): number | undefined => {
    const waiting = pending.get(raw);
    const at = waiting?.findIndex((w) => w.feed !== feed && time - w.time <= ECHO_WINDOW_MS) ?? -1;
    if (waiting === undefined || at === -1) return undefined;
    const [match] = waiting.splice(at, 1);
    held--;
    if (waiting.length === 0) pending.delete(raw);
    return match?.seq;
  };
  const keep = (raw: string, entry: { seq: number; time: number; feed: boolean }): void => {
    pending.set(raw, [...(pending.get(raw) ?? []), entry]);
    held++;
    if (held <= ECHO_PENDING) return;
    // The oldest frame still waiting has waited longest: it will not be paired now.
    const [oldest] = pending.keys();
    if (oldest === undefined) return;
    const list = pending.get(oldest) ?? [];
    list.shift();
    held--;
    if (list.length === 0) pending.delete(oldest);
  };
  return {
    append(time, session, raw) {
      const feed = isFeedTag(session);
      const pair = take(raw, feed, time);
      const seq = log.append(time, session, 'data', raw, pair === undefined ? undefined : feed ? 'copy' : 'echoed');
      if (pair === undefined) keep(raw, { seq, time, feed });
      else log.markEcho(pair, feed ? 'echoed' : 'copy');
    },
  };
}

/** A list that keeps at least its last `capacity` items: trimmed to them each time it reaches twice as many. */
function createBoundedList<T>(capacity: number): {
  push(item: T): void;
  /** Every item held (up to twice `capacity`). */
  all(): readonly T[];
  /** The last `capacity` items. */
  last(): readonly T[];
} {
  let items: T[] = [];
  return {
    push(item) {
      items.push(item);
      if (items.length >= capacity * 2) items = items.slice(-capacity);
    },
    all: () => items,
    last: () => (items.length > capacity ? items.slice(-capacity) : items),
  };
}

/** An entry with every secret replaced in what it shows (its text and its lines). */
function redactEntry(entry: JournalEntry, secrets: readonly string[]): JournalEntry {
  if (secrets.length === 0) return entry;
  return {
    ...entry,
    text: redactSecrets(entry.text, secrets),
    lines: entry.lines.map((l) => ({
      ...l,
      text: redactSecrets(l.text, secrets),
      value: redactSecrets(l.value, secrets),
    })),
  };
}
