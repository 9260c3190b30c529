// The server view's header line (issue 24): the process's resident memory as the feed last told it (a snapshot's
// `memory`, then each `memory` event), and the pulls under way with their stage and percentage, gone when they end.
// Pure: the reducer and the pane's content, as a person would read them.
import t from 'tap';
import { createServerState, reduceServer, type ServerState } from '../src/tui/server-state.js';
import { serverPaneContent } from '../src/tui/server-view.js';
import type { Line } from '../src/tui/view-model.js';

const NOW = Date.UTC(2026, 2, 19, 10, 0, 0);
const text = (lines: readonly Line[]): string[] => lines.map((l) => l.map((s) => s.text).join(''));
const header = (s: ServerState): string =>
  text(serverPaneContent(s, [], { width: 120, height: 12, now: NOW }).lines)[0] ?? '';

t.test('rss from the snapshot, then from each memory event; pulls while under way', async (t) => {
  let s = reduceServer(createServerState('http://a:1'), {
    type: 'feed-status',
    at: NOW - 60_000,
    status: { state: 'live', since: NOW - 60_000 },
  });
  t.notMatch(header(s), /rss/, 'nothing said yet: no figure');
  s = reduceServer(s, {
    type: 'feed',
    at: NOW - 60_000,
    update: {
      type: 'snapshot',
      models: [],
      pulls: [{ model: 'o/big@main', stage: 'download', progress: { current: 25, total: 100 } }],
      memory: { rssBytes: 412_000_000, weightsBytes: 0, budgetBytes: null },
    },
  });
  t.match(header(s), /^● live · feed since 1m00s · 1 event · rss 412 MB · pulling o\/big@main download 25%$/);
  const pull = (event: object): void => {
    s = reduceServer(s, { type: 'feed', at: NOW, update: { type: 'pull', event: event as never } });
  };
  pull({ status: 'loading', model: 'o/big@main', stage: 'download', progress: { current: 50, total: 100 } });
  t.match(header(s), /pulling o\/big@main download 50%$/, 'the pull moved');
  pull({ status: 'ready', model: 'o/big@main', cached: false, size_bytes: 100, dtype: 'q8' });
  t.notMatch(header(s), /pulling/, 'the pull ended: no longer shown');
  t.strictSame(s.rows, {}, 'and no row: a pulled model is not in memory');
  s = reduceServer(s, {
    type: 'feed',
    at: NOW,
    update: { type: 'memory', memory: { rssBytes: 1_250_000_000, weightsBytes: 0, budgetBytes: null } },
  });
  t.match(header(s), /· rss 1\.25 GB$/, 'the memory event’s figure');
});
