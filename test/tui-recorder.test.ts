// The recorder alone: one record() into the dashboard's bounded stores, redaction on the way in, trimming that keeps
// the newest, and nothing kept once the model has closed.
import t from 'tap';
import type { WireRecord } from '../src/client/wire-tap.js';
import { createRecorder, wireRecord } from '../src/tui/recorder.js';

function setup(capacity: number) {
  let closed = false;
  let changes = 0;
  const recorder = createRecorder({
    capacity,
    secrets: () => ['sk-secret'],
    closed: () => closed,
    onChange: () => void changes++,
  });
  return { recorder, close: () => void (closed = true), changes: () => changes };
}

const connecting = (stream: string, at: number): WireRecord => ({
  kind: 'connecting',
  stream,
  at,
  method: 'POST',
  url: 'http://127.0.0.1:9/events',
  attempt: 1,
});

t.test('a frame goes to the event log, its secrets redacted, and the screen is told', async (t) => {
  const r = setup(10);
  r.recorder.record({ time: 5, session: 's1', kind: 'data', raw: '{"key":"sk-secret"}' });
  t.same(
    r.recorder.log.toArray().map((e) => [e.time, e.session, e.kind, e.raw]),
    [[5, 's1', 'data', '{"key":"[redacted]"}']],
  );
  t.equal(r.changes(), 1);
});

t.test('wire records make journal entries, redacted; w gets the opens, the updates and the wire records', async (t) => {
  const r = setup(10);
  const open = { time: 1, session: 's1', kind: 'open', server: 'http://127.0.0.1:9', model: 'a/b' } as const;
  const update = { time: 2, session: 's1', kind: 'update', update: { type: 'connecting', at: 2, attempt: 1 } } as const;
  const wire = wireRecord({ kind: 'error', stream: 's1 load', at: 3, message: 'refused with sk-secret' });
  t.same(wire, {
    time: 3,
    session: 's1',
    kind: 'wire',
    record: { kind: 'error', stream: 's1 load', at: 3, message: 'refused with sk-secret' },
  });
  r.recorder.record(wire);
  r.recorder.record(update);
  r.recorder.record(open);
  t.same(r.recorder.sessionRecords(), [open, update, wire], 'opens first, then updates, then wire records');
  const journal = r.recorder.journal();
  t.equal(journal.length, 1);
  t.match(journal[0], { stream: 's1 load', kind: 'error', text: /refused with \[redacted\]/ });
  t.equal(r.changes(), 1, 'only what the screen shows marks it dirty');
});

t.test(
  'trimmed: the journal shows its newest `capacity` entries; updates and wires keep at least 4 and 8 times that',
  async (t) => {
    const r = setup(3);
    for (let i = 1; i <= 50; i++) {
      r.recorder.record(wireRecord(connecting(`s${i} feed`, i)));
      r.recorder.record({ time: i, session: 's1', kind: 'update', update: { type: 'connecting', at: i, attempt: i } });
    }
    t.same(
      r.recorder.journal().map((e) => e.at),
      [48, 49, 50],
      'the newest three',
    );
    const kept = r.recorder.sessionRecords();
    const updates = kept.filter((x) => x.kind === 'update').map((x) => x.time);
    const wires = kept.filter((x) => x.kind === 'wire').map((x) => x.time);
    t.ok(
      updates.length >= 12 && updates.length < 24,
      `updates kept between 4 and 8 times capacity (${updates.length})`,
    );
    t.equal(updates.at(-1), 50, 'the newest update kept');
    t.same(
      updates,
      [...updates].sort((a, b) => a - b),
      'in order',
    );
    t.ok(wires.length >= 24 && wires.length <= 50, `wire records kept at least 8 times capacity (${wires.length})`);
    t.equal(wires.at(-1), 50, 'the newest wire record kept');
  },
);

t.test('nothing is kept once the model has closed', async (t) => {
  const r = setup(10);
  r.close();
  r.recorder.record({ time: 1, session: 's1', kind: 'open', server: 'http://x', model: 'a/b' });
  r.recorder.record({ time: 1, session: 's1', kind: 'comment', raw: 'heartbeat' });
  r.recorder.record(wireRecord(connecting('s1 load', 1)));
  t.same(r.recorder.sessionRecords(), []);
  t.equal(r.recorder.log.size(), 0);
  t.same(r.recorder.journal(), []);
  t.equal(r.changes(), 0);
});
