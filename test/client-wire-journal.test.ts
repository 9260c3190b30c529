import t from 'tap';
import { createWireJournal, type JournalEntry } from '../src/client/wire-journal.js';
import { createWireTap } from '../src/client/wire-tap.js';
import { startUpstreamStandin } from './helpers/upstream-standin.js';

const MODEL = 'org/model';

/** Loads through a tap into a journal and returns the entries. */
async function journalOf(url: string, stallMs: number): Promise<JournalEntry[]> {
  const entries: JournalEntry[] = [];
  const journal = createWireJournal({ onEntry: (e) => entries.push(e), stallMs });
  const tap = createWireTap({ onRecord: (r) => journal.feed(r), now: () => performance.now() });
  const res = await tap.fetchFor('s1 load')(`${url}/load_model`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL }),
  });
  await res.text();
  return entries;
}

t.test(
  'a load stream: life, frames with gaps, the stall where it happened, lint findings on their frame',
  async (t) => {
    const upstream = await startUpstreamStandin({
      models: [MODEL],
      frameMs: 10,
      quietMs: 400,
      breaks: 'progress-backwards',
    });
    t.teardown(() => upstream.close());
    const entries = await journalOf(upstream.url, 300);

    t.same(
      entries.map((e) => e.kind),
      ['connecting', 'answer', ...Array<string>(9).fill('event'), 'end'],
      'connecting, the answer, nine frames, the end',
    );
    t.match(entries[0]?.text, `connecting: POST ${upstream.url}/load_model`);
    t.equal(entries[1]?.text, 'HTTP 200 OK text/event-stream; charset=utf-8');
    t.same(
      entries.map((e) => e.seq),
      entries.map((_, i) => i + 1),
      'seq counts entries',
    );
    const frames = entries.filter((e) => e.kind === 'event');
    t.ok(
      frames.every((e) => e.gapMs !== null && e.gapMs >= 0),
      'every frame has its gap',
    );
    t.ok(
      frames.every((e) => e.answer?.status === 200),
      'and its stream’s answer',
    );
    t.same(
      frames.filter((e) => e.stall).map((e) => e.text),
      [
        `{"status": "loading", "model": "${MODEL}@main", "stage": "download", "progress": {"current": 4000, "total": 9000}}`,
      ],
      'the stall is marked on the frame that ended the silence',
    );
    const faulty = frames.filter((e) => e.findings.some((f) => f.severity === 'fault'));
    t.equal(faulty.length, 1, 'one frame carries a fault');
    t.match(faulty[0]?.findings, [{ rule: 'progress-backwards' }]);
    t.match(faulty[0]?.text, /"current": 100/);
    t.same(
      frames[0]?.lines.map((l) => [l.field, l.ending]),
      [
        ['data', '\n'],
        ['blank', '\n'],
      ],
      'the frame’s lines as sent',
    );
    t.match(entries.at(-1), { kind: 'end', text: /^closed by the server after \d+ bytes$/ });
  },
);

t.test('a stream that ends early: no-terminal lands on the end entry', async (t) => {
  const upstream = await startUpstreamStandin({ models: [MODEL], breaks: 'no-terminal' });
  t.teardown(() => upstream.close());
  const entries = await journalOf(upstream.url, 10_000);
  t.match(entries.at(-1), { kind: 'end', findings: [{ rule: 'no-terminal', severity: 'fault' }] });
  t.equal(entries.filter((e) => e.stall).length, 0, 'no stall at this threshold');
});

t.test('comments, fields without data, an error answer and a reconnect attempt', async (t) => {
  const entries: JournalEntry[] = [];
  const journal = createWireJournal({ onEntry: (e) => entries.push(e) });
  const line = (text: string, ending: '\n' | '\r\n' = '\n') => {
    const [field, ...rest] = text.split(':');
    return {
      text,
      ending,
      field: (text === '' ? 'blank' : text.startsWith(':') ? 'comment' : field) as 'data',
      value: rest.join(':').trimStart(),
    };
  };
  const at = 0;
  journal.feed({ kind: 'connecting', stream: 'feed', at, method: 'GET', url: 'http://x/events', attempt: 1 });
  journal.feed({
    kind: 'answer',
    stream: 'feed',
    at,
    status: 200,
    statusText: 'OK',
    headers: { 'content-type': 'text/event-stream' },
  });
  for (const l of [': keep-alive', '', 'retry: 10', ''])
    journal.feed({ kind: 'line', stream: 'feed', at: 5, line: line(l), frame: 0 });
  journal.feed({ kind: 'error', stream: 'feed', at: 6, message: 'the server closed the connection (UND_ERR_SOCKET)' });
  journal.feed({ kind: 'connecting', stream: 'feed', at: 7, method: 'GET', url: 'http://x/events', attempt: 2 });
  journal.feed({ kind: 'answer', stream: 'feed', at: 8, status: 401, statusText: 'Unauthorized', headers: {} });
  t.same(
    entries.map((e) => [e.kind, e.text, e.attempt]),
    [
      ['connecting', 'connecting: GET http://x/events', 1],
      ['answer', 'HTTP 200 OK text/event-stream', 1],
      ['comment', ': keep-alive', 1],
      ['fields', 'retry: 10', 1],
      ['error', 'error: the server closed the connection (UND_ERR_SOCKET)', 1],
      ['connecting', 'connecting: GET http://x/events (reconnect attempt 2)', 2],
      ['answer', 'HTTP 401 Unauthorized no content type', 2],
    ],
  );
  t.same(
    entries.flatMap((e) => e.findings),
    [],
    'a GET feed is not linted as a load',
  );
});
