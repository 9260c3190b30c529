/**
 * The only file that touches blessed and blessed-contrib: it owns the screen, creates the widgets (a box per pane,
 * the log pane, the status bar, the help overlay, contrib sparklines and gauges), copies a {@link DashboardView} onto
 * them, and hands key presses and resizes to the caller. Everything it draws was decided in `view-model.ts`.
 *
 * blessed-contrib where it adds what text cannot: sparklines of throughput over time (download bytes/s, tokens/s)
 * in session cells and server panes, and a contrib gauge in a server pane with six rows to spare. The session
 * gauges stay text bars: they fit a one-row budget where contrib's gauge hides its label below six rows. Contrib is
 * imported one widget file at a time (its index loads ~180 modules); each widget is created detached, appended, then
 * fed (a gauge fed before it is attached throws), fed percentages (a gauge reads values under 1.001 as fractions; a
 * sparkline's integer arithmetic overflows on raw byte rates), and re-created when its rectangle changes (canvas
 * widgets size their canvas on attach only).
 */

import blessed from 'blessed';
import contribGauge from 'blessed-contrib/lib/widget/gauge.js';
import contribSparkline from 'blessed-contrib/lib/widget/sparkline.js';
import type { KeyPress } from './keys.js';
import type { Rect, ScreenSize } from './screen-layout.js';
import type { CellView, ChartView, DashboardView, GaugeView, Line, LogPaneView, Tone } from './view-model.js';

/** Where the screen reads and writes; defaults to the process's own terminal. */
export interface RendererOptions {
  readonly input?: NodeJS.ReadableStream;
  readonly output?: NodeJS.WritableStream;
  /** terminfo name; defaults to `$TERM`, else `xterm-256color`. */
  readonly terminal?: string;
}

/** The screen, as the dashboard sees it. */
export interface Renderer {
  /** The terminal's size now. */
  size(): ScreenSize;
  /** Applies a view and draws the screen. */
  draw(view: DashboardView): void;
  /** Registers the one key handler. */
  onKey(handler: (key: KeyPress) => void): void;
  /** Registers the resize handler. */
  onResize(handler: () => void): void;
  /** The text on screen, one line per row (what a person reads; colours dropped). */
  text(): string;
  /** Leaves the alternate screen, shows the cursor, restores the terminal mode. Idempotent. */
  destroy(): void;
}

const TONE_TAG: Readonly<Record<Tone, string | null>> = {
  normal: null,
  dim: 'gray-fg',
  ok: 'green-fg',
  warn: 'yellow-fg',
  error: 'red-fg',
  accent: 'cyan-fg',
  match: 'underline',
  selected: 'inverse',
};

function tagged(line: Line): string {
  let out = '';
  for (const segment of line) {
    // A line of nothing but tags (an empty segment's colour) is dropped by blessed, moving every line below it up
    // one row, under any widget placed by row (a chart).
    if (segment.text === '') continue;
    const text = blessed.escape(segment.text);
    const tag = TONE_TAG[segment.tone];
    out += tag === null ? text : `{${tag}}${text}{/${tag}}`;
  }
  return out;
}

function place(element: blessed.Widgets.BoxElement, rect: Rect): void {
  element.left = rect.left;
  element.top = rect.top;
  element.width = Math.max(1, rect.width);
  element.height = Math.max(1, rect.height);
}

function setText(element: blessed.Widgets.BoxElement, lines: readonly Line[]): void {
  const content = lines.map(tagged).join('\n');
  // setContent re-parses tags; skipping unchanged boxes keeps a 30 fps loop cheap when one session moves.
  const holder = element as unknown as { _md_content?: string };
  if (holder._md_content === content) return;
  holder._md_content = content;
  element.setContent(content);
}

function setLabel(element: blessed.Widgets.BoxElement, label: string): void {
  const holder = element as unknown as { _md_label?: string };
  if (holder._md_label === label) return;
  holder._md_label = label;
  element.setLabel(label);
}

const shapeOf = (rect: Rect): string => `${rect.left},${rect.top},${rect.width},${rect.height}`;

/** Widgets keyed by the view's ids, re-created when their rectangle changes, destroyed when their view goes. */
function createWidgetSet<V extends { id: string; rect: Rect }, W extends blessed.Widgets.BoxElement>(
  screen: blessed.Widgets.Screen,
  make: (view: V) => W,
  feed: (widget: W, view: V) => void,
): { draw(views: readonly V[]): void } {
  const widgets = new Map<string, { widget: W; shape: string; fed: string }>();
  return {
    draw(views) {
      const seen = new Set<string>();
      for (const view of views) {
        seen.add(view.id);
        const shape = shapeOf(view.rect);
        let entry = widgets.get(view.id);
        if (entry !== undefined && entry.shape !== shape) {
          entry.widget.destroy();
          entry = undefined;
        }
        if (entry === undefined) {
          // Detached first, then appended: contrib widgets set themselves up on attach.
          const widget = make(view);
          screen.append(widget);
          entry = { widget, shape, fed: '' };
          widgets.set(view.id, entry);
        }
        const fed = JSON.stringify(view);
        if (entry.fed !== fed) {
          feed(entry.widget, view);
          entry.fed = fed;
        }
      }
      for (const [id, entry] of widgets) {
        if (seen.has(id)) continue;
        entry.widget.destroy();
        widgets.delete(id);
      }
    },
  };
}

/** Opens the full screen. Throws if the output is not a terminal (blessed would size it 1×1). */
export function createRenderer(options: RendererOptions = {}): Renderer {
  const screen = openScreen(options);
  const box = (extra: blessed.Widgets.BoxOptions): blessed.Widgets.BoxElement =>
    blessed.box({ parent: screen, tags: true, wrap: false, ...extra });
  const logBox = box({ border: { type: 'line' }, style: { border: { fg: 'gray' } } });
  const statusBox = box({ height: 1 });
  const helpBox = box({ border: { type: 'line' }, style: { border: { fg: 'cyan' } }, hidden: true });
  const dialogBox = box({ border: { type: 'line' }, style: { border: { fg: 'yellow' } }, hidden: true });
  const cells = createCellBoxes((bare) =>
    bare ? box({}) : box({ border: { type: 'line' }, style: { border: { fg: 'gray' } } }),
  );
  const charts = createChartSet(screen);
  const gauges = createGaugeSet(screen);
  let destroyed = false;

  return {
    size: () => ({ cols: Number(screen.width) || 1, rows: Number(screen.height) || 1 }),
    draw(view) {
      if (destroyed) return;
      cells.draw(view.cells);
      charts.draw(view.charts);
      gauges.draw(view.gauges);
      drawLog(logBox, view.log);
      place(statusBox, view.status.rect);
      setText(statusBox, [view.status.line]);
      drawHelp(helpBox, view.help);
      drawDialog(dialogBox, view.dialog);
      screen.render();
    },
    onKey(handler) {
      screen.on('keypress', (ch: string | undefined, key: blessed.Widgets.Events.IKeyEventArg | undefined) => {
        const press = keyPressOf(ch, key);
        if (press !== null) handler(press);
      });
    },
    onResize(handler) {
      screen.on('resize', handler);
    },
    text: () => screenText(screen),
    destroy() {
      if (destroyed) return;
      destroyed = true;
      screen.destroy();
    },
  };
}

function openScreen(options: RendererOptions): blessed.Widgets.Screen {
  const output = (options.output ?? process.stdout) as NodeJS.WriteStream;
  const input = (options.input ?? process.stdin) as NodeJS.ReadStream;
  if (!output.isTTY) throw new Error('the dashboard needs a terminal (stdout is not a TTY)');
  return blessed.screen({
    input,
    output,
    terminal: options.terminal ?? process.env['TERM'] ?? 'xterm-256color',
    smartCSR: true,
    fullUnicode: true,
    autoPadding: false,
    warnings: false,
    title: 'modeldeck',
  });
}

/**
 * The session and server boxes, by position: made when first needed, destroyed when the view has fewer, and made
 * again when a box turns bare (a server's one line) or back.
 */
function createCellBoxes(make: (bare: boolean) => blessed.Widgets.BoxElement): {
  draw(views: readonly CellView[]): void;
} {
  const cells: { box: blessed.Widgets.BoxElement; bare: boolean }[] = [];
  function cellBox(index: number, bare: boolean): blessed.Widgets.BoxElement {
    let cell = cells[index];
    if (cell !== undefined && cell.bare !== bare) {
      cell.box.destroy();
      cell = undefined;
    }
    if (cell === undefined) {
      cell = { box: make(bare), bare };
      // Keep the log, status bar and help above the cells in z-order.
      cell.box.setIndex(0);
      cells[index] = cell;
    }
    return cell.box;
  }
  return {
    draw(views) {
      views.forEach((cellView, i) => {
        const bare = cellView.bare === true;
        const cell = cellBox(i, bare);
        cell.show();
        place(cell, cellView.rect);
        if (!bare) {
          setLabel(cell, cellView.title);
          (cell.style as { border: { fg: string } }).border.fg = cellView.focused ? 'cyan' : 'gray';
        }
        setText(cell, cellView.lines);
      });
      while (cells.length > views.length) cells.pop()?.box.destroy();
    },
  };
}

/** Throughput charts: contrib sparklines, fed whole percentages. */
function createChartSet(screen: blessed.Widgets.Screen): { draw(views: readonly ChartView[]): void } {
  return createWidgetSet<ChartView, ReturnType<typeof contribSparkline>>(
    screen,
    (view) =>
      contribSparkline({
        left: view.rect.left,
        top: view.rect.top,
        width: Math.max(3, view.rect.width),
        height: Math.max(1, view.rect.height),
        tags: true,
        style: { fg: 'cyan', titleFg: 'white' },
      }),
    (widget, view) =>
      widget.setData(
        view.series.map((s) => blessed.escape(s.title)),
        view.series.map((s) => [...s.percents]),
      ),
  );
}

/** Server panes' contrib gauges, rasterised only when fed. */
function createGaugeSet(screen: blessed.Widgets.Screen): { draw(views: readonly GaugeView[]): void } {
  return createWidgetSet<GaugeView, ReturnType<typeof contribGauge>>(
    screen,
    (view) => {
      const widget = contribGauge({
        left: view.rect.left,
        top: view.rect.top,
        width: Math.max(8, view.rect.width),
        height: Math.max(1, view.rect.height),
        label: view.label,
        stroke: 'cyan',
        fill: 'white',
        showLabel: true,
      });
      // A contrib canvas re-rasterises its whole canvas on every screen render; at 30 frames a second under a
      // stream of events that costs key echo. Rasterise only after new data, else draw the content it already has.
      const holder = widget as unknown as { render(): unknown; _render(): unknown; _md_dirty?: boolean };
      const rasterise = holder.render.bind(widget);
      holder.render = () => {
        if (holder._md_dirty === false) return holder._render();
        holder._md_dirty = false;
        return rasterise();
      };
      return widget;
    },
    (widget, view) => {
      widget.setLabel(view.label);
      // A whole percent of exactly 1 would read as the fraction 1.0 (100 %).
      widget.setPercent(view.percent === 1 ? 1.001 : view.percent);
      (widget as unknown as { _md_dirty?: boolean })._md_dirty = true;
    },
  );
}

function drawLog(logBox: blessed.Widgets.BoxElement, log: LogPaneView): void {
  // A zoomed session leaves the log no rows: hidden, not drawn as a one-row box.
  if (log.rect.height === 0) {
    logBox.hide();
    return;
  }
  logBox.show();
  place(logBox, log.rect);
  setLabel(logBox, log.title);
  (logBox.style as { border: { fg: string } }).border.fg = log.focused ? 'cyan' : 'gray';
  setText(logBox, log.lines);
}

function drawHelp(helpBox: blessed.Widgets.BoxElement, help: DashboardView['help']): void {
  if (help === null) {
    helpBox.hide();
    return;
  }
  place(helpBox, help.rect);
  setLabel(helpBox, ' help ');
  setText(helpBox, help.lines);
  helpBox.show();
  helpBox.setFront();
}

function drawDialog(dialogBox: blessed.Widgets.BoxElement, dialog: DashboardView['dialog']): void {
  if (dialog === null) {
    dialogBox.hide();
    return;
  }
  place(dialogBox, dialog.rect);
  setLabel(dialogBox, dialog.title);
  setText(dialogBox, dialog.lines);
  dialogBox.show();
  dialogBox.setFront();
}

/** blessed's key event as a {@link KeyPress}; `null` for the one it reports twice. */
function keyPressOf(ch: string | undefined, key: blessed.Widgets.Events.IKeyEventArg | undefined): KeyPress | null {
  // blessed reports a CR as `enter` and then again as `return`: one key, one press (else the echo would clear a
  // notice that the Enter just set, such as "the model is not ready yet").
  if (key?.name === 'return' && key.sequence === '\r') return null;
  return {
    name: key?.name,
    ch,
    ctrl: key?.ctrl ?? false,
    shift: key?.shift ?? false,
    meta: key?.meta ?? false,
  };
}

/** The text on screen, one line per row, colours dropped and trailing blanks trimmed. */
function screenText(screen: blessed.Widgets.Screen): string {
  const lines = (screen as unknown as { lines: [unknown, string][][] }).lines;
  return lines
    .map((row) =>
      row
        .map((cell) => cell[1])
        .join('')
        .trimEnd(),
    )
    .join('\n');
}
