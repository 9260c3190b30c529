// The renderer draws only what a frame changed (a hundred cells are not drawn again to echo one key): after every
// frame of a sequence that changes one thing at a time (a cell's text, its title, its border, a chart over it, the
// log, the status bar, the help over all of it, cells coming and going), the screen reads as a renderer that drew
// that frame alone, from nothing, reads it.
import t, { type Test } from 'tap';
import { createRenderer, type Renderer } from '../src/tui/render.js';
import { gridLayout, screenLayout, type Rect } from '../src/tui/screen-layout.js';
import { seg } from '../src/tui/lines.js';
import type { CellView, ChartView, DashboardView } from '../src/tui/view-model.js';
import { terminal } from './helpers/dashboard.js';

const SIZE = { cols: 100, rows: 30 };

interface Frame {
  readonly name: string;
  readonly cells: readonly { readonly title: string; readonly lines: readonly string[]; readonly focused?: boolean }[];
  readonly chart?: readonly number[];
  readonly log: readonly string[];
  readonly status: string;
  readonly help?: readonly string[];
}

function viewOf(frame: Frame): DashboardView {
  const layout = screenLayout(SIZE);
  const rects = gridLayout(frame.cells.length, layout.sessions);
  const cells = frame.cells.map((cell, i): CellView => ({
    id: `s${i + 1}`,
    rect: rects[i] as Rect,
    title: cell.title,
    focused: cell.focused === true,
    lines: cell.lines.map((text) => [seg(text)]),
  }));
  const first = rects[0] as Rect;
  const charts: ChartView[] =
    frame.chart === undefined
      ? []
      : [
          {
            id: 'session:s1:rate',
            rect: { left: first.left + 1, top: first.top + 2, width: first.width - 2, height: 3 },
            series: [{ title: 'tokens/s', percents: frame.chart }],
          },
        ];
  return {
    cells,
    charts,
    gauges: [],
    log: { rect: layout.log, title: ' events ', focused: false, lines: frame.log.map((text) => [seg(text, 'dim')]) },
    status: { rect: layout.status, line: [seg(frame.status, 'accent')] },
    help:
      frame.help === undefined
        ? null
        : {
            rect: { left: 10, top: 3, width: 50, height: frame.help.length + 2 },
            lines: frame.help.map((x) => [seg(x)]),
          },
    dialog: null,
  };
}

function open(t: Test): Renderer {
  const { input, output } = terminal(SIZE);
  const renderer = createRenderer({ input, output, terminal: 'xterm-256color' });
  t.teardown(() => renderer.destroy());
  return renderer;
}

const cell = (n: number, lines: readonly string[] = [`line of s${n}`]) => ({ title: ` s${n} ready `, lines });
const four = [cell(1, ['hello', '', '', '', '', 'world']), cell(2), cell(3), cell(4)];

const frames: Frame[] = [
  { name: 'first frame', cells: four, log: ['one'], status: 'status' },
  { name: 'nothing changed', cells: four, log: ['one'], status: 'status' },
  {
    name: "a key's echo in one cell",
    cells: [four[0]!, cell(2, ['> typed~']), ...four.slice(2)],
    log: ['one'],
    status: 'status',
  },
  { name: 'the echo taken back', cells: four, log: ['one'], status: 'status' },
  { name: 'a chart over the first cell', cells: four, chart: [10, 50, 100, 20], log: ['one'], status: 'status' },
  {
    name: 'the cell under the chart changes, the chart does not',
    cells: [cell(1, ['hello again', '', '', '', '', 'world, longer now']), ...four.slice(1)],
    chart: [10, 50, 100, 20],
    log: ['one'],
    status: 'status',
  },
  { name: 'the chart moves on', cells: four, chart: [50, 100, 20, 0], log: ['one'], status: 'status' },
  {
    name: 'a title and a focus',
    cells: [{ ...cell(1), title: ' s1 loading 5% ', focused: true }, ...four.slice(1)],
    log: ['one', 'two'],
    status: 'status',
  },
  {
    name: 'the log scrolls, the status says more',
    cells: four,
    log: ['two', 'three', 'four'],
    status: 'status, longer',
  },
  {
    name: 'the help over the cells',
    cells: four,
    log: ['two'],
    status: 'help',
    help: ['keys', 'q quits', 'tab moves'],
  },
  {
    name: 'a cell changes under the help',
    cells: [cell(1, ['under the help']), ...four.slice(1)],
    log: ['two'],
    status: 'help',
    help: ['keys', 'q quits', 'tab moves'],
  },
  { name: 'the help closed', cells: [cell(1, ['under the help']), ...four.slice(1)], log: ['two'], status: 'status' },
  { name: 'a fifth session (the grid moves)', cells: [...four, cell(5)], log: ['two'], status: 'status' },
  { name: 'back to three', cells: four.slice(0, 3), log: ['two'], status: 'status' },
  { name: 'a cell shrinks its text', cells: [cell(1, ['x']), ...four.slice(1, 3)], log: [], status: '' },
];

t.test('every frame reads as the same frame drawn alone', async (t) => {
  const renderer = open(t);
  for (const frame of frames) {
    const view = viewOf(frame);
    renderer.draw(view);
    const alone = open(t);
    alone.draw(view);
    t.equal(renderer.text(), alone.text(), frame.name);
    alone.destroy();
  }
});

t.test('a frame that changes nothing writes nothing to the terminal', async (t) => {
  const { input, output } = terminal(SIZE);
  const renderer = createRenderer({ input, output, terminal: 'xterm-256color' });
  t.teardown(() => renderer.destroy());
  const view = viewOf(frames[0]!);
  renderer.draw(view);
  await new Promise((resolve) => setImmediate(resolve));
  let written = 0;
  output.on('data', (chunk: Buffer) => (written += chunk.length));
  renderer.draw(viewOf(frames[1]!));
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(written, 0);
  renderer.draw(viewOf(frames[2]!));
  await new Promise((resolve) => setImmediate(resolve));
  t.ok(written > 0, 'and the next change is written');
});
