/**
 * The event log as an SSE debugger, as plain data: which lines the log pane shows for the wire journal's entries
 * (time, session, stream, gap, payload; stall marks where silences happened; a wire view with line endings visible),
 * a scroll position bounded by the history, filter matches highlighted in what is visible, the exact text that Ctrl-S
 * saves, and the inspector's sections for one entry. No blessed here: lines are toned segments, as the rest of the
 * view model's.
 *
 * Every line keeps its head (time, tag, stream, gap, mark) and cuts or scrolls sideways only its payload; a wire line
 * keeps its ending (`\r\n`) in sight however it is cut. A server feed's copy of a session's own frame (the same bytes
 * within a few seconds) is left out unless asked for, as in the frames view.
 */

import type { JournalEntry } from '../client/wire-journal.js';
import { showWireLine } from '../protocol/sse-lines.js';
import { ELLIPSIS } from '../common/text.js';
import type { Line, Segment, Tone } from './lines.js';
import { isFeedTag, type TagColumn } from './log-tags.js';

/** How the log pane shows entries. */
export interface WireLogViewOptions {
  /** Columns available for one line. */
  readonly width: number;
  /** Rows available. */
  readonly height: number;
  /** Lines scrolled up from the newest (0 follows the bottom); clamped to the history. */
  readonly scroll: number;
  /** `readable`: one line per entry; `wire`: every line of every frame as sent, endings visible. */
  readonly mode: 'readable' | 'wire';
  /** Case-insensitive text: only lines whose visible text contains it are shown, with the matches highlighted. */
  readonly filter: string;
  /**
   * The cursor, in kept lines up from the newest (0 = the newest line), or `null` for none: its line is shown
   * inverted, and the window scrolls (beyond `scroll` if need be) so that it is visible.
   */
  readonly cursor: number | null;
  /** Show only the streams of this session (`s1`), or all for `null`. */
  readonly session?: string | null;
  /** Show only entries up to this seq (paused), or `null` to follow the newest. */
  readonly untilSeq?: number | null;
  /** The session a stream belongs to; by default the stream name's first word (`s1 load` → `s1`). */
  readonly sessionOf?: (stream: string) => string;
  /** How tags are shown (one width); by default as they are, padded to 3. */
  readonly tags?: TagColumn;
  /** Columns the payloads are scrolled sideways (clamped to the longest payload kept). */
  readonly hscroll?: number;
  /** Leave out the feeds' copies of the sessions' own frames. */
  readonly hideCopies?: boolean;
}

/** One line of the pane. */
export interface WireLogLine {
  /** The entry the line belongs to; `null` for none. */
  readonly seq: number | null;
  /** The line as a person reads it, cut to the width: what Ctrl-S saves. */
  readonly plain: string;
  /** The same as toned segments: filter matches, the cursor, faults and stalls. */
  readonly line: Line;
}

/** What the pane shows. */
export interface WireLogView {
  readonly lines: readonly WireLogLine[];
  /** The scroll actually used (the requested one, clamped). */
  readonly scroll: number;
  /** The sideways scroll actually used. */
  readonly hscroll: number;
  /** `lines 12–40 of 310` (of the lines the filter keeps), or `empty`. */
  readonly position: string;
  /** Lines the filter keeps, over the whole history. */
  readonly total: number;
  /** The entry under the cursor (for a stall mark, the frame it belongs to). */
  readonly selected: JournalEntry | undefined;
  /**
   * Where "next fault" goes: the cursor position (lines up from the newest) of the first line below the cursor whose
   * entry carries a fault, wrapping around to the oldest; `null` when no kept line does.
   */
  readonly nextFault: number | null;
}

/** `HH:MM:SS.mmm`, local time (as the rest of the dashboard), of a time in ms since the epoch. */
export function clockTime(ms: number): string {
  const d = new Date(ms);
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

/** `+105ms`, `+2.31s`, or `—` for no gap. */
export function formatGap(ms: number | null): string {
  if (ms === null) return '—';
  return ms < 1000 ? `+${Math.round(ms)}ms` : `+${(ms / 1000).toFixed(2)}s`;
}

/** The mark of an entry: `!` a fault, `·` a note, ` ` neither. */
function markOf(entry: JournalEntry): string {
  if (entry.findings.some((f) => f.severity === 'fault')) return '!';
  if (entry.findings.length > 0) return '·';
  return ' ';
}

/** One line of an entry in parts: its head (kept whole), its payload (cut or scrolled), and a tail kept in sight. */
export interface EntryLine {
  readonly head: string;
  readonly body: string;
  /** A wire line's ending (`\r\n`), shown however the body is cut. */
  readonly tail: string;
  readonly kind: 'stall' | 'entry' | 'wire';
}

/** The readable and wire lines of one entry, before cutting, filtering and scrolling. */
export function entryLines(
  entry: JournalEntry,
  mode: 'readable' | 'wire',
  sessionOf: (stream: string) => string,
  tags?: TagColumn,
): EntryLine[] {
  const out: EntryLine[] = [];
  if (entry.stall && entry.gapMs !== null) {
    const text = `── stall: ${(entry.gapMs / 1000).toFixed(1)} s without a frame on ${entry.stream} ──`;
    out.push({ head: '', body: text, tail: '', kind: 'stall' });
  }
  const session = sessionOf(entry.stream);
  const streamName = entry.stream.startsWith(`${session} `) ? entry.stream.slice(session.length + 1) : entry.stream;
  const tag = tags ? tags.show(session) : session.padEnd(3);
  const head = `${clockTime(entry.at)} ${tag} ${streamName.padEnd(5)} ${formatGap(entry.gapMs).padStart(7)} ${markOf(entry)} `;
  if (mode === 'wire' && entry.lines.length > 0) {
    for (const line of entry.lines) {
      const tail = showWireLine({ text: '', ending: line.ending });
      const body = showWireLine(line).slice(0, -tail.length || undefined);
      out.push({ head, body, tail, kind: 'wire' });
    }
  } else {
    out.push({ head, body: entry.text.replace(/[\r\n]+/g, '⏎'), tail: '', kind: 'entry' });
  }
  return out;
}

/**
 * A line in `width` columns: the head whole, the body from column `hscroll` (`…` marking what is left out on either
 * side), the tail whole; a head too wide is cut like any text.
 */
export function fitLine(line: Pick<EntryLine, 'head' | 'body' | 'tail'>, width: number, hscroll = 0): string {
  const room = width - [...line.head].length - [...line.tail].length;
  if (room < 2) return cut(`${line.head}${line.body}${line.tail}`, width);
  const chars = [...line.body];
  const from = Math.min(Math.max(0, hscroll), Math.max(0, chars.length - 1));
  let body = from > 0 ? `${ELLIPSIS}${chars.slice(from + 1).join('')}` : line.body;
  if ([...body].length > room) body = `${[...body].slice(0, room - 1).join('')}${ELLIPSIS}`;
  return `${line.head}${body}${line.tail}`;
}

/** How long apart a frame and its feed copy may be, in ms (as the recorder folds them). */
const COPY_WINDOW_MS = 5000;

/**
 * The seqs of the feed entries that repeat a session's own frame (the same text, within {@link COPY_WINDOW_MS}, in
 * either order; each frame pairs once).
 */
export function feedCopies(entries: readonly JournalEntry[], sessionOf: (stream: string) => string): Set<number> {
  const copies = new Set<number>();
  const waiting = new Map<string, { seq: number; at: number; feed: boolean }[]>();
  for (const entry of entries) {
    if (entry.kind !== 'event') continue;
    const feed = isFeedTag(sessionOf(entry.stream));
    const list = waiting.get(entry.text) ?? [];
    const at = list.findIndex((w) => w.feed !== feed && entry.at - w.at <= COPY_WINDOW_MS);
    if (at === -1) {
      waiting.set(entry.text, [
        ...list.filter((w) => entry.at - w.at <= COPY_WINDOW_MS),
        { seq: entry.seq, at: entry.at, feed },
      ]);
      continue;
    }
    const [match] = list.splice(at, 1);
    copies.add(feed ? entry.seq : (match?.seq ?? entry.seq));
  }
  return copies;
}

/**
 * The pane's lines for `entries` (oldest first): every entry's lines, cut to the width, kept when their visible text
 * contains the filter, then the `height` lines ending `scroll` lines above the newest, with the scroll clamped so
 * that the pane never scrolls past the oldest line into blank space.
 */
export function buildWireLogView(entries: readonly JournalEntry[], options: WireLogViewOptions): WireLogView {
  const sessionOf = options.sessionOf ?? ((stream: string) => stream.split(' ')[0] ?? stream);
  const needle = options.filter.toLowerCase();
  const copies = options.hideCopies === true ? feedCopies(entries, sessionOf) : new Set<number>();
  const lines: { line: EntryLine; entry: JournalEntry }[] = [];
  for (const entry of entries) {
    if (options.untilSeq !== undefined && options.untilSeq !== null && entry.seq > options.untilSeq) break;
    if (options.session !== undefined && options.session !== null && sessionOf(entry.stream) !== options.session) {
      continue;
    }
    if (copies.has(entry.seq)) continue;
    for (const line of entryLines(entry, options.mode, sessionOf, options.tags)) lines.push({ line, entry });
  }
  // Sideways no further than the longest payload shows something.
  const longest = lines.reduce((n, { line }) => Math.max(n, [...line.body].length), 0);
  const hscroll = Math.min(Math.max(0, options.hscroll ?? 0), Math.max(0, longest - 1));
  const kept: { seq: number; plain: string; kind: 'stall' | 'entry' | 'wire'; entry: JournalEntry }[] = [];
  for (const { line, entry } of lines) {
    const plain = fitLine(line, options.width, line.kind === 'stall' ? 0 : hscroll);
    if (needle !== '' && !plain.toLowerCase().includes(needle)) continue;
    kept.push({ seq: entry.seq, plain, kind: line.kind, entry });
  }
  const height = Math.max(0, options.height);
  const maxScroll = Math.max(0, kept.length - height);
  const cursor = options.cursor === null ? null : Math.min(Math.max(0, options.cursor), Math.max(0, kept.length - 1));
  let wanted = Math.max(0, Math.floor(options.scroll));
  if (cursor !== null && height > 0) wanted = Math.min(Math.max(wanted, cursor - height + 1), cursor);
  const scroll = Math.min(wanted, maxScroll);
  const end = kept.length - scroll;
  const start = Math.max(0, end - height);
  const shown = kept.slice(start, end);
  const cursorIndex = cursor === null ? -1 : kept.length - 1 - cursor;
  const shownLines = shown.map((line, i) => {
    const selected = start + i === cursorIndex;
    const tone: Tone = selected
      ? 'selected'
      : line.kind === 'stall'
        ? 'warn'
        : markOf(line.entry) === '!'
          ? 'error'
          : toneOf(line.entry);
    return {
      seq: line.kind === 'stall' ? null : line.seq,
      plain: line.plain,
      line: highlight(line.plain, needle, tone),
    };
  });
  const position = kept.length === 0 ? 'empty' : `lines ${start + 1}–${end} of ${kept.length}`;
  const under = kept[cursorIndex];
  const selectedEntry = under === undefined ? undefined : under.entry;
  const isFault = (i: number): boolean => {
    const line = kept[i];
    return line !== undefined && line.kind !== 'stall' && markOf(line.entry) === '!';
  };
  let nextFault: number | null = null;
  // A fault entry may span several wire lines: skip the rest of the one under the cursor.
  let from = cursorIndex + 1;
  while (from < kept.length && kept[from]?.seq === under?.seq && under !== undefined) from++;
  for (let n = 0; n < kept.length && nextFault === null; n++) {
    const i = (from + n) % kept.length;
    if (isFault(i) && kept[i]?.seq !== under?.seq) nextFault = kept.length - 1 - i;
  }
  if (nextFault === null && under !== undefined && isFault(cursorIndex)) nextFault = cursor;
  return { lines: shownLines, scroll, hscroll, position, total: kept.length, selected: selectedEntry, nextFault };
}

/** Exactly what the pane shows, as text: what Ctrl-S saves. */
export function shownText(view: WireLogView): string {
  return view.lines.map((l) => `${l.plain}\n`).join('');
}

function cut(text: string, width: number): string {
  if (width <= 0) return '';
  return text.length > width ? `${text.slice(0, Math.max(0, width - 1))}…` : text;
}

function toneOf(entry: JournalEntry): Tone {
  switch (entry.kind) {
    case 'event':
      return 'normal';
    case 'error':
      return 'warn';
    default:
      return 'dim';
  }
}

function highlight(plain: string, needle: string, tone: Tone): Line {
  if (needle === '') return [{ text: plain, tone }];
  const lower = plain.toLowerCase();
  const out: Segment[] = [];
  let from = 0;
  for (let at = lower.indexOf(needle); at !== -1; at = lower.indexOf(needle, from)) {
    if (at > from) out.push({ text: plain.slice(from, at), tone });
    out.push({ text: plain.slice(at, at + needle.length), tone: 'match' });
    from = at + needle.length;
  }
  if (from < plain.length) out.push({ text: plain.slice(from), tone });
  return out;
}

/** One section of the inspector. */
export interface InspectorSection {
  readonly title: string;
  readonly lines: readonly string[];
}

/**
 * The inspector's sections for one entry, short ones first: its heading, lint findings, timing, the stream's HTTP
 * answer, the wire bytes, the payload (pretty JSON).
 */
export function inspectEntry(entry: JournalEntry): InspectorSection[] {
  const sections: InspectorSection[] = [];
  sections.push({ title: `${entry.kind} on ${entry.stream} (#${entry.seq}, connection ${entry.attempt})`, lines: [] });
  let payload = entry.text;
  try {
    if (entry.kind === 'event') payload = JSON.stringify(JSON.parse(entry.text), null, 2);
  } catch {
    payload = `${entry.text}\n(not JSON)`;
  }
  sections.push({ title: 'Payload', lines: payload.split('\n') });
  if (entry.lines.length > 0) {
    const bytes = entry.lines.reduce((n, l) => n + Buffer.byteLength(l.text + l.ending), 0);
    sections.push({ title: `Wire (${bytes} bytes)`, lines: entry.lines.map((l) => showWireLine(l)) });
  }
  sections.push({
    title: 'Timing',
    lines: [
      `arrived ${clockTime(entry.at)}`,
      `since the previous frame of this stream: ${formatGap(entry.gapMs)}${entry.stall ? ' (a stall)' : ''}`,
    ],
  });
  sections.push({
    title: 'Lint',
    lines:
      entry.findings.length === 0
        ? ['no findings']
        : entry.findings.map((f) => `${f.severity} ${f.rule}: ${f.message}`),
  });
  const answer = entry.answer;
  sections.push({
    title: 'HTTP answer',
    lines:
      answer === undefined
        ? ['none yet']
        : [`${answer.status} ${answer.statusText}`, ...Object.entries(answer.headers).map(([k, v]) => `${k}: ${v}`)],
  });
  // Short sections first, so that a small pane shows the findings, timing and answer before a long payload.
  const order = ['Lint', 'Timing', 'HTTP answer', 'Wire', 'Payload'];
  const rank = (title: string): number => {
    const i = order.findIndex((o) => title.startsWith(o));
    return i === -1 ? -1 : i;
  };
  return [...sections].sort((a, b) => rank(a.title) - rank(b.title));
}
