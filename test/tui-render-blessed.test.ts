// What the renderer changes of blessed's ways, for speed, and that nothing on screen changes with it:
// - a quicker width: printable ASCII answered first, every other character still blessed's. It must agree with
//   blessed's own at every code point, in both of the ways blessed asks (a code point, or a string and an index),
//   and a screen the renderer opens must use it;
// - a frame written out before its draw returns, not on blessed's next setImmediate (behind a turn's socket reads).
import { createRequire } from 'node:module';
import t from 'tap';
import { asciiFirst, blessedCharWidth, createRenderer, type CharWidth } from '../src/tui/render.js';
import { seg } from '../src/tui/lines.js';
import { gridLayout, screenLayout, type Rect } from '../src/tui/screen-layout.js';
import type { DashboardView } from '../src/tui/view-model.js';
import { terminal } from './helpers/dashboard.js';

// The module blessed's screen requires (the same object the renderer's import is). blessed's own width comes from the
// renderer, which kept it before any screen (another test's in this process, say) replaced it.
const unicode = createRequire(import.meta.url)('blessed/lib/unicode.js') as { charWidth: CharWidth };
const blessedWidth = blessedCharWidth;

t.test('agrees with blessed at every code point of the first plane, and across the others', async (t) => {
  const quick = asciiFirst(blessedWidth);
  let differ = 0;
  let first: number | undefined;
  // Past the first plane the wrap only hands over: every 97th code point is enough to show that.
  for (let point = 0; point <= 0x10ffff; point += point < 0x10000 ? 1 : 97) {
    const text = `a${String.fromCodePoint(point)}`;
    if (quick(point) !== blessedWidth(point) || quick(text, 1) !== blessedWidth(text, 1)) {
      differ++;
      first ??= point;
    }
  }
  t.equal(differ, 0, `no code point measured otherwise (first: ${first?.toString(16) ?? 'none'})`);
  t.equal(quick('x'), 1, 'a letter');
  t.equal(quick('\t'), blessedWidth('\t'), "a tab: blessed's own answer");
  t.equal(quick('中'), 2, 'a wide character still goes to blessed');
  t.equal(quick('\u0301'), 0, 'a combining mark too');
});

t.test('a screen the renderer opens measures with it, and draws wide text as blessed would', async (t) => {
  const { input, output } = terminal({ cols: 40, rows: 10 });
  const renderer = createRenderer({ input, output });
  t.teardown(() => renderer.destroy());
  t.not(unicode.charWidth, blessedWidth, "blessed's module now answers with the quicker width");
  t.equal(unicode.charWidth('a'), 1);
  t.equal(unicode.charWidth('中'), 2);
});

t.test('a frame is written to the terminal before its draw returns', async (t) => {
  const size = { cols: 60, rows: 16 };
  const { input, output } = terminal(size);
  let written = '';
  const write = output.write.bind(output);
  output.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
    written += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return write(chunk, ...rest);
  }) as typeof output.write;
  const renderer = createRenderer({ input, output, terminal: 'xterm-256color' });
  t.teardown(() => renderer.destroy());
  const layout = screenLayout(size);
  const view = (text: string): DashboardView => ({
    cells: [
      {
        id: 's1',
        rect: gridLayout(1, layout.sessions)[0] as Rect,
        title: ' s1 ',
        focused: true,
        lines: [[seg(text)]],
      },
    ],
    charts: [],
    gauges: [],
    log: { rect: layout.log, title: ' events ', focused: false, lines: [] },
    status: { rect: layout.status, line: [seg('status')] },
    help: null,
    dialog: null,
  });
  renderer.draw(view('OLDTEXT'));
  t.match(written, 'OLDTEXT', 'the first frame, whole');
  written = '';
  renderer.draw(view('newword'));
  t.match(written, 'newword', 'a frame that changed one cell');
});
