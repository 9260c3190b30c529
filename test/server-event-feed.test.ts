import t from 'tap';
import { createEventFeed } from '../src/server/event-feed.js';

const idOf = (frame: string): string => /^id: (.*)$/m.exec(frame)?.[1] ?? '';

t.test('events are numbered, encoded once and sent to every watcher', async (t) => {
  const feed = createEventFeed({ historySize: 10, boot: 'run1' });
  const a: string[] = [];
  const b: string[] = [];
  const stopA = feed.watch({ sendFrame: (frame) => a.push(frame) });
  feed.watch({ sendFrame: (frame) => b.push(frame) });
  t.equal(feed.watchers, 2);
  feed.publish('unload', '{"model":"a/b@main","reason":"idle"}');
  feed.publish('chat_start', '{"model":"a/b@main","request":"r"}');
  t.equal(a[0], 'event: unload\nid: run1-1\ndata: {"model":"a/b@main","reason":"idle"}\n\n');
  t.strictSame(a, b);
  t.equal(a[0], b[0], 'the same string for every watcher');
  stopA();
  feed.publish('chat_end', '{}');
  t.equal(a.length, 2, 'a stopped watcher gets nothing more');
  t.equal(b.length, 3);
  feed.watch({
    sendFrame() {
      throw new Error('broken socket');
    },
  });
  feed.publish('chat_start', '{}');
  t.equal(b.length, 4, 'a watcher that throws does not starve the others');
  t.equal(feed.watchers, 1, 'and is dropped');
});

t.test('since() replays from the history, or asks for a snapshot', async (t) => {
  const feed = createEventFeed({ historySize: 3, boot: 'run1' });
  t.strictSame(feed.since('run1-0'), [], 'nothing happened yet: nothing missed');
  t.equal(idOf(feed.snapshot([])), 'run1-0', 'a snapshot before any event has id 0');
  for (let i = 0; i < 5; i += 1) feed.publish('chat_start', `{"n":${i}}`);
  t.strictSame(feed.since('run1-4')?.map(idOf), ['run1-5']);
  t.strictSame(feed.since('run1-2')?.map(idOf), ['run1-3', 'run1-4', 'run1-5'], 'the oldest kept follows it');
  t.strictSame(feed.since('run1-5'), [], 'up to date');
  t.equal(feed.since('run1-1'), undefined, 'run1-2 is gone: a snapshot');
  t.equal(feed.since('run1-6'), undefined, 'an id from the future: a snapshot');
  t.equal(feed.since('run0-4'), undefined, 'another run: a snapshot');
  t.equal(feed.since('garbage'), undefined);
  const snapshot = feed.snapshot([{ model: 'a/b@main', state: 'cached' }]);
  t.equal(snapshot, 'event: snapshot\nid: run1-5\ndata: {"models":[{"model":"a/b@main","state":"cached"}]}\n\n');
});
