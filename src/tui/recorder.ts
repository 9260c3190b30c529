/**
 * The dashboard's recorder: the bounded stores kept beside the model, all filled through one {@link Recorder.record}.
 * They are kept out of the model so that 5,000 frames a second cost no copying:
 * - the event log (every SSE frame, redacted; `event-log.ts`'s ring buffer), which the log pane shows;
 * - the wire journal (what the debug views and the inspector show), built from the wire tap's records;
 * - what `w` saves beside the frames so that a replay can rebuild the panes and the debug views: each session's
 *   opening (all kept), every update it reported, and the wire tap's records.
 * The lists are trimmed in halves, so that appending stays O(1) amortised.
 */

import { createWireJournal, type JournalEntry } from '../client/wire-journal.js';
import type { WireRecord } from '../client/wire-tap.js';
import { createEventLog, redactSecrets, type EventLog } from './event-log.js';
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
   * Keeps one record: a frame goes to the event log, a `wire` record to the journal (and is kept for `w`), an `open`
   * or an `update` is kept for `w`.
   */
  record(record: ReplayRecord): void;
  /** The event log. */
  readonly log: EventLog;
  /** The journal's entries, oldest first (at most `capacity`). */
  journal(): readonly JournalEntry[];
  /** What `w` saves beside the frames, for a replay: the sessions' openings, their updates, the wire records. */
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
        case 'wire':
          journalWriter.feed(record.record);
          wires.push(record);
          return;
        case 'data':
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
    sessionRecords: () => [...opens, ...updates.all(), ...wires.all()],
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
