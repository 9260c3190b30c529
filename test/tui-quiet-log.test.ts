// Pure: a quieter log. A server feed's copy of a session's own frame is folded into it (e shows it), tags take one
// width (a feed's `feed:host:port` shortened), long lines scroll sideways in every view, and the wire view keeps each
// line's ending in sight.
import t from 'tap';
import type { JournalEntry } from '../src/client/wire-journal.js';
import { createEventLog } from '../src/tui/event-log.js';
import { createUiState, routeKey, type KeyContext } from '../src/tui/keys.js';
import { tagColumn } from '../src/tui/log-tags.js';
import { createRecorder } from '../src/tui/recorder.js';
import { toViewModel, type Line } from '../src/tui/view-model.js';
import { buildWireLogView, fitLine } from '../src/tui/wire-log-view.js';

const FRAME =
  '{"status": "loading", "model": "org/m@main", "stage": "download", "progress": {"current": 5, "total": 9}}';
const text = (lines: readonly Line[]): string => lines.map((l) => l.map((s) => s.text).join('')).join('\n');

function recorder() {
  return createRecorder({ capacity: 50, secrets: () => [], closed: () => false, onChange: () => {} });
}

t.test('a feed’s copy of a session’s frame is folded into it, in either order, once per frame', async (t) => {
  const r = recorder();
  r.record({ time: 1000, session: 's1', kind: 'data', raw: FRAME });
  r.record({ time: 1010, session: 'feed:127.0.0.1:40405', kind: 'data', raw: FRAME });
  // The feed first this time, then two sessions following the same load: one pairs, the other stays alone.
  r.record({ time: 2000, session: 'feed:127.0.0.1:40405', kind: 'data', raw: '{"b": 1}' });
  r.record({ time: 2005, session: 's1', kind: 'data', raw: '{"b": 1}' });
  r.record({ time: 2006, session: 's2', kind: 'data', raw: '{"b": 1}' });
  // Too far apart to be a copy.
  r.record({ time: 3000, session: 's1', kind: 'data', raw: '{"c": 1}' });
  r.record({ time: 9000, session: 'feed:127.0.0.1:40405', kind: 'data', raw: '{"c": 1}' });
  t.same(
    r.log.toArray().map((e) => `${e.session} ${e.echo ?? '-'}`),
    [
      's1 echoed',
      'feed:127.0.0.1:40405 copy',
      'feed:127.0.0.1:40405 copy',
      's1 echoed',
      's2 -',
      's1 -',
      'feed:127.0.0.1:40405 -',
    ],
  );
  const view = (showCopies: boolean): string =>
    text(
      toViewModel({
        sessions: [],
        ui: { ...createUiState(), log: { ...createUiState().log, showCopies } },
        log: r.log,
        size: { cols: 160, rows: 40 },
        now: 0,
        notice: null,
        defaultServer: 'http://x',
        servers: [],
      }).log.lines,
    );
  const folded = view(false);
  t.equal(folded.split('\n').length, 5, 'the copies are folded');
  t.match(folded, /s1 +data:⇄ \{"status"/, 'the session’s line says the feed repeated it');
  t.match(view(true), /feed +data:= \{"status"/, 'e shows the copies, marked');
  t.equal(view(true).split('\n').length, 7);
});

t.test(
  'tags of one width: the sessions’ longest, a feed shortened (f:host cut in the middle with several)',
  async (t) => {
    const one = tagColumn(['s1', 's2'], 1);
    t.equal(one.width, 4);
    t.equal(one.show('feed:127.0.0.1:40405'), 'feed');
    t.equal(one.show('s1'), 's1  ');
    const two = tagColumn(['s1', 'box-a'], 2);
    t.equal(two.width, 10);
    t.equal(two.show('feed:127.0.0.1:40405'), 'f:127.…405');
    t.equal(
      tagColumn(['a-very-long-name'], 0).show('a-very-long-name'),
      'a-very…-name',
      'at most 12, cut in the middle',
    );
    const log = createEventLog(10);
    log.append(0, 's1', 'data', '{"a": 1}');
    log.append(0, 'feed:127.0.0.1:40405', 'other', 'feed: HTTP 404 on /events');
    const lines = text(
      toViewModel({
        sessions: [],
        ui: createUiState(),
        log,
        size: { cols: 100, rows: 30 },
        now: 0,
        notice: null,
        defaultServer: 'http://x',
        servers: [],
      }).log.lines,
    ).split('\n');
    const column = (line: string | undefined): number => (line ?? '').search(/data:|#/);
    t.equal(column(lines[0]), column(lines[1]), 'the kind column lines up');
  },
);

/** A journal entry of stream `stream` with one data line. */
function entry(seq: number, stream: string, text: string, at = seq * 100): JournalEntry {
  return {
    seq,
    stream,
    at,
    attempt: 1,
    kind: 'event',
    text,
    lines: [
      { text: `data: ${text}`, ending: '\r\n', field: 'data', value: text },
      { text: '', ending: '\r\n', field: 'blank', value: '' },
    ],
    gapMs: null,
    stall: false,
    findings: [],
  } as unknown as JournalEntry;
}

t.test('the wire view keeps each line’s ending in sight; every view scrolls sideways', async (t) => {
  const long = `{"status": "loading", "model": "org/${'x'.repeat(120)}@main", "stage": "weights"}`;
  const entries = [entry(1, 's1 load', long)];
  const options = { width: 90, height: 10, scroll: 0, filter: '', cursor: null } as const;
  const wire = buildWireLogView(entries, { ...options, mode: 'wire' });
  t.ok(wire.lines.length > 0);
  for (const line of wire.lines) {
    t.ok([...line.plain].length <= 90, 'within the width');
    t.match(line.plain, /\\r\\n$/, 'the ending shows');
  }
  t.match(wire.lines[0]?.plain, /…\\r\\n$/, 'the payload is cut before it');
  const readable = buildWireLogView(entries, { ...options, mode: 'readable' });
  t.notMatch(readable.lines[0]?.plain, '"stage": "weights"', 'cut at the width');
  const right = buildWireLogView(entries, { ...options, mode: 'readable', hscroll: 140 });
  t.match(right.lines[0]?.plain, /s1 +load .*…x+@main", "stage": "weights"\}$/, 'scrolled: the end of the payload');
  t.equal(right.hscroll, 140);
  t.equal(
    buildWireLogView(entries, { ...options, mode: 'readable', hscroll: 10_000 }).hscroll,
    [...long].length - 1,
    'no further than the longest payload',
  );
  t.equal(fitLine({ head: 'h ', body: 'abcdef', tail: '\\n' }, 8), 'h abc…\\n');
  t.equal(fitLine({ head: 'h ', body: 'abcdef', tail: '\\n' }, 8, 2), 'h …def\\n');
  // The feeds' copies are folded here too.
  const copied = [entry(1, 's1 load', '{"a": 1}'), entry(2, 'feed:127.0.0.1:1 feed', '{"a": 1}')];
  t.equal(buildWireLogView(copied, { ...options, mode: 'readable', hideCopies: true }).total, 1);
  t.equal(buildWireLogView(copied, { ...options, mode: 'readable' }).total, 2);
});

t.test('Left/Right scroll the log sideways, e shows or folds the copies', async (t) => {
  const ctx: KeyContext = { sessions: [], lastSeq: 0, logPage: 10, defaultServer: 'http://x', now: 0 };
  let ui = { ...createUiState(), logFocused: true };
  ui = routeKey(ui, { name: 'right' }, ctx).ui;
  ui = routeKey(ui, { name: 'right' }, ctx).ui;
  t.equal(ui.log.hscroll, 40);
  ui = routeKey(ui, { name: 'left' }, ctx).ui;
  t.equal(ui.log.hscroll, 20);
  t.match(routeKey({ ...ui, log: { ...ui.log, hscroll: 0 } }, { name: 'left' }, ctx).commands[0], {
    type: 'notice',
    text: /from the start/,
  });
  t.equal(routeKey(ui, { ch: 'e', name: 'e' }, ctx).ui.log.showCopies, true);
});
