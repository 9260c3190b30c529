// The server view and the throughput charts on the real dashboard (headless screen), against real modeldeck servers
// on port 0 loading real demo models from the throttled mirror.
import t from 'tap';
import { subscribeLoad } from '../src/client/load-subscription.js';
import { startDashboard } from '../src/tui/dashboard.js';
import { demoModelsDir } from './helpers/demo.js';
import { startTestMirror } from './helpers/stack.js';
import { cellText, startKillableServer, terminal } from './helpers/dashboard.js';
import { until } from './helpers/until.js';

const TINY = 'modeldeck/tiny-chat';
const TEN = 'modeldeck/chat-10m';
/** A row of a contrib sparkline: nothing but its eight ticks, most of the cell wide (a text gauge starts with `[`). */
const SPARKLINE = /^([▁▂▃▄▅▆▇█]{20,})\s*$/m;

const models = await demoModelsDir([TINY, TEN]);
// ~1 MB at 250 kB/s: about four seconds of download, enough for a chart to move.
const mirror = await startTestMirror(models, { throttle: 250_000 });
t.teardown(() => mirror.close());

t.test('the download chart appears with a real load and moves; the tokens/s chart with a real chat', async (t) => {
  const srv = await startKillableServer(mirror.url);
  t.teardown(() => srv.close());
  const { input, output } = terminal();
  const dash = startDashboard({ sessions: [{ server: srv.url, model: TINY }], input, output, maxTokens: 64 });
  t.teardown(() => dash.shutdown());

  const titles = new Set<string>();
  const sparks = new Set<string>();
  await until(
    'ready',
    () => {
      const cell = cellText(dash, 0, 1);
      const title = /download [\d.]+ [kM]?B\/s · peak [\d.]+ [kM]?B\/s/.exec(cell)?.[0];
      if (title !== undefined) titles.add(title);
      const spark = SPARKLINE.exec(cell)?.[1];
      if (spark !== undefined) sparks.add(spark);
      return cell.includes('✓ ready');
    },
    30_000,
  );
  t.ok(titles.size >= 2, `the chart's figures changed while loading: ${[...titles].join(' | ')}`);
  t.ok(sparks.size >= 2, `the sparkline moved: ${[...sparks].join(' | ')}`);
  t.ok(
    [...sparks].some((spark) => /[▂▃▄▅▆▇█]/.test(spark)),
    'and rose above its floor',
  );
  t.ok(
    [...titles].some((title) => !/download 0 B\/s · peak 0 B\/s/.test(title)),
    'a non-zero rate was shown',
  );

  input.write('tell me a story\r');
  const chatting = await until(
    'the tokens/s chart',
    () => {
      const cell = cellText(dash, 0, 1);
      return /tokens\/s [1-9]\d* · peak [1-9]\d*/.test(cell) ? cell : undefined;
    },
    30_000,
  );
  t.match(chatting, SPARKLINE, 'with its sparkline');
});

t.test('the server view lists every model on the server, a load started by another client included', async (t) => {
  const srv = await startKillableServer(mirror.url);
  t.teardown(() => srv.close());
  const { input, output } = terminal();
  const dash = startDashboard({ sessions: [{ server: srv.url, model: TINY }], input, output });
  t.teardown(() => dash.shutdown());
  await until('ready', () => cellText(dash, 0, 1).includes('✓ ready'), 30_000);

  // Another client, not this dashboard, loads a second model on the same server.
  const other = subscribeLoad({ server: srv.url, model: TEN });
  input.write('v');
  const view = await until(
    'the other client’s model in the server view',
    () => {
      const text = dash.screenText();
      return text.includes(`${TEN}@main`) ? text : undefined;
    },
    30_000,
  );
  t.match(view, `server ${srv.url}`, 'the pane is titled with the server');
  t.match(view, /MODEL\s+STATE\s+STAGE\s+PROGRESS\s+SUBS\s+SIZE/, 'the table header');
  t.match(view, new RegExp(`${TINY}@main\\s+resident`), 'this dashboard’s model, resident');
  const outcome = await other;
  t.ok(outcome.ok, 'the other client’s load finished');
  await until('the other model resident', () => new RegExp(`${TEN}@main\\s+resident`).test(dash.screenText()), 15_000);
  input.write('v');
  await until('back to the sessions', () => cellText(dash, 0, 1).includes('✓ ready'));
});
