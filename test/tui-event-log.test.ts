// The raw event log: bounded ring buffer, filters, pause count, JSONL export without keys.
import t from 'tap';
import {
  countAfter,
  createEventLog,
  matchesFilter,
  NO_FILTER,
  redactSecrets,
  selectWindow,
  toJsonl,
} from '../src/tui/event-log.js';

t.test('the history is bounded: the oldest entries go, seq keeps counting', async (t) => {
  const log = createEventLog(3);
  for (let i = 1; i <= 5; i++) t.equal(log.append(i, 's1', 'data', `e${i}`), i);
  t.equal(log.size(), 3);
  t.equal(log.lastSeq(), 5);
  t.same(
    log.toArray().map((e) => e.raw),
    ['e3', 'e4', 'e5'],
  );
  t.equal(log.fromEnd(0)?.raw, 'e5');
  t.equal(log.fromEnd(2)?.raw, 'e3');
  t.equal(log.fromEnd(3), undefined);
  t.throws(() => createEventLog(0), RangeError);
  const big = createEventLog(1000);
  for (let i = 0; i < 100_000; i++) big.append(i, 's1', 'data', 'x');
  t.equal(big.size(), 1000, 'a long run keeps only the bound');
});

t.test('filters by session and by text (case-insensitive)', async (t) => {
  const log = createEventLog(10);
  log.append(1, 's1', 'data', '{"stage": "download"}');
  log.append(2, 's2', 'data', '{"stage": "Download"}');
  log.append(3, 's1', 'comment', 'keep-alive');
  log.append(4, 's2', 'other', 'HTTP 401');
  const window = (session: string | null, text: string) =>
    selectWindow(log, { filter: { session, text }, untilSeq: null, scroll: 0, height: 10 }).map((e) => e.seq);
  t.same(window(null, ''), [1, 2, 3, 4]);
  t.same(window('s1', ''), [1, 3]);
  t.same(window(null, 'download'), [1, 2]);
  t.same(window('s2', 'DOWNLOAD'), [2]);
  t.ok(matchesFilter(log.fromEnd(0)!, NO_FILTER));
});

t.test('the window: newest at the bottom, scrolling, paused position, new-line count', async (t) => {
  const log = createEventLog(100);
  for (let i = 1; i <= 20; i++) log.append(i, i % 2 ? 's1' : 's2', 'data', `e${i}`);
  const seqs = (w: Partial<Parameters<typeof selectWindow>[1]>) =>
    selectWindow(log, { filter: NO_FILTER, untilSeq: null, scroll: 0, height: 3, ...w }).map((e) => e.seq);
  t.same(seqs({}), [18, 19, 20], 'following: the newest lines');
  t.same(seqs({ scroll: 2 }), [16, 17, 18], 'scrolled up two');
  t.same(seqs({ untilSeq: 10 }), [8, 9, 10], 'paused at 10');
  t.same(seqs({ scroll: 100 }), [], 'scrolled past the top');
  t.same(seqs({ height: 0 }), []);
  t.same(seqs({ filter: { session: 's1', text: '' }, untilSeq: 10 }), [5, 7, 9]);
  t.equal(countAfter(log, 10, NO_FILTER), 10, 'ten new lines since the pause');
  t.equal(countAfter(log, 10, { session: 's2', text: '' }), 5, 'five of them from s2');
  t.equal(countAfter(log, 20, NO_FILTER), 0);
});

t.test('JSONL: one object per line with time, session, kind, raw; keys never written', async (t) => {
  const log = createEventLog(10);
  log.append(Date.UTC(2026, 0, 2, 3, 4, 5, 6), 's1', 'data', '{"status": "ready", "model": "a@main", "cached": true}');
  log.append(Date.UTC(2026, 0, 2, 3, 4, 6), 's2', 'other', 'HTTP 401 {"error": {"message": "bad key sk-\\"secret"}}');
  log.append(Date.UTC(2026, 0, 2, 3, 4, 7), 's2', 'comment', 'keep-alive');
  const text = toJsonl(log.toArray(), ['sk-"secret']);
  const lines = text.trimEnd().split('\n');
  t.equal(lines.length, 3);
  t.ok(text.endsWith('\n'));
  t.same(JSON.parse(lines[0] ?? ''), {
    time: '2026-01-02T03:04:05.006Z',
    session: 's1',
    kind: 'data',
    raw: '{"status": "ready", "model": "a@main", "cached": true}',
  });
  t.notMatch(text, 'secret', 'the key is not in the file, even JSON-escaped');
  t.match(JSON.parse(lines[1] ?? '').raw, '[redacted]');
  t.same(JSON.parse(lines[2] ?? ''), {
    time: '2026-01-02T03:04:07.000Z',
    session: 's2',
    kind: 'comment',
    raw: 'keep-alive',
  });
  t.equal(redactSecrets('a KEY b KEY', ['KEY', '']), 'a [redacted] b [redacted]');
});
