/**
 * A session's cell: its header (server, state, load gauges as text bars, stage times, error and hint), the chat
 * transcript with its reply figures, and the input line; where the cell has rows to spare, a throughput chart. Pure.
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
import type { ServerState } from './server-state.js';
import { canChat, type ProgressState, type ReplyMetrics, type SessionState } from './session-state.js';
import { hasRecent, rateTitle, throughputSeries, toPercents } from './throughput.js';
import { wrap } from './text-wrap.js';
import type { CellView } from './view-model.js';
import { clockTime } from './wire-log-view.js';

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
  return sessions.map((session, i) => {
    const rect = rects[i] ?? area;
    const focused = i === ctx.focus && !ui.logFocused;
    let scrollLimit = 0;
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
      onScrollLimit: (limit) => {
        scrollLimit = limit;
      },
      serverLost: serverLost(ctx.servers.find((server) => sameServer(server.root, session.server))),
      onChart: (chart) =>
        ctx.onChart(
          `session:${session.id}`,
          { left: rect.left + 1, top: rect.top + 1, width: rect.width - 2, height: rect.height - 2 },
          chart,
        ),
    });
    return {
      id: session.id,
      rect,
      title: ` ${truncateMiddle(`${session.tag} ${session.model}${faultNote(faults.get(session.tag))}`, Math.max(1, rect.width - 4))} `,
      focused,
      lines,
      scrollLimit,
    };
  });
}

/** A session's server, when it cannot be reached: since when, and what the dashboard does about it. */
interface ServerLost {
  readonly since: number;
  readonly doing: string;
}

function serverLost(server: ServerState | undefined): ServerLost | null {
  if (server === undefined || server.lostSince === null) return null;
  const polling = server.feed.state === 'unsupported';
  return { since: server.lostSince, doing: polling ? 'polling /v1/models' : 'reconnecting' };
}

/** True when two server URLs name the same server (trailing slashes and `/v1` aside). */
export function sameServer(a: string, b: string): boolean {
  const root = (u: string): string => u.trim().replace(/\/+$/, '').replace(/\/v1$/, '');
  return root(a) === root(b);
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
  /** Given, told how far the transcript can scroll back in this cell (lines). */
  readonly onScrollLimit?: (limit: number) => void;
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

/** The chart a session shows: tokens/s while it chats (or chatted in the last minute), download bytes/s before. */
function sessionChart(session: SessionState, now: number, width: number): ChartSpec['series'] | null {
  const length = Math.max(1, width - 2);
  const chatting = session.chatBusy || hasRecent(session.tokenRate, now, 60);
  if (chatting) {
    const values = throughputSeries(session.tokenRate, now, length);
    return [{ title: rateTitle('tokens/s', values, (v) => String(Math.round(v))), percents: toPercents(values) }];
  }
  if (session.downloadRate.buckets.length === 0) return null;
  const values = throughputSeries(session.downloadRate, now, length);
  return [{ title: rateTitle('download', values, (v) => `${formatBytes(v)}/s`), percents: toPercents(values) }];
}

/** The lines inside one session's box: header (server, state, gauges, stage times, error), transcript, input. */
export function sessionLines(session: SessionState, ctx: CellContext): Line[] {
  const { width } = ctx;
  const header: Line[] = [];
  header.push([seg(truncateMiddle(session.server, width), 'dim')]);
  header.push(stateLine(session, ctx.now, width, ctx.serverLost ?? null));
  if (session.error !== null) {
    const hint = failureHint(session.error);
    for (const text of wrapAtMost(session.error.message, width, 3)) header.push([seg(text, 'error')]);
    for (const text of wrapAtMost(hint, width, 2)) header.push([seg(text, 'warn')]);
  }
  // A finished load gives its rows to the chat: one summary line, unless the cell is zoomed (room for the detail).
  if (!canChat(session) || session.error !== null || ctx.detail === true) {
    header.push(...gaugeLines('download', session, width, ctx.now));
    header.push(...gaugeLines('weights', session, width, ctx.now));
    header.push(...stageLines(session, width, ctx.now));
  }

  const inputLine = inputText(session, ctx);
  if (ctx.height <= 0) return [];
  if (header.length + 1 >= ctx.height) return [...header.slice(0, ctx.height - 1), inputLine];
  // A chart only where it leaves the transcript three rows of its own.
  const chart =
    ctx.onChart && ctx.height - header.length - 1 >= CHART_ROWS + 3 ? sessionChart(session, ctx.now, width) : null;
  if (chart !== null && ctx.onChart) {
    ctx.onChart({ key: 'rate', row: header.length, series: chart });
    for (let i = 0; i < CHART_ROWS; i++) header.push([]);
  }
  const room = ctx.height - header.length - 1;
  const transcript = transcriptLines(session, width);
  const rows = room >= 2 && transcript.length > 0 ? room - 1 : room;
  // Scrolled back, the last row says how many newer lines sit below; never past the oldest line.
  const limit = Math.max(0, transcript.length - rows + 1);
  ctx.onScrollLimit?.(limit);
  const scroll = Math.min(ctx.scroll ?? 0, limit);
  const end = transcript.length - scroll;
  const body =
    scroll > 0 && rows >= 2
      ? [
          ...transcript.slice(Math.max(0, end - (rows - 1)), end),
          [seg(truncateEnd(`↓ ${scroll} newer · PgDn`, width), 'warn')],
        ]
      : transcript.slice(-rows);
  const shown =
    room >= 2 && transcript.length > 0
      ? [[seg([...('─ chat ' + '─'.repeat(width))].slice(0, width).join(''), 'dim')], ...body]
      : body;
  return [...header, ...shown, inputLine];
}

function stateLine(session: SessionState, now: number, width: number, lost: ServerLost | null): Line {
  const attempt = session.attempt > 1 ? ` (attempt ${session.attempt})` : '';
  let line: Line;
  switch (session.phase) {
    case 'connecting':
      line = [seg(`◌ connecting${attempt}…`, 'warn')];
      break;
    case 'loading':
      line = [seg('● loading: ', 'accent'), seg(session.stage ?? '…', 'accent')];
      break;
    case 'ready':
      line = [seg('✓ ready', 'ok'), seg(readySummary(session), 'dim')];
      break;
    case 'cached':
      line = [seg('✓ ready', 'ok'), seg(' · cached (already in server memory)', 'dim')];
      break;
    case 'error':
      line = [seg('✗ error', 'error'), seg(' · r retries', 'dim')];
      break;
    case 'reconnecting': {
      const wait = session.retryAt === null ? 0 : session.retryAt - now;
      line = [
        seg(wait > 0 ? `↻ reconnecting in ${Math.ceil(wait / 1000)}s${attempt}` : `↻ reconnecting${attempt}…`, 'warn'),
      ];
      break;
    }
    default: {
      const never: never = session.phase;
      throw new TypeError(`unknown phase ${String(never)}`);
    }
  }
  if (lost !== null && canChat(session)) {
    // The load stream ended at ready: only the server's feed (or poll) can tell that the server went away since.
    line = [seg(`⚠ server unreachable since ${clockTime(lost.since).slice(0, 8)} · ${lost.doing}`, 'warn')];
  }
  // Activity first, so a narrow cell cuts the cached note rather than "replying".
  if (session.chatBusy) line = [...line.slice(0, 1), seg(' · replying…', 'accent'), ...line.slice(1)];
  return clipLine(line, width);
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

/**
 * What a finished load took, after `✓ ready`: ` in 26.8s · 100 MB at 3.9 MB/s` (the whole load, then the download
 * stage's bytes over its own time), or ` in 0.4s · files already on disk` when nothing was downloaded.
 */
function readySummary(session: SessionState): string {
  const first = session.stages[0];
  if (first === undefined) return '';
  const ends = session.stages.map((s) => s.endedAt ?? s.startedAt);
  const parts = [` in ${formatDuration(Math.max(...ends) - first.startedAt)}`];
  const download = session.stages.find((s) => s.name === 'download');
  const bytes = session.download?.total ?? session.download?.current ?? null;
  if (download === undefined || bytes === null) {
    parts.push('files already on disk');
  } else {
    const ms = (download.endedAt ?? download.startedAt) - download.startedAt;
    parts.push(ms > 0 ? `${formatBytes(bytes)} at ${formatBytes((bytes * 1000) / ms)}/s` : formatBytes(bytes));
  }
  return parts.join(' · ');
}

function gaugeLines(stage: 'download' | 'weights', session: SessionState, width: number, now: number): Line[] {
  const progress: ProgressState | null = stage === 'download' ? session.download : session.weights;
  if (progress === null) {
    const skipped =
      (session.phase === 'ready' || session.phase === 'cached') && !session.stages.some((s) => s.name === stage);
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

/**
 * A running download whose byte count has not grown for this long (ms) shows as stalled: its speed and ETA give way to
 * "stalled · no data for N s". Heartbeats keep a stream open without progress, so only growing figures count.
 */
export const STALL_AFTER_MS = 5000;

/** Silence (ms) before the shown speed starts to decay towards zero. */
const DECAY_AFTER_MS = 1000;

/** Time constant (ms) of that decay. */
const DECAY_WINDOW_MS = 2000;

/** Whole seconds without growth, once past {@link STALL_AFTER_MS}; `null` while the stage moves. */
function stallTime(p: ProgressState, now: number): number | null {
  const silence = now - p.advancedAt;
  return silence >= STALL_AFTER_MS ? Math.floor(silence / 1000) : null;
}

/** The speed to show at `now`: the smoothed rate, decaying once no new units arrived for a second. */
function shownRate(p: ProgressState, now: number): number | null {
  if (p.rate === null) return null;
  const silence = now - p.advancedAt;
  return silence <= DECAY_AFTER_MS ? p.rate : p.rate * Math.exp(-(silence - DECAY_AFTER_MS) / DECAY_WINDOW_MS);
}

function byteFigures(p: ProgressState, running: boolean, now: number): string[] {
  const parts = [
    p.total === null ? `${formatBytes(p.current)} so far` : `${formatBytes(p.current)} / ${formatBytes(p.total)}`,
  ];
  const rate = shownRate(p, now);
  if (running && stallTime(p, now) === null && rate !== null && rate > 0) {
    parts.push(`${formatBytes(rate)}/s`);
    if (p.total !== null && p.total > p.current)
      parts.push(`ETA ${formatDuration(((p.total - p.current) / rate) * 1000)}`);
  }
  return parts;
}

function itemFigures(p: ProgressState, running: boolean, now: number): string[] {
  const parts = [p.total === null ? `${p.current} items so far` : `${p.current} / ${p.total} items`];
  const rate = shownRate(p, now);
  if (running && rate !== null && rate > 0 && p.total !== null && p.total > p.current) {
    parts.push(`ETA ${formatDuration(((p.total - p.current) / rate) * 1000)}`);
  }
  return parts;
}

/** `processor 0.1s`, `config 0.0s`, `download 4.2s`…: each stage's time, the running one counting up to `now`. */
function stageItems(session: SessionState, now: number): string[] {
  return session.stages.map((s) => `${s.name} ${formatDuration((s.endedAt ?? now) - s.startedAt)}`);
}

function transcriptLines(session: SessionState, width: number): Line[] {
  const out: Line[] = [];
  for (const entry of session.transcript) {
    const prefix = entry.role === 'user' ? 'you: ' : entry.role === 'assistant' ? 'model: ' : '! ';
    const tone: Tone = entry.role === 'user' ? 'accent' : entry.role === 'error' ? 'error' : 'normal';
    const body = entry.content + (entry.streaming ? '▍' : '') + (entry.stopped ? ' (stopped)' : '');
    for (const text of wrap(prefix + body, width)) out.push([seg(text, tone)]);
    const figures = entry.metrics && !entry.streaming ? replyFigures(entry.metrics) : '';
    if (figures !== '') out.push([seg(truncateEnd(`  ${figures}`, width), 'dim')]);
  }
  return out;
}

/**
 * `ttft 0.3s · 41.2 tok/s · 18 in · 64 out` under a reply. Without the server's `usage` the counts are the streamed
 * pieces, marked `≈` (one piece is about one token), and the prompt count is unknown.
 */
function replyFigures(metrics: ReplyMetrics): string {
  const parts: string[] = [];
  if (metrics.firstAt !== null) {
    const ms = metrics.firstAt - metrics.sentAt;
    parts.push(`ttft ${ms < 1000 ? `${Math.round(ms)}ms` : formatDuration(ms)}`);
  }
  const out = metrics.usage?.completion ?? metrics.pieces;
  const approx = metrics.usage === null ? '≈' : '';
  const span = metrics.endedAt !== null && metrics.firstAt !== null ? metrics.endedAt - metrics.firstAt : 0;
  // The first token opens the span: the rate counts the ones after it.
  if (span > 0 && out > 1) parts.push(`${approx}${(((out - 1) * 1000) / span).toFixed(1)} tok/s`);
  if (metrics.usage !== null) parts.push(`${metrics.usage.prompt} in`);
  parts.push(`${approx}${out} out`);
  return parts.join(' · ');
}

function inputText(session: SessionState, ctx: CellContext): Line {
  const width = ctx.width;
  if (ctx.composing) {
    return [seg('> ', 'accent'), ...editedLine(lineAt(ctx.input, ctx.cursor), Math.max(1, width - 2))];
  }
  if (ctx.input !== '') return clipLine([seg('> ', 'dim'), seg(ctx.input, 'dim')], width);
  // The long hint where it fits, else a short one, rather than a sentence cut in the middle.
  const [long, short] = canChat(session)
    ? ['Enter or i to type to chat, Enter sends', 'Enter/i: type']
    : ['chat opens when the model is ready', 'not ready'];
  const hint = !ctx.focused ? '' : [...`> ${long}`].length <= width ? long : short;
  return [seg(truncateEnd(`> ${hint}`, width), 'dim')];
}

/** Lint faults per session (the first word of a stream's name), over the journal. */
function faultsBySession(journal: readonly JournalEntry[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const entry of journal) {
    const n = entry.findings.filter((f) => f.severity === 'fault').length;
    if (n === 0) continue;
    const session = entry.stream.split(' ')[0] ?? entry.stream;
    out.set(session, (out.get(session) ?? 0) + n);
  }
  return out;
}

function faultNote(n: number | undefined): string {
  return n === undefined ? '' : ` · ${n} lint fault${n === 1 ? '' : 's'}`;
}
