/**
 * A session's cell: its header (server, state, load gauges as text bars, stage times, error and hint), the chat
 * transcript with its reply figures, and the input line; where the cell has rows to spare, a throughput chart. Pure.
 *
 * A cell too small for all of it gives rows up in a fixed order (`cellRows`): first an unfocused pane's empty input
 * line, then the chart, the chat rule, the server line, the stage times, the gauges' bars, the hint, the oldest
 * transcript lines, the error, the focused input line; the state line goes last (and a cell with no row for it says
 * its state in its title).
 */

import { failureHint } from '../client/failures.js';
import { formatBytes, formatDuration, percentDone } from '../client/format.js';
import type { JournalEntry } from '../client/wire-journal.js';
import { ELLIPSIS, truncateEnd, truncateMiddle } from '../common/text.js';
import { editedLine } from './edited-line.js';
import type { UiState, Zoom } from './keys.js';
import { lineAt } from './line-edit.js';
import { clipLine, seg, textBar, type Line, type Tone } from './lines.js';
import { gridLayout, type Rect } from './screen-layout.js';
import type { ChartSpec } from './server-view.js';
import { lostWord, pollRoutes, type ServerState } from './server-state.js';
import {
  byteFigures,
  itemFigures,
  replyFigures,
  shortState,
  stallTime,
  stateLine,
  type ServerLost,
} from './session-figures.js';
import { canChat, isLoading, type ProgressState, type SessionState, type TranscriptEntry } from './session-state.js';
import { movesWithin, rateTitle, throughputPeak, throughputSeries, toPercents } from './throughput.js';
import { createWrapMemo, wrap, type WrapParts } from './text-wrap.js';
import type { CellView } from './view-model.js';

/** What the session cells are drawn with, besides the sessions. */
export interface SessionCellsContext {
  readonly ui: UiState;
  /** Milliseconds since the epoch. */
  readonly now: number;
  readonly zoom: Zoom;
  /** Which of the sessions shown has the focus (unless the log has it). */
  readonly focus: number;
  readonly servers: readonly ServerState[];
  /** The wire journal, for each session's lint faults. */
  readonly journal: readonly JournalEntry[];
  /** Takes a cell's throughput chart: its id, the cell's inside and what it shows. */
  readonly onChart: (id: string, inner: Rect, chart: ChartSpec) => void;
}

/** One cell per session, placed as a grid in `area`. */
export function sessionCells(sessions: readonly SessionState[], area: Rect, ctx: SessionCellsContext): CellView[] {
  const { ui } = ctx;
  const rects = gridLayout(Math.max(1, sessions.length), area);
  const faults = faultsBySession(ctx.journal);
  // By service root, looked up once a session (not every server tried against every session, twice a frame).
  const lost = new Map<string, ServerLost | null>();
  for (const server of ctx.servers)
    if (!lost.has(serverRoot(server.root))) lost.set(serverRoot(server.root), serverLost(server));
  return sessions.map((session, i) => {
    const rect = rects[i] ?? area;
    const focused = i === ctx.focus && !ui.logFocused;
    let scrollLimit = 0;
    let stateShown = true;
    const lines = sessionLines(session, {
      width: Math.max(1, rect.width - 2),
      height: Math.max(0, rect.height - 2),
      now: ctx.now,
      focused,
      composing: focused && ui.composing,
      detail: ctx.zoom === 'session',
      input: ui.inputs[session.id] ?? '',
      ...(ui.cursors[session.id] !== undefined ? { cursor: ui.cursors[session.id] } : {}),
      scroll: ui.scrolls[session.id] ?? 0,
      reasoningFolded: ui.reasoningFolded,
      onScrollLimit: (limit) => {
        scrollLimit = limit;
      },
      onStateShown: (shown) => {
        stateShown = shown;
      },
      serverLost: lost.get(serverRoot(session.server)) ?? null,
      onChart: (chart) =>
        ctx.onChart(
          `session:${session.id}`,
          { left: rect.left + 1, top: rect.top + 1, width: rect.width - 2, height: rect.height - 2 },
          chart,
        ),
    });
    // A cell with no row for its state line says the state in its title, before the model.
    const state = stateShown ? '' : ` ${shortState(session)} ·`;
    return {
      id: session.id,
      rect,
      title: cellTitle(`${session.tag}${state} ${session.model}${faultNote(faults.get(session.tag))}`, rect.width),
      focused,
      lines,
      scrollLimit,
    };
  });
}

/** The cells' titles as last cut, by text and cell width: a hundred titles a frame, which seldom change. */
const titles = new Map<string, string>();

/** A cell's title: its text cut in the middle to fit the border, a space either side. */
function cellTitle(text: string, width: number): string {
  const key = `${width}\u0000${text}`;
  let title = titles.get(key);
  if (title === undefined) {
    // Bounded: a long session whose titles keep changing (states, lint faults) must not grow it.
    if (titles.size >= 4096) titles.clear();
    title = ` ${truncateMiddle(text, Math.max(1, width - 4))} `;
    titles.set(key, title);
  }
  return title;
}

function serverLost(server: ServerState | undefined): ServerLost | null {
  if (server === undefined || server.lostSince === null) return null;
  const polling = server.feed.state === 'unsupported';
  const state = lostWord(server);
  if (!polling) return { since: server.lostSince, doing: 'reconnecting', state };
  const doing = server.kind === null ? 'polling' : `polling ${pollRoutes(server.kind)}`;
  return { since: server.lostSince, doing, state };
}

/** A server URL without its trailing slashes and `/v1`: two URLs with the same root name the same server. */
const serverRoot = (url: string): string => url.trim().replace(/\/+$/, '').replace(/\/v1$/, '');

/** True when two server URLs name the same server (trailing slashes and `/v1` aside). */
export function sameServer(a: string, b: string): boolean {
  return serverRoot(a) === serverRoot(b);
}

interface CellContext {
  readonly width: number;
  readonly height: number;
  readonly now: number;
  readonly focused: boolean;
  readonly composing: boolean;
  readonly input: string;
  /** Where the cursor is on the input line, in code points; absent: at the end. */
  readonly cursor?: number;
  /** Zoomed: a finished load keeps its gauges and stage times (else one summary line). */
  readonly detail?: boolean;
  /** Transcript lines scrolled up from the newest (PgUp / PgDn), 0 following. */
  readonly scroll?: number;
  /** Each reply's reasoning is one line saying how much is folded (`t`), not the whole text. */
  readonly reasoningFolded?: boolean;
  /** Given, told how far the transcript can scroll back in this cell (lines). */
  readonly onScrollLimit?: (limit: number) => void;
  /** Given, told whether the state line found a row (else the caller shows the state elsewhere). */
  readonly onStateShown?: (shown: boolean) => void;
  /** Given, the session's server cannot be reached (its feed or poll says so): a ready session shows it. */
  readonly serverLost?: ServerLost | null;
  /**
   * Given, the cell leaves rows for a throughput chart when it has room, and reports where (rows from the top of
   * the cell's inside) and what.
   */
  readonly onChart?: (chart: ChartSpec) => void;
}

/** Rows a one-series chart takes. */
const CHART_ROWS = 3;

/**
 * The chart a session shows, only where it moves: tokens/s while a reply streams or while its last replies are in
 * the chart's window; download bytes/s while its load downloads. A ready session keeps no download chart.
 */
function sessionChart(session: SessionState, now: number, width: number): ChartSpec['series'] | null {
  const length = Math.max(1, width - 2);
  if (session.chatBusy || movesWithin(session.tokenRate, now, length)) {
    const values = throughputSeries(session.tokenRate, now, length);
    const peak = throughputPeak(session.tokenRate, now, length);
    return [
      { title: rateTitle('tokens/s', values, (v) => v.toFixed(v < 10 ? 1 : 0), peak), percents: toPercents(values) },
    ];
  }
  if (!isLoading(session) || !movesWithin(session.downloadRate, now, length)) return null;
  const values = throughputSeries(session.downloadRate, now, length);
  const peak = throughputPeak(session.downloadRate, now, length);
  return [{ title: rateTitle('download', values, (v) => `${formatBytes(v)}/s`, peak), percents: toPercents(values) }];
}

/** A run of a cell's rows, in the order they are shown, and how readily it gives them up. */
interface Block {
  readonly name: 'server' | 'state' | 'error' | 'hint' | 'gauges' | 'stages' | 'rule' | 'transcript' | 'input';
  rows: Line[];
  /** Rows go from the lowest priority first (the state line's is the highest). */
  readonly priority: number;
  /** Fewest rows it shrinks to before it goes altogether (0: it may go). */
  readonly min: number;
  /** Which end loses rows first: the transcript keeps its newest lines. */
  readonly from: 'start' | 'end';
}

/** The lines inside one session's box: header (server, state, gauges, stage times, error), transcript, input. */
export function sessionLines(session: SessionState, ctx: CellContext): Line[] {
  const { width } = ctx;
  if (ctx.height <= 0) {
    ctx.onStateShown?.(false);
    return [];
  }
  const transcript = transcriptLines(session, width, ctx.reasoningFolded === true);
  const blocks = cellBlocks(session, ctx, transcript.length);
  cellRows(blocks, ctx.height);
  const stateShown = blocks.some((b) => b.name === 'state' && b.rows.length > 0);
  ctx.onStateShown?.(stateShown);
  const used = blocks.reduce((n, b) => n + (b.name === 'transcript' ? 0 : b.rows.length), 0);
  let room = ctx.height - used;
  // A chart only where it leaves the transcript three rows of its own (and the chat rule one).
  const chart = ctx.onChart && room >= CHART_ROWS + 4 ? sessionChart(session, ctx.now, width) : null;
  if (chart !== null) room -= CHART_ROWS;
  const out: Line[] = [];
  for (const block of blocks) {
    if (block.name === 'transcript') out.push(...transcriptWindow(transcript, room, width, ctx));
    else if (block.name === 'rule' && chart !== null) {
      ctx.onChart?.({ key: 'rate', row: out.length, series: chart });
      for (let i = 0; i < CHART_ROWS; i++) out.push([]);
      out.push(...block.rows);
    } else out.push(...block.rows);
  }
  return out;
}

/** Every block a cell would show with room enough, in order. */
function cellBlocks(session: SessionState, ctx: CellContext, transcriptLength: number): Block[] {
  const { width } = ctx;
  const block = (name: Block['name'], rows: Line[], priority: number, min = 0): Block => ({
    name,
    rows,
    priority,
    min,
    from: name === 'transcript' ? 'start' : 'end',
  });
  const error = session.error === null ? [] : wrapAtMost(session.error.message, width, 3);
  const hint = session.error === null ? [] : wrapAtMost(failureHint(session.error, 'dashboard'), width, 2);
  // A finished load gives its rows to the chat: one summary line, unless the cell is zoomed (room for the detail).
  const detail = !canChat(session) || session.error !== null || ctx.detail === true;
  const gauges = detail
    ? [...gaugeLines('download', session, width, ctx.now), ...gaugeLines('weights', session, width, ctx.now)]
    : [];
  const stages = detail ? stageLines(session, width, ctx.now) : [];
  const inputLine = inputText(session, ctx);
  // An unfocused pane's input line with nothing typed says nothing: the first row to go.
  const inputPriority = ctx.composing ? 11 : ctx.focused ? 9 : ctx.input !== '' ? 2.5 : 0;
  return [
    block('server', [[seg(truncateMiddle(session.server, width), 'dim')]], 3),
    block('state', [stateLine(session, ctx.now, width, ctx.serverLost ?? null)], 10, 1),
    block(
      'error',
      error.map((text): Line => [seg(text, 'error')]),
      8,
      1,
    ),
    block(
      'hint',
      hint.map((text): Line => [seg(text, 'warn')]),
      6,
    ),
    block('gauges', gauges, 5),
    block('stages', stages, 4),
    block(
      'rule',
      transcriptLength > 0 ? [[seg([...('─ chat ' + '─'.repeat(width))].slice(0, width).join(''), 'dim')]] : [],
      2,
    ),
    // Placeholder rows: the transcript takes whatever is left once the others are placed.
    block('transcript', new Array<Line>(transcriptLength).fill([]), 7),
    block('input', [inputLine], inputPriority, inputPriority > 0 ? 1 : 0),
  ];
}

/**
 * Takes rows from the blocks until they fit in `height`: first each shrinks towards its least (lowest priority
 * first), then whole blocks go, lowest priority first.
 */
function cellRows(blocks: Block[], height: number): void {
  let total = blocks.reduce((n, b) => n + b.rows.length, 0);
  const order = [...blocks].sort((a, b) => a.priority - b.priority);
  for (const block of order) {
    if (total <= height) return;
    // The gauges keep their labels before their bars go: every other row is a bar.
    if (block.name === 'gauges' && block.rows.length > 2) {
      const labels = block.rows.filter((_, i) => i % 2 === 0);
      total -= block.rows.length - labels.length;
      block.rows = labels;
      if (total <= height) return;
    }
    const cut = Math.max(0, Math.min(total - height, block.rows.length - block.min));
    const kept = block.from === 'start' ? block.rows.slice(cut) : block.rows.slice(0, block.rows.length - cut);
    total -= block.rows.length - kept.length;
    block.rows = kept;
  }
  // Still too many (every block at its least): the highest priorities keep their rows.
  for (const block of order) {
    if (total <= height) return;
    total -= block.rows.length;
    block.rows = [];
  }
}

/**
 * The transcript's lines in `room` rows: the newest, or scrolled back (the last row then says how many newer lines
 * sit below; never past the oldest line).
 */
function transcriptWindow(transcript: TranscriptLines, room: number, width: number, ctx: CellContext): Line[] {
  const rows = Math.max(0, room);
  const limit = Math.max(0, transcript.length - rows + 1);
  ctx.onScrollLimit?.(limit);
  const scroll = Math.min(ctx.scroll ?? 0, limit);
  const end = transcript.length - scroll;
  if (scroll > 0 && rows >= 2) {
    return [
      ...transcript.slice(Math.max(0, end - (rows - 1)), end),
      [seg(truncateEnd(`↓ ${scroll} newer · PgDn`, width), 'warn')],
    ];
  }
  return rows === 0 ? [] : transcript.slice(-rows);
}

/** The stage times, on at most two lines, broken between stages (never inside one), an ellipsis when cut. */
function stageLines(session: SessionState, width: number, now: number): Line[] {
  const lines: string[] = [];
  for (const item of stageItems(session, now)) {
    const last = lines.at(-1);
    if (last !== undefined && [...`${last} · ${item}`].length <= width) lines[lines.length - 1] = `${last} · ${item}`;
    else lines.push(item);
  }
  return wrapCut(lines, width, 2).map((text): Line => [seg(text, 'dim')]);
}

/** `text` wrapped to `width`, on at most `max` lines: the last one shown ends in an ellipsis when more was cut. */
function wrapAtMost(text: string, width: number, max: number): string[] {
  return wrapCut(wrap(text, width), width, max);
}

/** At most `max` of `lines`, each at most `width` cells, the last marked with an ellipsis when lines were dropped. */
function wrapCut(lines: readonly string[], width: number, max: number): string[] {
  const shown = lines.slice(0, max).map((line) => truncateEnd(line, width));
  if (lines.length > max && shown.length > 0) {
    const last = shown.length - 1;
    shown[last] = truncateEnd(`${shown[last] ?? ''} ${ELLIPSIS}`, width);
  }
  return shown;
}

function gaugeLines(stage: 'download' | 'weights', session: SessionState, width: number, now: number): Line[] {
  const progress: ProgressState | null = stage === 'download' ? session.download : session.weights;
  if (progress === null) {
    const skipped = canChat(session) && !session.stages.some((s) => s.name === stage);
    const note =
      session.phase === 'cached'
        ? 'already in memory'
        : skipped
          ? stage === 'download'
            ? 'not needed (files already on disk)'
            : 'not reported by this server'
          : 'waiting';
    return [[seg(truncateEnd(`${stage} · ${note}`, width), 'dim')], [seg('', 'dim')]];
  }
  const running = session.stage === stage && session.phase === 'loading';
  // Only bytes: a weights item (one ONNX session) may take long to build with nothing to report in between.
  const stalledFor = running && stage === 'download' ? stallTime(progress, now) : null;
  const parts = stage === 'download' ? byteFigures(progress, running, now) : itemFigures(progress, running, now);
  const stall = stalledFor === null ? '' : ` · stalled · no data for ${stalledFor} s`;
  // A narrow pane drops whole figures from the end (the ETA, then the speed) before it cuts one.
  const fits = (n: number): boolean => [...`${stage} ${parts.slice(0, n).join(' · ')}${stall}`].length <= width;
  let shown = parts.length;
  while (shown > 1 && !fits(shown)) shown -= 1;
  const percent = percentDone(progress);
  const label: Line = clipLine(
    [seg(`${stage} `, 'accent'), seg(parts.slice(0, shown).join(' · ')), ...(stall === '' ? [] : [seg(stall, 'warn')])],
    width,
  );
  const bar: Line =
    percent === null
      ? [seg(truncateEnd('(no total from the server: no percentage)', width), 'dim')]
      : [seg(textBar(percent, width), percent === 100 ? 'ok' : 'accent')];
  return [label, bar];
}

/** `processor 0.1s`, `config 0.0s`, `download 4.2s`…: each stage's time, the running one counting up to `now`. */
function stageItems(session: SessionState, now: number): string[] {
  return session.stages.map((s) => `${s.name} ${formatDuration((s.endedAt ?? now) - s.startedAt)}`);
}

/**
 * The transcripts' wraps, by session and entry: a reply streaming into a hundred panes at 30 frames a second would
 * otherwise be wrapped whole on every frame (the fleet benchmark's hottest function), where only its new words need it.
 */
const transcriptWraps = createWrapMemo(4096);

/** Lines of one tone, in a row: the first `count` of `head`, then `rest` (a wrap's parts, `text-wrap.ts`). */
interface LineRun extends WrapParts {
  readonly tone: Tone;
}

const run = (tone: Tone, texts: readonly string[]): LineRun => ({ tone, head: texts, count: texts.length, rest: [] });
const runLength = (r: LineRun): number => r.count + r.rest.length;

/**
 * A transcript's lines, made into screen lines only where they are read: a cell shows its last few rows of a
 * transcript that may be hundreds of lines long, and a hundred cells are drawn 30 times a second.
 */
interface TranscriptLines {
  readonly length: number;
  /** Lines `from` to `to` (exclusive; negative from the end, as `Array.prototype.slice`). */
  slice(from: number, to?: number): Line[];
}

/** An entry's lines as the width and the reasoning's fold made them: an entry never changes once made. */
const entryLines = new WeakMap<TranscriptEntry, { width: number; folded: boolean; runs: LineRun[]; length: number }>();

function transcriptLines(session: SessionState, width: number, reasoningFolded: boolean): TranscriptLines {
  const runs: LineRun[] = [];
  let length = 0;
  for (const [index, entry] of session.transcript.entries()) {
    let known = entryLines.get(entry);
    if (known === undefined || known.width !== width || known.folded !== reasoningFolded) {
      const made = entryRuns(`${session.id}\u0000${index}`, entry, width, reasoningFolded);
      known = { width, folded: reasoningFolded, runs: made, length: made.reduce((n, r) => n + runLength(r), 0) };
      entryLines.set(entry, known);
    }
    runs.push(...known.runs);
    length += known.length;
  }
  return {
    length,
    slice(from, to = length) {
      const start = Math.max(0, from < 0 ? length + from : Math.min(from, length));
      const end = Math.max(start, to < 0 ? length + to : Math.min(to, length));
      const out: Line[] = [];
      let at = 0;
      for (const r of runs) {
        if (at >= end) break;
        const next = at + runLength(r);
        for (let i = Math.max(start, at); i < Math.min(end, next); i++) {
          const text = i - at < r.count ? r.head[i - at] : r.rest[i - at - r.count];
          out.push([seg(text ?? '', r.tone)]);
        }
        at = next;
      }
      return out;
    },
  };
}

/** One transcript entry's lines: its reasoning, its tool calls, its text, its figures. */
function entryRuns(key: string, entry: TranscriptEntry, width: number, reasoningFolded: boolean): LineRun[] {
  const runs: LineRun[] = [];
  const prefix = entry.role === 'user' ? 'you: ' : entry.role === 'assistant' ? 'model: ' : '! ';
  const tone: Tone = entry.role === 'user' ? 'accent' : entry.role === 'error' ? 'error' : 'normal';
  // Reasoning dimmed and tool calls marked, each apart from the answer and before it, as the model produced them.
  if (entry.reasoning) runs.push(reasoningLines(`${key}r`, entry.reasoning, width, reasoningFolded));
  if (entry.toolCalls) runs.push(run('warn', wrap(`  tool call: ${entry.toolCalls}`, width)));
  const tail = (entry.streaming ? '▍' : '') + (entry.stopped ? ' (stopped)' : '');
  runs.push({ tone, ...transcriptWraps.wrapParts(key, prefix, entry.content, tail, width) });
  const figures = entry.metrics && !entry.streaming ? replyFigures(entry.metrics) : [];
  // The figures wrap between figures, never inside one, so a narrow pane shows all of them.
  runs.push(run('dim', joinParts(figures, width, '  ')));
  return runs;
}

/** A reply's reasoning, dimmed: whole, or folded to one line that says how much is hidden. */
function reasoningLines(key: string, reasoning: string, width: number, folded: boolean): LineRun {
  if (!folded) return { tone: 'dim', ...transcriptWraps.wrapParts(key, '  thinking: ', reasoning, '', width) };
  const size = [...reasoning].length;
  return run('dim', [truncateEnd(`  thinking: ${size.toLocaleString('en-US')} characters folded (t shows)`, width)]);
}

/** `parts` joined with ` · ` into lines of at most `width`, each starting with `indent`, broken between parts. */
function joinParts(parts: readonly string[], width: number, indent: string): string[] {
  const lines: string[] = [];
  for (const part of parts) {
    const last = lines.at(-1);
    if (last !== undefined && [...`${last} · ${part}`].length <= width) lines[lines.length - 1] = `${last} · ${part}`;
    else lines.push(truncateEnd(`${indent}${part}`, width));
  }
  return lines;
}

function inputText(session: SessionState, ctx: CellContext): Line {
  const width = ctx.width;
  if (ctx.composing) {
    return [seg('> ', 'accent'), ...editedLine(lineAt(ctx.input, ctx.cursor), Math.max(1, width - 2))];
  }
  if (ctx.input !== '') return clipLine([seg('> ', 'dim'), seg(ctx.input, 'dim')], width);
  // The long hint where it fits, else a short one, rather than a sentence cut in the middle.
  const [long, short] = canChat(session)
    ? ['Enter to type to chat, Enter sends', 'Enter: type']
    : ['chat opens when the model is ready', 'not ready'];
  const hint = !ctx.focused ? '' : [...`> ${long}`].length <= width ? long : short;
  return [seg(truncateEnd(`> ${hint}`, width), 'dim')];
}

/** Lint faults per session (the first word of a stream's name), over the journal. */
function faultsBySession(journal: readonly JournalEntry[]): Map<string, number> {
  const out = new Map<string, number>();
  // Every frame reads the whole journal: counted without an array per entry.
  for (const entry of journal) {
    let n = 0;
    for (const finding of entry.findings) if (finding.severity === 'fault') n += 1;
    if (n === 0) continue;
    const session = entry.stream.split(' ')[0] ?? entry.stream;
    out.set(session, (out.get(session) ?? 0) + n);
  }
  return out;
}

function faultNote(n: number | undefined): string {
  return n === undefined ? '' : ` · ${n} lint fault${n === 1 ? '' : 's'}`;
}
