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
import unicode from 'blessed/lib/unicode.js';
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

type Element = blessed.Widgets.BlessedElement;

/** Where an element was last drawn, in screen cells (`xl` and `yl` exclusive): blessed's `lpos`. */
interface Drawn {
  readonly xi: number;
  readonly xl: number;
  readonly yi: number;
  readonly yl: number;
}

/**
 * What a frame changed on screen, so that it draws only that. blessed's `screen.render()` draws every element into
 * its cell buffer on every frame and then diffs the buffer's lines; at a hundred sessions that is a hundred boxes
 * drawn again to change a handful (the log pane, the status bar, a key's echo in one cell). An element whose look
 * changed in place is drawn again, with whatever lies above it where they overlap (a chart over its cell); anything
 * that moves, appears, goes or changes places in z-order leaves cells behind elsewhere, so it draws the whole screen.
 */
interface Damage {
  /** Something moved, appeared, went or was raised: every element is drawn. */
  whole(): void;
  /** `element`'s content, label, border colour or data changed in place. */
  changed(element: Element): void;
  /** Draws the screen as the frame left it, then starts the next frame's count. */
  render(screen: blessed.Widgets.Screen): void;
}

function createDamage(): Damage {
  let whole = true;
  const changed = new Set<Element>();
  return {
    whole: () => void (whole = true),
    changed: (element) => void changed.add(element),
    render(screen) {
      if (whole || !renderChanged(screen, changed)) screen.render();
      whole = false;
      changed.clear();
    },
  };
}

const overlap = (a: Drawn, b: Drawn): boolean => a.xi < b.xl && b.xi < a.xl && a.yi < b.yl && b.yi < a.yl;

/**
 * Draws the changed elements and everything above them that overlaps them, in z-order, then writes the lines that
 * differ. False (nothing drawn) when a changed element has never been drawn: the caller draws the whole screen.
 */
function renderChanged(screen: blessed.Widgets.Screen, changed: ReadonlySet<Element>): boolean {
  if (changed.size === 0) return true;
  const regions: Drawn[] = [];
  const redraw: Element[] = [];
  for (const element of screen.children as Element[]) {
    if (element.hidden) continue;
    const drawn = (element as unknown as { lpos?: Drawn }).lpos;
    if (changed.has(element)) {
      if (drawn === undefined) return false;
    } else if (drawn === undefined || !regions.some((region) => overlap(region, drawn))) continue;
    regions.push(drawn);
    redraw.push(element);
  }
  for (const element of redraw) element.render();
  // What screen.render() does after its elements: write the lines that differ from the terminal's.
  const drawer = screen as unknown as { lines: unknown[]; draw(start: number, end: number): void };
  drawer.draw(0, drawer.lines.length - 1);
  return true;
}

function place(element: Element, rect: Rect, damage: Damage): void {
  const holder = element as unknown as { _md_rect?: string };
  const shape = shapeOf(rect);
  if (holder._md_rect === shape) return;
  holder._md_rect = shape;
  damage.whole();
  element.left = rect.left;
  element.top = rect.top;
  element.width = Math.max(1, rect.width);
  element.height = Math.max(1, rect.height);
}

function setShown(element: Element, shown: boolean, damage: Damage): void {
  if (element.hidden !== shown) return;
  damage.whole();
  if (shown) element.show();
  else element.hide();
}

function setText(element: Element, lines: readonly Line[], damage: Damage): void {
  const content = lines.map(tagged).join('\n');
  // setContent re-parses tags; skipping unchanged boxes keeps a 30 fps loop cheap when one session moves.
  const holder = element as unknown as { _md_content?: string };
  if (holder._md_content === content) return;
  holder._md_content = content;
  // Not cleared first: drawn again, the box covers its whole rectangle anyway.
  (element.setContent as (content: string, noClear: boolean) => void).call(element, content, true);
  damage.changed(element);
}

function setLabel(element: Element, label: string, damage: Damage): void {
  const holder = element as unknown as { _md_label?: string; _labelResize?: () => void };
  if (holder._md_label === label) return;
  const created = holder._md_label === undefined;
  holder._md_label = label;
  element.setLabel(label);
  // blessed redraws the whole screen on the next turn after any labelled box resizes, to move a label that only
  // moves in a box that scrolls (these never do): a hundred cells resized by a new session were a hundred frames.
  if (created && holder._labelResize !== undefined) element.removeListener('resize', holder._labelResize);
  damage.changed(element);
}

function setBorder(element: Element, colour: string, damage: Damage): void {
  const border = (element.style as { border: { fg: string } }).border;
  if (border.fg === colour) return;
  border.fg = colour;
  damage.changed(element);
}

const shapeOf = (rect: Rect): string => `${rect.left},${rect.top},${rect.width},${rect.height}`;

/** Widgets keyed by the view's ids, re-created when their rectangle changes, destroyed when their view goes. */
function createWidgetSet<V extends { id: string; rect: Rect }, W extends blessed.Widgets.BoxElement>(
  screen: blessed.Widgets.Screen,
  make: (view: V) => W,
  feed: (widget: W, view: V) => void,
  damage: Damage,
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
          damage.whole();
          entry = { widget, shape, fed: '' };
          widgets.set(view.id, entry);
        }
        const fed = JSON.stringify(view);
        if (entry.fed !== fed) {
          feed(entry.widget, view);
          entry.fed = fed;
          damage.changed(entry.widget);
        }
      }
      for (const [id, entry] of widgets) {
        if (seen.has(id)) continue;
        entry.widget.destroy();
        widgets.delete(id);
        damage.whole();
      }
    },
  };
}

/** Opens the full screen. Throws if the output is not a terminal (blessed would size it 1×1). */
export function createRenderer(options: RendererOptions = {}): Renderer {
  const screen = openScreen(options);
  const damage = createDamage();
  const box = (extra: blessed.Widgets.BoxOptions): blessed.Widgets.BoxElement =>
    blessed.box({ parent: screen, tags: true, wrap: false, ...extra });
  const logBox = box({ border: { type: 'line' }, style: { border: { fg: 'gray' } } });
  const statusBox = box({ height: 1 });
  const helpBox = box({ border: { type: 'line' }, style: { border: { fg: 'cyan' } }, hidden: true });
  const dialogBox = box({ border: { type: 'line' }, style: { border: { fg: 'yellow' } }, hidden: true });
  const cells = createCellBoxes(
    (bare) => (bare ? box({}) : box({ border: { type: 'line' }, style: { border: { fg: 'gray' } } })),
    damage,
  );
  const charts = createChartSet(screen, damage);
  const gauges = createGaugeSet(screen, damage);
  let destroyed = false;

  return {
    size: () => ({ cols: Number(screen.width) || 1, rows: Number(screen.height) || 1 }),
    draw(view) {
      if (destroyed) return;
      cells.draw(view.cells);
      charts.draw(view.charts);
      gauges.draw(view.gauges);
      drawLog(logBox, view.log, damage);
      place(statusBox, view.status.rect, damage);
      setText(statusBox, [view.status.line], damage);
      drawOverlay(helpBox, view.help === null ? null : { title: ' help ', ...view.help }, damage);
      drawOverlay(dialogBox, view.dialog, damage);
      damage.render(screen);
      // Written now: blessed holds a frame's output until a setImmediate, which runs after every socket read of this
      // turn. At a hundred streaming sessions that held a key's echo, drawn at once, up to 160 ms behind them.
      screen.program.flush();
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

/** blessed's measure of a character's width in cells: a code point, or a string and an index into it. */
export type CharWidth = (str: string | number, i?: number) => number;

/**
 * `width` answering printable ASCII first. blessed's `unicode.charWidth`, asked for every cell of every line a frame
 * draws (with `fullUnicode`), looks the character up in a table and walks some sixty ranges even for a plain letter:
 * 4% of the dashboard's CPU at a hundred sessions. A printable ASCII character is one cell wide whatever the rest
 * says; everything else still goes to `width`.
 */
export function asciiFirst(width: CharWidth): CharWidth {
  return (str, i) => {
    const code = typeof str === 'number' ? str : str.charCodeAt(i ?? 0);
    return code >= 0x20 && code < 0x7f ? 1 : width(str, i);
  };
}

/** blessed's own width, as its module had it before any screen was opened (the renderer then replaces it). */
export const blessedCharWidth: CharWidth = unicode.charWidth;

const asciiFirstWidth = asciiFirst(blessedCharWidth);

function openScreen(options: RendererOptions): blessed.Widgets.Screen {
  // blessed's screen reads its module's `charWidth` at each call: replaced once, for every screen.
  unicode.charWidth = asciiFirstWidth;
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
function createCellBoxes(
  make: (bare: boolean) => blessed.Widgets.BoxElement,
  damage: Damage,
): {
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
      damage.whole();
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
        setShown(cell, true, damage);
        place(cell, cellView.rect, damage);
        if (!bare) {
          setLabel(cell, cellView.title, damage);
          setBorder(cell, cellView.focused ? 'cyan' : 'gray', damage);
        }
        setText(cell, cellView.lines, damage);
      });
      while (cells.length > views.length) {
        cells.pop()?.box.destroy();
        damage.whole();
      }
    },
  };
}

/** Throughput charts: contrib sparklines, fed whole percentages. */
function createChartSet(screen: blessed.Widgets.Screen, damage: Damage): { draw(views: readonly ChartView[]): void } {
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
    damage,
  );
}

/** Server panes' contrib gauges, rasterised only when fed. */
function createGaugeSet(screen: blessed.Widgets.Screen, damage: Damage): { draw(views: readonly GaugeView[]): void } {
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
    damage,
  );
}

function drawLog(logBox: blessed.Widgets.BoxElement, log: LogPaneView, damage: Damage): void {
  // A zoomed session leaves the log no rows: hidden, not drawn as a one-row box.
  if (log.rect.height === 0) {
    setShown(logBox, false, damage);
    return;
  }
  setShown(logBox, true, damage);
  place(logBox, log.rect, damage);
  setLabel(logBox, log.title, damage);
  setBorder(logBox, log.focused ? 'cyan' : 'gray', damage);
  setText(logBox, log.lines, damage);
}

/** The help or a dialog, over everything else: drawn whole each frame it shows (its cells cover the others'). */
function drawOverlay(
  overlay: blessed.Widgets.BoxElement,
  view: { readonly rect: Rect; readonly title: string; readonly lines: readonly Line[] } | null,
  damage: Damage,
): void {
  if (view === null) {
    setShown(overlay, false, damage);
    return;
  }
  damage.whole();
  place(overlay, view.rect, damage);
  setLabel(overlay, view.title, damage);
  setText(overlay, view.lines, damage);
  overlay.show();
  overlay.setFront();
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
