import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { openServerFeed, type FeedStatus } from '../src/client/server-feed.js';
import { startTestServer } from './helpers/stack.js';
import { until } from './helpers/until.js';

// A feed is live from its first frame or comment, not from its response's headers: until then what a client holds
// is from before the (re)connect, and a restarted server may have lost all of it (the dashboard once flashed
// "✓ ready" for a model the restart had unloaded).

t.test('a modeldeck server: live only once the snapshot is in', async (t) => {
  const server = await startTestServer({ hubUrl: 'http://127.0.0.1:9' });
  t.teardown(() => server.close());
  const seen: string[] = [];
  const feed = openServerFeed({
    server: server.url,
    onStatus: (s) => seen.push(`status ${s.state}`),
    onUpdate: (u) => seen.push(`update ${u.type}`),
  });
  t.teardown(() => feed.close());
  await until('live', () => seen.includes('status live'));
  t.strictSame(seen.slice(0, 3), ['status connecting', 'update snapshot', 'status live']);
});

t.test('a feed that answers and stays silent is not live until it says something', async (t) => {
  const open: ServerResponse[] = [];
  const silent = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.flushHeaders();
    open.push(res);
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const res of open) res.destroy();
    silent.close();
  });
  const statuses: FeedStatus[] = [];
  const feed = openServerFeed({
    server: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`,
    onStatus: (s) => statuses.push(s),
    onUpdate: () => undefined,
  });
  t.teardown(() => feed.close());
  await until('the feed asked', () => open.length > 0);
  // The headers are out; the old client called this live at once. Give it time to (wrongly) say so.
  await sleep(300);
  t.strictSame(
    statuses.map((s) => s.state),
    ['connecting'],
    'headers alone: still connecting',
  );
  open[0]?.write(': keep-alive\n\n');
  await until('live after a comment', () => statuses.some((s) => s.state === 'live'));
  t.strictSame(
    statuses.map((s) => s.state),
    ['connecting', 'live'],
  );
});
