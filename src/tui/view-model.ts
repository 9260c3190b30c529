/**
 * State to screen, as plain data: the grid of session cells, every line of text each one shows (gauges drawn as
 * text bars, labels trimmed with an ellipsis), the log pane's visible lines, the status bar and the help overlay.
 * Pure: `render.ts` only copies this onto blessed widgets, and tests read it without a terminal.
 */

import { failureHint } from '../client/failures.js';
import { formatBytes, formatDuration, percentDone } from '../client/format.js';
import { ELLIPSIS, truncateEnd, truncateMiddle } from '../common/text.js';
import type { JournalEntry } from '../client/wire-journal.js';
import { buildWireLogView, inspectEntry, shownText, type WireLogView } from './wire-log-view.js';
import { countAfter, selectWindow, type EventLog, type LogEntry, type LogFilter } from './event-log.js';
import { KEY_HELP, KEY_PROMPTS, MODEL_PROMPTS, type Prompt, type UiState, type Zoom } from './keys.js';
import { lineAt, lineWindow, type LineEdit } from './line-edit.js';
import { clipLine, seg, textBar, type Line, type Segment, type Tone } from './lines.js';
import { completionCandidates } from './model-completion.js';
import type { KeyWorld } from './dashboard-model.js';
import type { ModelChoices } from './model-list.js';
import { serverPaneContent, type ChartSpec } from './server-view.js';
import type { ServerState } from './server-state.js';
import { canChat, type ProgressState, type ReplyMetrics, type SessionState } from './session-state.js';
import { hasRecent, rateTitle, throughputSeries, toPercents } from './throughput.js';

export { type Line, type Tone } from './lines.js';

/** A rectangle in terminal cells. */
export interface Rect {
  readonly left: number;
  readonly top: number;
  readonly width: number;
  readonly height: number;
}

/** Terminal size, in cells. */
export interface ScreenSize {
  readonly cols: number;
  readonly rows: number;
}

/** One session's box. */
export interface CellView {
  readonly id: string;
  readonly rect: Rect;
  /** The border label. */
  readonly title: string;
  readonly focused: boolean;
  /** Lines inside the border, at most `rect.height - 2`. */
  readonly lines: readonly Line[];
  /** A session's: how far (lines) its transcript can scroll back in this cell, where PgUp stops. */
  readonly scrollLimit?: number;
}

/** The event log's box. */
export interface LogPaneView {
  readonly rect: Rect;
  readonly title: string;
  readonly focused: boolean;
  readonly lines: readonly Line[];
}

/**
 * A throughput chart (a contrib sparkline): per-second values as whole percentages of the series' peak (the
 * widget's integer arithmetic overflows on raw byte rates), with a title that carries the figures.
 */
export interface ChartView {
  /** Stable across frames, so the renderer keeps the widget. */
  readonly id: string;
  /** Where, on the screen (3 rows per series: a blank, the title, the line). */
  readonly rect: Rect;
  readonly series: readonly { readonly title: string; readonly percents: readonly number[] }[];
}

/** A contrib gauge, only where a pane has the rows for one (its label shows from 6 rows). */
export interface GaugeView {
  readonly id: string;
  readonly rect: Rect;
  /** Whole percent, 0–100 (fed as a percentage: contrib reads values under 1.001 as fractions). */
  readonly percent: number;
  readonly label: string;
}

/** The whole screen. */
export interface DashboardView {
  readonly cells: readonly CellView[];
  /** Throughput charts over the cells (space for them is left blank in the cells' lines). */
  readonly charts: readonly ChartView[];
  readonly gauges: readonly GaugeView[];
  readonly log: LogPaneView;
  /** The bottom line. */
  readonly status: { readonly rect: Rect; readonly line: Line };
  /** The help overlay, when shown. */
  readonly help: { readonly rect: Rect; readonly lines: readonly Line[] } | null;
}

/** A message for the status bar. */
export interface Notice {
  readonly text: string;
  readonly tone: Tone;
}

/** What {@link toViewModel} reads. */
export interface ViewInput {
  readonly sessions: readonly SessionState[];
  readonly ui: UiState;
  readonly log: EventLog;
  readonly size: ScreenSize;
  /** Milliseconds since the epoch. */
  readonly now: number;
  readonly notice: Notice | null;
  /** Offered by the add-session prompt. */
  readonly defaultServer: string;
  /** The distinct servers among the sessions, for the server view. */
  readonly servers?: readonly ServerState[];
  /** The wire journal's entries, oldest first, for the log's debug views and the sessions' fault counts. */
  readonly journal?: readonly JournalEntry[];
  /** In a model prompt: the ids its server lists, and how asking for them went. */
  readonly modelChoices?: ModelChoices | undefined;
}

/** Splits text into lines of at most `width` cells, at spaces where it can, hard-breaking long words. */
export function wrap(text: string, width: number): string[] {
  if (width <= 0) return [];
  const out: string[] = [];
  for (const paragraph of text.split('\n')) {
    let line = '';
    for (const word of paragraph.split(' ')) {
      let rest = [...word];
      const candidate = line === '' ? word : `${line} ${word}`;
      if ([...candidate].length <= width) {
        line = candidate;
        continue;
      }
      if (line !== '') out.push(line);
      while (rest.length > width) {
        out.push(rest.slice(0, width).join(''));
        rest = rest.slice(width);
      }
      line = rest.join('');
    }
    out.push(line);
  }
  return out;
}

/**
 * Places `n` cells in `area` as a grid: the column count that gives the best-shaped cells (terminal cells are about
 * twice as tall as wide, and a session needs width more than height). Rows split the height evenly; each row splits
 * the width among its own cells, so a short last row gets wider cells.
 */
export function gridLayout(n: number, area: Rect): Rect[] {
  if (n <= 0) return [];
  let bestColumns = 1;
  let bestScore = -Infinity;
  for (let columns = 1; columns <= n; columns++) {
    const rows = Math.ceil(n / columns);
    const width = area.width / columns;
    const height = area.height / rows;
    // Below these a session cannot show its gauges; penalise rather than forbid, since something must be shown.
    const penalty = (width < 34 ? 34 - width : 0) * 2 + (height < 11 ? 11 - height : 0) * 3;
    const score = Math.min(width / 3, height) - penalty;
    if (score > bestScore + 1e-9) {
      bestScore = score;
      bestColumns = columns;
    }
  }
  const rows = Math.ceil(n / bestColumns);
  const rects: Rect[] = [];
  for (let i = 0; i < n; i++) {
    const row = Math.floor(i / bestColumns);
    const inRow = row === rows - 1 ? n - row * bestColumns : bestColumns;
    const column = i - row * bestColumns;
    const top = area.top + Math.floor((row * area.height) / rows);
    const bottom = area.top + Math.floor(((row + 1) * area.height) / rows);
    const left = area.left + Math.floor((column * area.width) / inRow);
    const right = area.left + Math.floor(((column + 1) * area.width) / inRow);
    rects.push({ left, top, width: right - left, height: bottom - top });
  }
  return rects;
}

/**
 * Splits the screen: session grid on top, the log pane, and a one-line status bar at the bottom. Zoomed, the session
 * grid (`session`) or the log (`log`) takes every row above the status bar, and the other gets none.
 */
export function screenLayout(size: ScreenSize, zoom: Zoom = null): { sessions: Rect; log: Rect; status: Rect } {
  const cols = Math.max(1, size.cols);
  const rows = Math.max(3, size.rows);
  const status = { left: 0, top: rows - 1, width: cols, height: 1 };
  if (zoom !== null) {
    const all = { left: 0, top: 0, width: cols, height: rows - 1 };
    const none = { left: 0, top: rows - 1, width: cols, height: 0 };
    return zoom === 'session' ? { sessions: all, log: none, status } : { sessions: none, log: all, status };
  }
  // Small screens give the log less, so a session keeps rows for its chat.
  const logHeight = Math.max(3, Math.min(20, Math.floor(rows * (rows < 30 ? 0.25 : 0.35))));
  const sessionsHeight = Math.max(0, rows - 1 - logHeight);
  return {
    sessions: { left: 0, top: 0, width: cols, height: sessionsHeight },
    log: { left: 0, top: sessionsHeight, width: cols, height: logHeight },
    status,
  };
}

/** What is zoomed on screen: a zoomed session is the only one shown, and with no session there is none to zoom. */
function shownZoom(input: ViewInput): Zoom {
  return input.ui.zoom === 'session' && input.sessions.length === 0 ? null : input.ui.zoom;
}

/** The screen for one state. */
export function toViewModel(input: ViewInput): DashboardView {
  const { ui } = input;
  const zoom = shownZoom(input);
  const layout = screenLayout(input.size, zoom);
  const focus = Math.min(Math.max(ui.focus, 0), Math.max(0, input.sessions.length - 1));
  const sessions = zoom === 'session' ? input.sessions.slice(focus, focus + 1) : zoom === 'log' ? [] : input.sessions;
  const shownFocus = zoom === 'session' ? 0 : focus;
  const charts: ChartView[] = [];
  const gauges: GaugeView[] = [];
  const rest = {
    log: logPane(input, layout.log),
    status: { rect: layout.status, line: statusLine(input, layout.status.width, input.sessions[focus]) },
    help: ui.help ? helpOverlay(input.size, ui.helpPage) : null,
  };
  const servers = input.servers ?? [];
  // The server view shares the top of the screen with the sessions (their input lines stay in sight): servers below.
  let sessionArea = layout.sessions;
  const serverCells: CellView[] = [];
  if (zoom === 'log') return { cells: [], charts, gauges, ...rest };
  if (ui.serverView && servers.length > 0 && zoom === null) {
    const area = layout.sessions;
    const sessionRows = sessions.length === 0 ? 0 : Math.max(Math.min(area.height, 8), Math.floor(area.height * 0.45));
    sessionArea = { ...area, height: sessionRows };
    const serverArea = { ...area, top: area.top + sessionRows, height: area.height - sessionRows };
    const serverRects = gridLayout(servers.length, serverArea);
    servers.forEach((server, i) => {
      const rect = serverRects[i] ?? serverArea;
      const inner = {
        left: rect.left + 1,
        top: rect.top + 1,
        width: Math.max(1, rect.width - 2),
        height: Math.max(0, rect.height - 2),
      };
      const own = sessions.filter((x) => sameServer(x.server, server.root));
      const content = serverPaneContent(server, own, { ...inner, now: input.now });
      for (const chart of content.charts) charts.push(chartAt(`server:${server.root}:${chart.key}`, inner, chart));
      if (content.gauge !== null) {
        gauges.push({
          id: `server:${server.root}:gauge`,
          rect: {
            left: inner.left,
            top: inner.top + content.gauge.row,
            width: inner.width,
            height: content.gauge.height,
          },
          percent: content.gauge.percent,
          label: content.gauge.label,
        });
      }
      serverCells.push({
        id: `server:${server.root}`,
        rect,
        title: ` ${truncateMiddle(`server ${server.root}`, Math.max(1, rect.width - 4))} `,
        focused: false,
        lines: content.lines,
      });
    });
    if (sessions.length === 0) return { cells: serverCells, charts, gauges, ...rest };
  }
  const rects = gridLayout(Math.max(1, sessions.length), sessionArea);
  const faults = faultsBySession(input.journal ?? []);
  const cells: CellView[] =
    sessions.length === 0
      ? [
          {
            id: '',
            rect: rects[0] ?? sessionArea,
            title: ' no sessions ',
            focused: !ui.logFocused,
            // While the embedded stack starts, its progress is the news; otherwise say how to begin.
            lines: wrap(
              input.notice?.text ?? 'No sessions. Press a to add one (server URL, then model), ? for help.',
              Math.max(1, (rects[0]?.width ?? 10) - 2),
            ).map((t) => [seg(t, input.notice?.tone ?? 'dim')]),
          },
        ]
      : sessions.map((session, i) => {
          const rect = rects[i] ?? sessionArea;
          const focused = i === shownFocus && !ui.logFocused;
          let scrollLimit = 0;
          const lines = sessionLines(session, {
            width: Math.max(1, rect.width - 2),
            height: Math.max(0, rect.height - 2),
            now: input.now,
            focused,
            composing: focused && ui.composing,
            detail: zoom === 'session',
            input: ui.inputs[session.id] ?? '',
            ...(ui.cursors[session.id] !== undefined ? { cursor: ui.cursors[session.id] } : {}),
            scroll: ui.scrolls[session.id] ?? 0,
            onScrollLimit: (limit) => {
              scrollLimit = limit;
            },
            serverLost: serverLost(servers.find((server) => sameServer(server.root, session.server))),
            onChart: (chart) =>
              charts.push(
                chartAt(
                  `session:${session.id}`,
                  { left: rect.left + 1, top: rect.top + 1, width: rect.width - 2, height: rect.height - 2 },
                  chart,
                ),
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
  return { cells: [...cells, ...serverCells], charts, gauges, ...rest };
}

/**
 * What the key router needs of the screen as it stands: it bounds what the keys may scroll to (a transcript's oldest
 * line, the help's last page) and where `n` goes.
 */
export function keyWorld(input: ViewInput, now: number): KeyWorld {
  const shown = toViewModel(input);
  const scrollLimits = Object.fromEntries(
    shown.cells.flatMap((cell) => (cell.scrollLimit === undefined ? [] : [[cell.id, cell.scrollLimit]])),
  );
  return {
    lastSeq: input.log.lastSeq(),
    logPage: Math.max(1, shown.log.rect.height - 2),
    helpPages: helpPageCount(input.size),
    scrollLimits,
    now,
    lastJournalSeq: input.journal?.at(-1)?.seq ?? 0,
    ...(input.ui.log.view !== 'frames' ? { nextFault: debugLogView(input).nextFault } : {}),
  };
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

function sameServer(a: string, b: string): boolean {
  const root = (u: string): string => u.trim().replace(/\/+$/, '').replace(/\/v1$/, '');
  return root(a) === root(b);
}

function chartAt(id: string, inner: Rect, chart: ChartSpec): ChartView {
  return {
    id,
    rect: { left: inner.left, top: inner.top + chart.row, width: inner.width, height: chart.series.length * 3 },
    series: chart.series,
  };
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

/**
 * A line being typed in a field `width` cells wide: the cursor in sight (inverse on the character under it, a block
 * past the end), an ellipsis where the text is cut. `mask` shows each character as it (an API key).
 */
function editedLine(line: LineEdit, width: number, mask?: string): Segment[] {
  const shown = mask === undefined ? line : { ...line, text: mask.repeat([...line.text].length) };
  const view = lineWindow(shown, width);
  const out: Segment[] = [];
  if (view.cutStart) out.push(seg(ELLIPSIS, 'dim'));
  if (view.before !== '') out.push(seg(view.before));
  out.push(view.at === null ? seg('█', 'accent') : seg(view.at, 'selected'));
  if (view.after !== '') out.push(seg(view.after));
  if (view.cutEnd) out.push(seg(ELLIPSIS, 'dim'));
  return out;
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

/** The log's debug or wire view for the screen's log pane (also what `w` saves and where `n` goes). */
export function debugLogView(input: ViewInput): WireLogView {
  const { ui } = input;
  const rect = screenLayout(input.size, shownZoom(input)).log;
  return buildWireLogView(input.journal ?? [], {
    width: Math.max(1, rect.width - 2),
    height: Math.max(0, rect.height - 2),
    scroll: 0,
    mode: ui.log.view === 'wire' ? 'wire' : 'readable',
    filter: ui.log.filterText,
    session: ui.log.filterSession,
    cursor: ui.logFocused ? ui.log.cursor : null,
    untilSeq: ui.log.paused ? ui.log.pausedAtJournalSeq : null,
  });
}

/** The log pane's lines as shown, each ending in LF: what `w` saves as text. */
export function logPaneText(input: ViewInput): string {
  if (input.ui.log.view !== 'frames') return shownText(debugLogView(input));
  return toViewModel(input)
    .log.lines.map((line) => `${line.map((s) => s.text).join('')}\n`)
    .join('');
}

function debugLogPane(input: ViewInput, rect: Rect): LogPaneView {
  const { ui } = input;
  const width = Math.max(1, rect.width - 2);
  const height = Math.max(0, rect.height - 2);
  const view = debugLogView(input);
  const parts = [ui.log.view === 'wire' ? 'wire' : 'debug'];
  parts.push(ui.log.paused ? 'PAUSED · space follows' : 'following');
  parts.push(view.position);
  if (ui.log.filterSession !== null) parts.push(`session ${ui.log.filterSession}`);
  if (ui.log.filterText !== '') parts.push(`text "${ui.log.filterText}"`);
  parts.push(
    ui.log.inspecting
      ? 'PgUp/PgDn scroll · Esc closes'
      : ui.logFocused
        ? 'Enter inspects · n next fault · v view'
        : 'v view',
  );
  let lines: Line[] = view.lines.map((l) => l.line);
  if (ui.log.inspecting && ui.logFocused) {
    const entry = view.selected;
    lines =
      entry === undefined
        ? [[seg('nothing under the cursor', 'dim')]]
        : inspectEntry(entry).flatMap((section) => [
            [seg(truncateEnd(section.title, width), 'accent')],
            ...section.lines.map((text): Line => [seg(truncateEnd(`  ${text}`, width))]),
          ]);
    const top = Math.min(ui.log.inspectorScroll, Math.max(0, lines.length - height));
    lines = lines.slice(top, top + height);
  }
  return {
    rect,
    title: ` ${truncateEnd(parts.join(' · '), Math.max(1, rect.width - 4))} `,
    focused: ui.logFocused,
    lines,
  };
}

function logPane(input: ViewInput, rect: Rect): LogPaneView {
  const { ui, log } = input;
  if (ui.log.view !== 'frames') return debugLogPane(input, rect);
  const filter: LogFilter = { session: ui.log.filterSession, text: ui.log.filterText };
  const height = Math.max(0, rect.height - 2);
  const width = Math.max(1, rect.width - 2);
  const entries = selectWindow(log, {
    filter,
    untilSeq: ui.log.paused ? ui.log.pausedAtSeq : null,
    scroll: ui.log.scroll,
    height,
  });
  const parts = ['events'];
  if (ui.log.paused) {
    parts.push(`PAUSED · ${countAfter(log, ui.log.pausedAtSeq, filter)} new · space follows`);
  } else {
    parts.push(ui.log.scroll > 0 ? `scrolled up ${ui.log.scroll}` : 'following');
  }
  if (filter.session !== null) parts.push(`session ${filter.session}`);
  if (filter.text !== '') parts.push(`text "${filter.text}"`);
  parts.push(`${log.size()}/${log.capacity} kept`);
  if (ui.logFocused) parts.push('l/Esc back');
  return {
    rect,
    title: ` ${truncateEnd(parts.join(' · '), Math.max(1, rect.width - 4))} `,
    focused: ui.logFocused,
    lines: entries.map((e) => logLine(e, width)),
  };
}

/** `HH:MM:SS.mmm`, local time. */
export function clockTime(time: number): string {
  const d = new Date(time);
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

/** One log entry as a line: time, session tag, kind mark, raw payload (line breaks shown as ⏎). */
export function logLine(entry: LogEntry, width: number): Line {
  const kind = entry.kind === 'data' ? 'data:' : entry.kind === 'comment' ? ':' : '#';
  const tone: Tone = entry.kind === 'data' ? 'normal' : entry.kind === 'comment' ? 'dim' : 'warn';
  const raw = entry.raw.replace(/\r\n|\r|\n/g, '⏎');
  return clipLine(
    [
      seg(`${clockTime(entry.time)} `, 'dim'),
      seg(`${entry.session} `, 'accent'),
      seg(`${kind} `, tone),
      seg(raw, tone),
    ],
    width,
  );
}

/** Cells a prompt's field keeps when the label is longer than the status bar leaves room for. */
const PROMPT_FIELD_MIN = 24;

const PROMPT_LABEL: Readonly<Record<string, string>> = {
  'add-server': 'add session · server URL',
  'add-model': 'add session · model id (org/name[@revision])',
  'add-key': 'add session · API key',
  'edit-server': 'edit session · server URL',
  'edit-model': 'edit session · model id (org/name[@revision])',
  'edit-key': 'edit session · API key',
  filter: 'filter log by text (empty clears)',
  save: 'save log to (.jsonl: whole filtered history, for replay · .txt: the lines shown)',
  options: 'chat settings (left out: server default)',
  close: 'close',
};

function statusLine(input: ViewInput, width: number, focused: SessionState | undefined): Line {
  const { ui } = input;
  if (ui.prompt !== null) {
    const p = ui.prompt;
    if (p.kind === 'close' || p.kind === 'cancel' || p.kind === 'unload' || p.kind === 'quit') {
      return clipLine(confirmation(input, p.kind, p.sessionId), width);
    }
    const editing = input.sessions.find((s) => s.id === p.sessionId);
    const hint =
      p.kind === 'add-server'
        ? ` [Enter: ${input.defaultServer}]`
        : p.kind === 'add-model' || p.kind === 'edit-model'
          ? ` on ${p.server ?? ''}`
          : p.kind === 'add-key'
            ? ` [Enter: ${p.keyDefault ?? 'no key'} · - none]`
            : p.kind === 'edit-key'
              ? ` [Enter: ${p.keyDefault === 'keep' ? 'keep the key' : 'no key'} · - none]`
              : '';
    const who = p.kind.startsWith('edit-') && editing ? ` ${editing.tag}` : '';
    const label = (PROMPT_LABEL[p.kind] ?? p.kind).replace(/^edit session/, `edit session${who}`);
    const head = `${label}${hint}: `;
    const typed = lineAt(p.text, p.cursor);
    // A key is never shown as typed: one • a character, the kept key of `e` as ••• until something is typed, and `-`
    // said in words.
    const masked = KEY_PROMPTS.has(p.kind);
    const kept = masked && p.text === '' && p.kind === 'edit-key' && p.keyDefault === 'keep' ? '•••' : '';
    const shown = masked && p.text === '-' ? lineAt('- (no key)', typed.cursor === 0 ? 0 : undefined) : typed;
    const mask = masked && p.text !== '-' ? '•' : undefined;
    // The field gets what the label leaves, and at least a few cells (the label is cut for them): the cursor stays
    // in sight however long the text; the tail goes where there is room.
    const cells = [...shown.text].length + 1 + kept.length;
    const field = Math.min(cells, Math.max(Math.min(PROMPT_FIELD_MIN, width), width - [...head].length));
    const line: Segment[] = [
      seg(truncateEnd(head, width - field), 'accent'),
      ...(kept !== '' ? [seg(kept, 'dim')] : []),
      ...editedLine(shown, field - kept.length, mask),
    ];
    // The tail (the reason of a refusal, the server's model ids, or the keys) takes the cells left: never the field's.
    const room = width - line.reduce((n, x) => n + [...x.text].length, 0);
    if (p.error) line.push(seg(truncateEnd(`  ${p.error}`, room), 'error'));
    else if (MODEL_PROMPTS.has(p.kind) && input.modelChoices) line.push(...choiceSegments(p, input.modelChoices, room));
    else if (room > 2) line.push(seg(truncateEnd('  Enter ok · Esc cancel', room), 'dim'));
    return clipLine(line, width);
  }
  if (input.notice !== null) return clipLine([seg(input.notice.text, input.notice.tone)], width);
  const zoomed = ui.zoom === 'log' || (ui.zoom === 'session' && focused !== undefined) ? ' zoomed · f returns ·' : '';
  const where = `${ui.logFocused ? 'log' : (focused?.tag ?? 'no session')}${zoomed}`;
  const keys = ui.logFocused
    ? '? help · space follow/pause · ↑↓ scroll · / filter · s session · w save · f zoom · l back · q quit'
    : ui.composing
      ? 'typing: Enter sends · ↑↓ earlier messages · Esc stops typing · Ctrl-X stops a reply · Tab next session'
      : 'commands: ? help · q quit · Tab next · Enter/i type · f zoom · l log · a add · e edit · o options · r retry · x close · c cancel · u unload · v servers';
  return clipLine([seg(`[${where}] `, 'accent'), seg(keys, 'dim')], width);
}

/**
 * After a model prompt: the server's ids that match what is typed (`3 on server: a/b, a/c, …`, the one Tab put in
 * the prompt highlighted), or how asking for them went. Any id is accepted, listed or not.
 */
function choiceSegments(prompt: Prompt, choices: ModelChoices, room: number): Segment[] {
  const { ids, state, message } = choices;
  if (ids.length === 0) {
    if (state === 'asking') return [seg('  asking the server for its models…', 'dim')];
    if (state === 'failed') {
      // Brief: the reason cut so that the line still says typing works.
      const why = truncateEnd(message ?? 'failed', Math.max(8, room - 36));
      return [seg(`  models not listed: ${why} · any id works`, 'warn')];
    }
    return [seg('  the server lists no models · any id works', 'dim')];
  }
  const { matches, current } = completionCandidates(prompt.text, prompt.completing, ids);
  if (matches.length === 0) return [seg(`  none of the ${ids.length} on server match · any id works`, 'dim')];
  const head = `  ${matches.length} on server: `;
  const out: Segment[] = [seg(head, 'dim')];
  let left = room - head.length;
  for (const [i, id] of matches.entries()) {
    const sep = i === 0 ? '' : ', ';
    const more = i < matches.length - 1 ? `, ${ELLIPSIS}`.length : 0;
    if (i > 0 && sep.length + id.length + more > left) {
      out.push(seg(`, ${ELLIPSIS}`, 'dim'));
      break;
    }
    if (sep !== '') out.push(seg(sep, 'dim'));
    out.push(seg(id, i === current ? 'accent' : 'normal'));
    left -= sep.length + id.length;
  }
  return out;
}

/** The question a confirmation asks, and what each answer does. */
function confirmation(input: ViewInput, kind: 'close' | 'cancel' | 'unload' | 'quit', sessionId?: string): Line {
  const target = input.sessions.find((s) => s.id === sessionId);
  const name = target ? `${target.tag} ${target.resolvedModel ?? target.model}` : 'the session';
  switch (kind) {
    case 'close':
      return [seg(`close ${name}? `, 'warn'), seg('y closes · any other key keeps it', 'dim')];
    case 'cancel':
      return [
        seg(`cancel the load of ${name} on its server, for every client following it? `, 'warn'),
        seg('y cancels · any other key lets it run', 'dim'),
      ];
    case 'unload':
      return [
        seg(`unload ${name} from its server's memory, for every client? `, 'warn'),
        seg('y unloads · any other key keeps it', 'dim'),
      ];
    case 'quit': {
      const loads = input.sessions.filter((s) => ['connecting', 'loading', 'reconnecting'].includes(s.phase)).length;
      const transcripts = input.sessions.filter((s) => s.transcript.length > 0).length;
      const what = [
        loads > 0 ? `${loads} load${loads === 1 ? '' : 's'} running` : '',
        transcripts > 0 ? `${transcripts} transcript${transcripts === 1 ? '' : 's'} would be lost` : '',
      ].filter((x) => x !== '');
      return [seg(`quit? ${what.join(', ')} · `, 'warn'), seg('y quits · any other key stays', 'dim')];
    }
    default: {
      const never: never = kind;
      throw new TypeError(`unknown confirmation ${String(never)}`);
    }
  }
}

/** The help box's width at this screen size: at most 120 columns, and 4 short of a wide screen. */
function helpWidth(size: ScreenSize): number {
  return Math.min(size.cols, Math.max(40, Math.min(120, size.cols - 4)));
}

/**
 * The help's pages at this screen size: every key with its description wrapped (never cut), as many a page as the
 * screen holds between a title and a footer, a key's lines never split across pages.
 */
function helpPages(size: ScreenSize): Line[][] {
  const keyWidth = Math.max(...KEY_HELP.map(([k]) => k.length));
  const inner = helpWidth(size) - 4;
  // A narrow box gives the keys their own line over the description rather than a column of their own.
  const column = inner - keyWidth - 2 >= 24;
  const room = Math.max(1, size.rows - 2 - 3);
  const pages: Line[][] = [[]];
  for (const [keys, what] of KEY_HELP) {
    const entry: Line[] = column
      ? wrap(what, inner - keyWidth - 2).map((text, i) => [
          seg(`${(i === 0 ? keys : '').padEnd(keyWidth)}  `, 'accent'),
          seg(text),
        ])
      : [[seg(keys, 'accent')], ...wrap(what, inner - 2).map((text): Line => [seg(`  ${text}`)])];
    const page = pages.at(-1) ?? [];
    if (page.length > 0 && page.length + entry.length > room) pages.push([...entry]);
    else page.push(...entry);
  }
  return pages;
}

/** How many pages the help has at this screen size (what PgDn in the help may turn to). */
export function helpPageCount(size: ScreenSize): number {
  return helpPages(size).length;
}

function helpOverlay(size: ScreenSize, pageIndex: number): { rect: Rect; lines: Line[] } {
  const width = helpWidth(size);
  const inner = width - 4;
  const pages = helpPages(size);
  const at = Math.min(Math.max(0, pageIndex), pages.length - 1);
  const paged = pages.length > 1;
  const lines: Line[] = [
    [seg(paged ? `modeldeck keys · page ${at + 1} of ${pages.length}` : 'modeldeck keys', 'accent')],
    ...(pages[at] ?? []),
    [],
    [
      seg(
        !paged
          ? 'Any key closes this help.'
          : at < pages.length - 1
            ? 'PgDn/space next page · PgUp back · other keys close'
            : 'PgUp back · other keys close',
        'dim',
      ),
    ],
  ];
  const height = Math.min(size.rows, lines.length + 2);
  return {
    rect: {
      left: Math.max(0, Math.floor((size.cols - width) / 2)),
      top: Math.max(0, Math.floor((size.rows - height) / 2)),
      width,
      height,
    },
    lines: lines.map((l) => clipLine(l, inner)),
  };
}
