/**
 * The wire journal: turns the wire tap's records into the entries an SSE debugger shows, one per frame or per event
 * of a connection's life, each with its timing (the gap since the previous frame of its stream, a stall mark when
 * that gap was long), its lines exactly as sent, the lint's findings on it, and the HTTP answer of its stream.
 * Plain data in, plain data out: no clock, no I/O.
 */

import { createLoadStreamLint, type LintFinding, type LoadStreamLint } from '../protocol/lint.js';
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
}

/** Creates a journal. */
export function createWireJournal(options: WireJournalOptions): WireJournal {
  const stallMs = options.stallMs ?? 10_000;
  const loadModelOf =
    options.loadModelOf ?? ((_stream: string, url: string) => (/\/load_model(\?|$)/.test(url) ? null : undefined));
  const streams = new Map<string, StreamState>();
  let seq = 0;

  function emit(state: StreamState, stream: string, at: number, kind: JournalKind, text: string, lines: WireLine[]) {
    const isFrame = kind === 'event' || kind === 'comment' || kind === 'fields';
    const since = state.lastFrameAt;
    const gapMs = isFrame && since !== undefined ? at - since : null;
    if (isFrame || kind === 'answer') state.lastFrameAt = at;
    const findings = state.pending;
    state.pending = [];
    seq++;
    options.onEntry({
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
  }

  function feed(record: WireRecord): void {
    const { stream } = record;
    let state = streams.get(stream);
    if (state === undefined) {
      state = {
        attempt: 0,
        answer: undefined,
        lastFrameAt: undefined,
        lines: [],
        lint: undefined,
        pending: [],
      };
      streams.set(stream, state);
    }
    const s = state;
    switch (record.kind) {
      case 'connecting': {
        s.attempt = record.attempt;
        s.answer = undefined;
        s.lastFrameAt = undefined;
        s.lines = [];
        const model = record.method.toUpperCase() === 'POST' ? loadModelOf(stream, record.url) : undefined;
        s.lint =
          model === undefined
            ? undefined
            : createLoadStreamLint({
                ...(model !== null ? { model } : {}),
                onFinding: (f) => s.pending.push(f),
              });
        const again = record.attempt > 1 ? ` (reconnect attempt ${record.attempt})` : '';
        emit(s, stream, record.at, 'connecting', `connecting: ${record.method} ${record.url}${again}`, []);
        return;
      }
      case 'answer': {
        s.answer = { status: record.status, statusText: record.statusText, headers: record.headers, at: record.at };
        const type = record.headers['content-type'] ?? 'no content type';
        if (!type.startsWith('text/event-stream')) s.lint = undefined;
        emit(s, stream, record.at, 'answer', `HTTP ${record.status} ${record.statusText} ${type}`.trim(), []);
        return;
      }
      case 'line':
        s.lines.push(record.line);
        if (record.line.field === 'blank') flushFrame(s, stream, record.at);
        return;
      case 'end':
        flushFrame(s, stream, record.at);
        s.lint?.end();
        emit(
          s,
          stream,
          record.at,
          'end',
          `${record.how === 'closed' ? 'closed by the server' : 'closed by the client'} after ${record.bytes} bytes`,
          [],
        );
        return;
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

  function flushFrame(s: StreamState, stream: string, at: number): void {
    const lines = s.lines;
    s.lines = [];
    if (lines.length === 0) return;
    const data = lines.filter((l) => l.field === 'data').map((l) => l.value);
    const comments = lines.filter((l) => l.field === 'comment').map((l) => l.value);
    const event = lines.filter((l) => l.field === 'event').at(-1)?.value;
    const terminated = lines.at(-1)?.field === 'blank';
    if (data.length > 0) {
      // As the SSE parser does: a block cut off before its blank line is not an event.
      if (terminated) {
        s.lint?.feed({ kind: 'event', data: data.join('\n'), ...(event ? { event } : {}), at });
      }
      emit(s, stream, at, 'event', data.join('\n'), lines);
    } else if (comments.length > 0) {
      for (const text of comments) s.lint?.feed({ kind: 'comment', text, at });
      emit(s, stream, at, 'comment', `: ${comments.join(' / ')}`, lines);
    } else if (lines.some((l) => l.field !== 'blank')) {
      emit(
        s,
        stream,
        at,
        'fields',
        lines
          .filter((l) => l.field !== 'blank')
          .map((l) => l.text)
          .join(' '),
        lines,
      );
    }
  }

  return { feed };
}
