/**
 * The wire journal: turns the wire tap's records into the entries an SSE debugger shows, one per frame or per event
 * of a connection's life, each with its timing (the gap since the previous frame of its stream, a stall mark when
 * that gap was long), its lines exactly as sent, the lint's findings on it, and the HTTP answer of its stream.
 * Plain data in, plain data out: no clock, no I/O.
 */

import { createLoadStreamLint, type LintFinding, type LintFrame, type LoadStreamLint } from '../protocol/lint.js';
import type { WireLine } from '../protocol/sse-lines.js';
import type { WireRecord } from './wire-tap.js';

/** The answer that opened a stream, as the inspector shows it. */
export interface StreamAnswer {
  readonly status: number;
  readonly statusText: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly at: number;
}

/** What an entry is: a frame (an event, a comment, fields without data) or a moment of the connection's life. */
export type JournalKind = 'event' | 'comment' | 'fields' | 'connecting' | 'answer' | 'end' | 'error';

/** One entry of the journal. */
export interface JournalEntry {
  /** One more per entry, from 1. */
  readonly seq: number;
  /** When it arrived (its last line, for a frame), on the tap's clock in ms. */
  readonly at: number;
  readonly stream: string;
  readonly kind: JournalKind;
  /** What a person reads: an event's data, a comment's text, `HTTP 200 OK text/event-stream`, …. */
  readonly text: string;
  /** The frame's lines as sent (empty for life entries). */
  readonly lines: readonly WireLine[];
  /** Milliseconds since the previous frame of the same stream (or since its answer), `null` for the first. */
  readonly gapMs: number | null;
  /** The gap exceeded the stall threshold: the stream was silent that long before this entry. */
  readonly stall: boolean;
  /** The lint's findings on this frame (load streams only). */
  readonly findings: readonly LintFinding[];
  /** The stream's HTTP answer, once it came. */
  readonly answer: StreamAnswer | undefined;
  /** The connection attempt this entry belongs to (1, then 2 and more for reconnects). */
  readonly attempt: number;
}

/** Options of {@link createWireJournal}. */
export interface WireJournalOptions {
  /** Called for each new entry, in order. Findings about the end of a stream are added to its `end` entry. */
  readonly onEntry: (entry: JournalEntry) => void;
  /** A gap longer than this, in ms, marks a stall (default 10,000: twice modeldeck's heartbeat interval). */
  readonly stallMs?: number;
  /**
   * The model a stream loads, when it is a `/load_model` stream, so the lint follows it; `undefined` for others.
   * Default: a POST to a URL ending in `/load_model`, with the model unknown (only the stream's own consistency).
   */
  readonly loadModelOf?: (stream: string, url: string) => string | null | undefined;
}

/** A journal; feed it every record of a tap. */
export interface WireJournal {
  feed(record: WireRecord): void;
}

interface StreamState {
  attempt: number;
  answer: StreamAnswer | undefined;
  lastFrameAt: number | undefined;
  lines: WireLine[];
  lint: LoadStreamLint | undefined;
  pending: LintFinding[];
  /** The answer is NDJSON (Ollama's streams): every line is a frame of its own, with no blank line to end it. */
  ndjson: boolean;
}

/** Creates a journal. */
export function createWireJournal(options: WireJournalOptions): WireJournal {
  const loadModelOf =
    options.loadModelOf ?? ((_stream: string, url: string) => (/\/load_model(\?|$)/.test(url) ? null : undefined));
  const streams = new Map<string, StreamState>();
  const emit = createEntryWriter(options.stallMs ?? 10_000, options.onEntry);

  function feed(record: WireRecord): void {
    const { stream } = record;
    const s = streams.get(stream) ?? newStream();
    streams.set(stream, s);
    switch (record.kind) {
      case 'connecting':
        connect(s, record);
        emit(s, stream, record.at, 'connecting', connectingText(record), []);
        return;
      case 'answer': {
        s.answer = { status: record.status, statusText: record.statusText, headers: record.headers, at: record.at };
        const type = record.headers['content-type'] ?? 'no content type';
        if (!type.startsWith('text/event-stream')) s.lint = undefined;
        s.ndjson = /ndjson|jsonl/.test(type);
        // The server's id of the request (X-Request-ID, as modeldeck and upstream send it) ties the stream to its log.
        const id = record.headers['x-request-id'];
        const text = `HTTP ${record.status} ${record.statusText} ${type}`.trim();
        emit(s, stream, record.at, 'answer', id === undefined ? text : `${text} · request ${id}`, []);
        return;
      }
      case 'line':
        s.lines.push(record.line);
        if (record.line.field === 'blank' || s.ndjson) flushFrame(s, stream, record.at);
        return;
      case 'end': {
        flushFrame(s, stream, record.at);
        s.lint?.end();
        const by = record.how === 'closed' ? 'closed by the server' : 'closed by the client';
        emit(s, stream, record.at, 'end', `${by} after ${record.bytes} bytes`, []);
        return;
      }
      case 'error':
        flushFrame(s, stream, record.at);
        emit(s, stream, record.at, 'error', `error: ${record.message}`, []);
        return;
      default: {
        const never: never = record;
        throw new TypeError(`unknown wire record ${JSON.stringify(never)}`);
      }
    }
  }

  /** A new connection attempt: the stream starts over, with a lint when it is a load stream. */
  function connect(s: StreamState, record: Extract<WireRecord, { kind: 'connecting' }>): void {
    s.attempt = record.attempt;
    s.answer = undefined;
    s.lastFrameAt = undefined;
    s.lines = [];
    s.ndjson = false;
    const model = record.method.toUpperCase() === 'POST' ? loadModelOf(record.stream, record.url) : undefined;
    s.lint =
      model === undefined
        ? undefined
        : createLoadStreamLint({ ...(model !== null ? { model } : {}), onFinding: (f) => s.pending.push(f) });
  }

  function flushFrame(s: StreamState, stream: string, at: number): void {
    const lines = s.lines;
    s.lines = [];
    const frame = readFrame(lines, at);
    if (frame === undefined) return;
    for (const lintFrame of frame.lint) s.lint?.feed(lintFrame);
    emit(s, stream, at, frame.kind, frame.text, lines);
  }

  return { feed };
}

/**
 * Numbers each entry and times it: a frame's gap since the previous frame of its stream (or since its answer), and a
 * stall mark when that gap was over `stallMs`. The lint's findings gathered since the last entry go with it.
 */
function createEntryWriter(stallMs: number, onEntry: (entry: JournalEntry) => void) {
  let seq = 0;
  return (state: StreamState, stream: string, at: number, kind: JournalKind, text: string, lines: WireLine[]): void => {
    const isFrame = kind === 'event' || kind === 'comment' || kind === 'fields';
    const since = state.lastFrameAt;
    const gapMs = isFrame && since !== undefined ? at - since : null;
    if (isFrame || kind === 'answer') state.lastFrameAt = at;
    const findings = state.pending;
    state.pending = [];
    seq++;
    onEntry({
      seq,
      at,
      stream,
      kind,
      text,
      lines,
      gapMs,
      stall: gapMs !== null && gapMs > stallMs,
      findings,
      answer: state.answer,
      attempt: state.attempt,
    });
  };
}

function newStream(): StreamState {
  return {
    attempt: 0,
    answer: undefined,
    lastFrameAt: undefined,
    lines: [],
    lint: undefined,
    pending: [],
    ndjson: false,
  };
}

function connectingText(record: Extract<WireRecord, { kind: 'connecting' }>): string {
  const again = record.attempt > 1 ? ` (reconnect attempt ${record.attempt})` : '';
  return `connecting: ${record.method} ${record.url}${again}`;
}

/**
 * What the lines of one frame (a blank line, or the stream's end, closed it) make: an event, comments, or fields
 * without data, with what of it the lint reads; `undefined` for nothing but blank lines.
 */
function readFrame(
  lines: readonly WireLine[],
  at: number,
): { kind: 'event' | 'comment' | 'fields'; text: string; lint: LintFrame[] } | undefined {
  const data = lines.filter((l) => l.field === 'data').map((l) => l.value);
  const comments = lines.filter((l) => l.field === 'comment').map((l) => l.value);
  if (data.length > 0) {
    const text = data.join('\n');
    const event = lines.filter((l) => l.field === 'event').at(-1)?.value;
    // As the SSE parser does: a block cut off before its blank line is not an event.
    const terminated = lines.at(-1)?.field === 'blank';
    return {
      kind: 'event',
      text,
      lint: terminated ? [{ kind: 'event', data: text, ...(event ? { event } : {}), at }] : [],
    };
  }
  if (comments.length > 0) {
    return {
      kind: 'comment',
      text: `: ${comments.join(' / ')}`,
      lint: comments.map((text) => ({ kind: 'comment', text, at })),
    };
  }
  const fields = lines.filter((l) => l.field !== 'blank');
  if (fields.length === 0) return undefined;
  return { kind: 'fields', text: fields.map((l) => l.text).join(' '), lint: [] };
}
