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
 * above (at least 8 rows, else 45 %), the servers below; with no session, the servers take it all.
 */
export function serverViewLayout(area: Rect, sessions: number): { sessions: Rect; servers: Rect } {
  const sessionRows = sessions === 0 ? 0 : Math.max(Math.min(area.height, 8), Math.floor(area.height * 0.45));
  return {
    sessions: { ...area, height: sessionRows },
    servers: { ...area, top: area.top + sessionRows, height: area.height - sessionRows },
  };
}
