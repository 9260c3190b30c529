/**
 * The only file that touches blessed: it owns the screen, creates the widgets once (a box per session cell, the log
 * pane, the status bar, the help overlay), copies a {@link DashboardView} onto them, and hands key presses and resizes
 * to the caller. Everything it draws was decided in `view-model.ts`.
 *
 * Gauges are text bars inside the session boxes rather than blessed-contrib gauges: contrib's gauge hides its
 * percentage below six rows, reads values under 1.001 as fractions and throws when fed before it is attached; a text
 * bar has none of these, fits a one-row budget, and reads the same in a terminal, tmux and a headless test.
 */

import blessed from 'blessed';
import type { KeyPress } from './keys.js';
import type { DashboardView, Line, Rect, ScreenSize, Tone } from './view-model.js';

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

/** Opens the full screen. Throws if the output is not a terminal (blessed would size it 1×1). */
export function createRenderer(options: RendererOptions = {}): Renderer {
  const output = (options.output ?? process.stdout) as NodeJS.WriteStream;
  const input = (options.input ?? process.stdin) as NodeJS.ReadStream;
  if (!output.isTTY) throw new Error('the dashboard needs a terminal (stdout is not a TTY)');
  const screen = blessed.screen({
    input,
    output,
    terminal: options.terminal ?? process.env['TERM'] ?? 'xterm-256color',
    smartCSR: true,
    fullUnicode: true,
    autoPadding: false,
    warnings: false,
    title: 'modeldeck',
  });

  const cells: blessed.Widgets.BoxElement[] = [];
  const box = (extra: blessed.Widgets.BoxOptions): blessed.Widgets.BoxElement =>
    blessed.box({ parent: screen, tags: true, wrap: false, ...extra });
  const logBox = box({ border: { type: 'line' }, style: { border: { fg: 'gray' } } });
  const statusBox = box({ height: 1 });
  const helpBox = box({ border: { type: 'line' }, style: { border: { fg: 'cyan' } }, hidden: true });
  let destroyed = false;

  function cellBox(index: number): blessed.Widgets.BoxElement {
    let cell = cells[index];
    if (cell === undefined) {
      cell = box({ border: { type: 'line' }, style: { border: { fg: 'gray' } } });
      // Keep the log, status bar and help above the cells in z-order.
      cell.setIndex(0);
      cells[index] = cell;
    }
    return cell;
  }

  return {
    size: () => ({ cols: Number(screen.width) || 1, rows: Number(screen.height) || 1 }),
    draw(view) {
      if (destroyed) return;
      view.cells.forEach((cellView, i) => {
        const cell = cellBox(i);
        cell.show();
        place(cell, cellView.rect);
        setLabel(cell, cellView.title);
        (cell.style as { border: { fg: string } }).border.fg = cellView.focused ? 'cyan' : 'gray';
        setText(cell, cellView.lines);
      });
      while (cells.length > view.cells.length) cells.pop()?.destroy();
      place(logBox, view.log.rect);
      setLabel(logBox, view.log.title);
      (logBox.style as { border: { fg: string } }).border.fg = view.log.focused ? 'cyan' : 'gray';
      setText(logBox, view.log.lines);
      place(statusBox, view.status.rect);
      setText(statusBox, [view.status.line]);
      if (view.help === null) {
        helpBox.hide();
      } else {
        place(helpBox, view.help.rect);
        setLabel(helpBox, ' help ');
        setText(helpBox, view.help.lines);
        helpBox.show();
        helpBox.setFront();
      }
      screen.render();
    },
    onKey(handler) {
      screen.on('keypress', (ch: string | undefined, key: blessed.Widgets.Events.IKeyEventArg | undefined) => {
        // blessed reports a CR as `enter` and then again as `return`: one key, one press (else the echo would clear a
        // notice that the Enter just set, such as "the model is not ready yet").
        if (key?.name === 'return' && key.sequence === '\r') return;
        handler({
          name: key?.name,
          ch,
          ctrl: key?.ctrl ?? false,
          shift: key?.shift ?? false,
          meta: key?.meta ?? false,
        });
      });
    },
    onResize(handler) {
      screen.on('resize', handler);
    },
    text() {
      const lines = (screen as unknown as { lines: [unknown, string][][] }).lines;
      return lines
        .map((row) =>
          row
            .map((cell) => cell[1])
            .join('')
            .trimEnd(),
        )
        .join('\n');
    },
    destroy() {
      if (destroyed) return;
      destroyed = true;
      screen.destroy();
    },
  };
}
