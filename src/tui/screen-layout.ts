/** The screen's geometry: the split between sessions, log and status bar, and the grid that places panes. */

import type { Zoom } from './keys.js';

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
export function shownZoom(zoom: Zoom, sessions: number): Zoom {
  return zoom === 'session' && sessions === 0 ? null : zoom;
}

/**
 * The server view shares the top of the screen with the sessions (their input lines stay in sight): the sessions
 * above (at least 8 rows, else 45 %), the servers below; with no session, the servers take it all. When the servers
 * need more rows than that leaves them (`serverRows`, as {@link serverViewRows} counts them), the sessions give up
 * rows down to 6 (a state line each for three sessions at 80 columns), so that a small terminal still shows every
 * server and its models.
 */
export function serverViewLayout(area: Rect, sessions: number, serverRows = 0): { sessions: Rect; servers: Rect } {
  const share = sessions === 0 ? 0 : Math.max(Math.min(area.height, 8), Math.floor(area.height * 0.45));
  const sessionRows =
    sessions === 0 ? 0 : Math.max(Math.min(area.height, 6), Math.min(share, area.height - serverRows));
  return {
    sessions: { ...area, height: sessionRows },
    servers: { ...area, top: area.top + sessionRows, height: area.height - sessionRows },
  };
}

/** The narrowest a server pane is made when the view has width for more than one beside another. */
const SERVER_PANE_WIDTH = 60;

/** Columns of server panes in `width` cells for `live` panes. */
function serverColumns(live: number, width: number): number {
  return Math.max(1, Math.min(live, Math.floor(width / SERVER_PANE_WIDTH)));
}

/** The grid rows' needs (their tallest pane's, border included) of panes needing `needs` (`null`: a line). */
function paneRowNeeds(needs: readonly (number | null)[], columns: number): number[] {
  const rows: number[] = [];
  let pane = 0;
  for (const need of needs) {
    if (need === null) continue;
    const row = Math.floor(pane++ / columns);
    rows[row] = Math.max(rows[row] ?? 0, need + 2);
  }
  return rows;
}

/** The rows the server view needs to show everything its servers need (`needs`, as for {@link serverViewRects}). */
export function serverViewRows(needs: readonly (number | null)[], width: number): number {
  const live = needs.filter((n) => n !== null).length;
  const lines = needs.length - live;
  return lines + paneRowNeeds(needs, serverColumns(live, width)).reduce((a, b) => a + b, 0);
}

/**
 * Places the server view's servers in `area`: a server given `null` (it cannot be reached) gets one row, at the
 * bottom; the others panes in a grid with as many columns as leave each {@link SERVER_PANE_WIDTH} cells, whose rows
 * share the height by need (`needs`: rows inside the border), so a pane with one model gives its spare rows to one
 * with many, and what is left over goes to all (for charts).
 */
export function serverViewRects(needs: readonly (number | null)[], area: Rect): Rect[] {
  const down = needs.filter((n) => n === null).length;
  const live = needs.length - down;
  const lineRows = Math.min(down, area.height);
  const rects: Rect[] = [];
  const columns = serverColumns(live, area.width);
  const paneRows = Math.ceil(live / columns);
  const heights = shareRows(paneRowNeeds(needs, columns), area.height - lineRows);
  const tops = heights.map((_, row) => area.top + heights.slice(0, row).reduce((a, b) => a + b, 0));
  let pane = 0;
  let line = 0;
  for (const need of needs) {
    if (need === null) {
      const top = area.top + area.height - lineRows + line++;
      rects.push({ left: area.left, top: Math.min(top, area.top + area.height - 1), width: area.width, height: 1 });
      continue;
    }
    const row = Math.floor(pane / columns);
    const inRow = row === paneRows - 1 ? live - row * columns : columns;
    const column = pane - row * columns;
    const left = area.left + Math.floor((column * area.width) / inRow);
    const right = area.left + Math.floor(((column + 1) * area.width) / inRow);
    rects.push({ left, top: tops[row] ?? area.top, width: right - left, height: heights[row] ?? 0 });
    pane++;
  }
  return rects;
}

/**
 * Shares `total` rows among rows wanting `needs`: each gets an equal share, those needing less give the rest to the
 * others, and what no one needs is spread over all.
 */
function shareRows(needs: readonly number[], total: number): number[] {
  const out = needs.map(() => 0);
  let left = Math.max(0, total);
  let open = needs.map((_, i) => i);
  while (open.length > 0) {
    const share = Math.floor(left / open.length);
    const met = open.filter((i) => (needs[i] ?? 0) <= share);
    if (met.length === 0) {
      open.forEach((i, k) => (out[i] = share + (k < left - share * open.length ? 1 : 0)));
      return out;
    }
    for (const i of met) {
      out[i] = needs[i] ?? 0;
      left -= out[i] ?? 0;
    }
    open = open.filter((i) => (needs[i] ?? 0) > share);
  }
  needs.forEach(
    (_, i) => (out[i] = (out[i] ?? 0) + Math.floor(left / needs.length) + (i < left % needs.length ? 1 : 0)),
  );
  return out;
}
