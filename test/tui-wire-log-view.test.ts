import t from 'tap';
import { createWireJournal, type JournalEntry } from '../src/client/wire-journal.js';
import type { WireRecord } from '../src/client/wire-tap.js';
import { classifyLine } from '../src/protocol/sse-lines.js';
import { buildWireLogView, inspectEntry, shownText, type WireLogViewOptions } from '../src/tui/wire-log-view.js';

// The log shows local time; the expected lines are written in UTC.
process.env['TZ'] = 'UTC';
const T0 = Date.UTC(2026, 11, 2, 4, 0, 0);
const LONG = `{"id": "chatcmpl-1", "object": "chat.completion.chunk", "system_fingerprint": null, "choices": [{"delta": {"content": "UNIQUE-TAIL"}}]}`;

/** A journal over a scripted load stream (CRLF), a stall, a fault, and a chat stream with one long chunk. */
function scriptedEntries(): JournalEntry[] {
  const entries: JournalEntry[] = [];
  const journal = createWireJournal({ onEntry: (e) => entries.push(e), stallMs: 3000 });
  const feed = (r: WireRecord): void => journal.feed(r);
  const lines = (stream: string, at: number, text: string, ending: '\n' | '\r\n' = '\r\n'): void => {
    for (const l of [...text.split('\n'), ''])
      feed({ kind: 'line', stream, at, frame: 0, line: { text: l, ending, ...classifyLine(l) } });
  };
  feed({ kind: 'connecting', stream: 's1 load', at: T0, method: 'POST', url: 'http://h/load_model', attempt: 1 });
  feed({
    kind: 'answer',
    stream: 's1 load',
    at: T0 + 5,
    status: 200,
    statusText: 'OK',
    headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' },
  });
  lines(
    's1 load',
    T0 + 10,
    'data: {"status": "loading", "model": "o/m@main", "stage": "weights", "progress": {"current": 2, "total": 3}}',
  );
  lines(
    's1 load',
    T0 + 6010,
    'data: {"status": "loading", "model": "o/m@main", "stage": "weights", "progress": {"current": 1, "total": 3}}',
  );
  lines('s1 load', T0 + 6020, 'data: {"status": "ready", "model": "o/m@main", "cached": false}');
  feed({ kind: 'end', stream: 's1 load', at: T0 + 6021, bytes: 300, how: 'closed' });
  feed({
    kind: 'connecting',
    stream: 's2 chat',
    at: T0 + 7000,
    method: 'POST',
    url: 'http://h/v1/chat/completions',
    attempt: 1,
  });
  feed({ kind: 'answer', stream: 's2 chat', at: T0 + 7001, status: 200, statusText: 'OK', headers: {} });
  lines('s2 chat', T0 + 7100, `data: ${LONG}`, '\n');
  return entries;
}

const base: WireLogViewOptions = { width: 100, height: 50, scroll: 0, mode: 'readable', filter: '', cursor: null };

t.test('readable lines: time, session, stream, gap, mark, payload; a stall marked where it happened', async (t) => {
  const entries = scriptedEntries();
  const view = buildWireLogView(entries, base);
  const plain = view.lines.map((l) => l.plain);
  t.equal(plain[0], '04:00:00.000 s1  load        —   connecting: POST http://h/load_model');
  t.equal(plain[1], '04:00:00.005 s1  load        —   HTTP 200 OK text/event-stream');
  t.match(plain[2], /^04:00:00\.010 s1 {2}load {5}\+5ms {3}\{"status": "loading"/);
  t.equal(plain[3], '── stall: 6.0 s without a frame on s1 load ──', 'the stall comes before the frame that ended it');
  t.match(plain[4], /^04:00:06\.010 s1 {2}load {3}\+6\.00s ! \{"status": "loading"/, 'the fault is marked');
  t.equal(view.lines[4]?.line[0]?.tone, 'error', 'in the error tone');
  t.equal(view.lines[3]?.line[0]?.tone, 'warn', 'the stall in the warning tone');
  t.match(plain.at(-1), /^04:00:07\.100 s2 {2}chat {4}\+99ms {3}\{"id": "chatcmpl-1".*…$/);
  t.equal(plain.at(-1)?.length, 100, 'cut to the width');
  t.equal(view.position, `lines 1–${plain.length} of ${plain.length}`);
});

t.test('the wire view shows every line with its ending', async (t) => {
  const view = buildWireLogView(scriptedEntries(), { ...base, mode: 'wire', width: 200 });
  const plain = view.lines.map((l) => l.plain);
  t.ok(
    plain.some((l) => l.endsWith('"cached": false}\\r\\n')),
    'CRLF visible',
  );
  t.ok(
    plain.some((l) => / \+10ms {3}\\r\\n$/.test(l)),
    'the blank line that ends a frame, visible',
  );
  t.ok(
    plain.some((l) => l.endsWith('\\n') && l.includes('chatcmpl')),
    'LF-only frames too',
  );
});

t.test('filter: only what can be seen matches, and matches are highlighted', async (t) => {
  const entries = scriptedEntries();
  t.equal(buildWireLogView(entries, { ...base, filter: 'unique-tail' }).total, 0, 'hidden past the width: no match');
  t.equal(buildWireLogView(entries, { ...base, width: 300, filter: 'unique-tail' }).total, 1, 'visible: a match');
  const view = buildWireLogView(entries, { ...base, filter: 'READY' });
  t.equal(view.total, 1);
  t.same(
    view.lines[0]?.line.filter((s) => s.tone === 'match').map((s) => s.text),
    ['ready'],
    'the match, as written, highlighted',
  );
  t.equal(view.lines[0]?.line.map((s) => s.text).join(''), view.lines[0]?.plain, 'segments spell the line');
});

t.test('scrolling is bounded by the history and the position is shown; w saves exactly what is shown', async (t) => {
  const entries = scriptedEntries();
  const all = buildWireLogView(entries, base).total;
  const view = buildWireLogView(entries, { ...base, height: 3, scroll: 1_000 });
  t.equal(view.scroll, all - 3, 'past the top: clamped to the oldest line');
  t.equal(view.position, `lines 1–3 of ${all}`);
  t.equal(view.lines.length, 3, 'never a blank pane');
  const text = shownText(view);
  t.equal(text.split('\n').length - 1, 3, 'three lines saved for three shown');
  t.equal(text, view.lines.map((l) => `${l.plain}\n`).join(''));
  t.equal(buildWireLogView(entries, { ...base, height: 3, scroll: -4 }).scroll, 0);
  t.equal(buildWireLogView([], base).position, 'empty');
});

t.test('the inspector: pretty JSON, the bytes, timing, lint findings, the HTTP answer; next fault', async (t) => {
  const entries = scriptedEntries();
  const top = buildWireLogView(entries, { ...base, cursor: null });
  t.ok(top.nextFault !== null, 'next fault finds one');
  const onFault = buildWireLogView(entries, { ...base, cursor: top.nextFault });
  const fault = onFault.selected;
  t.match(fault?.findings, [{ rule: 'progress-backwards' }], 'the cursor is on it');
  t.equal(onFault.nextFault, top.nextFault, 'the only fault: next fault stays');
  const sections = inspectEntry(fault as JournalEntry);
  const by = (title: string) => sections.find((s) => s.title.startsWith(title))?.lines ?? [];
  t.same(by('Payload').slice(0, 3), ['{', '  "status": "loading",', '  "model": "o/m@main",']);
  t.match(by('Wire (')[0], /^data: \{.*\}\\r\\n$/);
  t.match(sections.find((s) => s.title.startsWith('Wire'))?.title, /^Wire \(\d+ bytes\)$/);
  t.same(by('Timing'), ['arrived 04:00:06.010', 'since the previous frame of this stream: +6.00s (a stall)']);
  t.match(by('Lint')[0], /^fault progress-backwards: weights: current went from 2 back to 1$/);
  t.same(by('HTTP answer'), ['200 OK', 'content-type: text/event-stream', 'cache-control: no-cache']);
  t.equal(onFault.lines.filter((l) => l.line[0]?.tone === 'selected').length, 1, 'the cursor line is inverted');
  const small = buildWireLogView(entries, { ...base, height: 2, cursor: top.nextFault });
  t.ok(
    small.lines.some((l) => l.line[0]?.tone === 'selected'),
    'the window scrolls to keep the cursor visible',
  );
  const paused = buildWireLogView(entries, { ...base, untilSeq: 3 });
  t.equal(paused.total, 3, 'paused: only the entries up to the pause');
});
