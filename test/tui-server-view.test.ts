// The server view and the throughput charts on the real dashboard (headless screen), against real modeldeck servers
// on port 0 loading real demo models from the throttled mirror.
import t from 'tap';
import { subscribeLoad } from '../src/client/load-subscription.js';
import { startDashboard } from '../src/tui/dashboard.js';
import { demoModelsDir } from './helpers/demo.js';
import { startTestMirror } from './helpers/stack.js';
import { cellText, startKillableServer, terminal } from './helpers/dashboard.js';
import { until } from './helpers/until.js';
import { startUpstreamStandin } from './helpers/upstream-standin.js';

const TINY = 'modeldeck/tiny-chat';
const TEN = 'modeldeck/chat-10m';
/** A row of a contrib sparkline: nothing but its eight ticks, most of the cell wide (a text gauge starts with `[`). */
const SPARKLINE = /^([▁▂▃▄▅▆▇█]{20,})\s*$/m;

const models = await demoModelsDir([TINY, TEN]);
// ~1 MB at 250 kB/s: about four seconds of download, enough for a chart to move.
const THROTTLE = 250_000;
const mirror = await startTestMirror(models, { throttle: THROTTLE });
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

  input.write('\rtell me a story\r');
  const chatting = await until(
    'the tokens/s chart',
    () => {
      const cell = cellText(dash, 0, 1);
      // A rate under 10 has a decimal (a loaded machine generates slowly): any rate above zero will do.
      const rates = /tokens\/s ([\d.]+) · peak ([\d.]+)/.exec(cell);
      return rates && Number(rates[1]) > 0 && Number(rates[2]) > 0 ? cell : undefined;
    },
    30_000,
  );
  t.match(chatting, SPARKLINE, 'with its sparkline');
});

t.test('the server view, live from the feed, shows a load started by another client', async (t) => {
  const srv = await startKillableServer(mirror.url);
  t.teardown(() => srv.close());
  const { input, output } = terminal();
  const dash = startDashboard({ sessions: [{ server: srv.url, model: TINY }], input, output });
  t.teardown(() => dash.shutdown());
  await until('ready', () => cellText(dash, 0, 1).includes('✓ ready'), 30_000);
  input.write('v');
  await until('the live feed', () => dash.screenText().includes('● live'), 15_000);

  // Another client, not this dashboard, loads a second model on the same server.
  const other = subscribeLoad({ server: srv.url, model: TEN });
  const loading = await until(
    'the other client’s load, with its stage and progress',
    () => {
      const text = dash.screenText();
      // Every row is at main: the table drops `@main`.
      return new RegExp(`${TEN}\\s+loading\\s+download\\s+\\[[█░]+\\]\\s+\\d+%`).test(text) ? text : undefined;
    },
    30_000,
  );
  t.match(loading, `server ${srv.url}`, 'the pane is titled with the server');
  t.match(loading, /MODEL\s+STATE\s+PROGRESS\s+SUBS\s+SIZE/, 'the table header');
  t.match(loading, new RegExp(`${TINY}\\s+resident`), 'this dashboard’s own model, resident');
  t.notMatch(loading, 'no live feed', 'not the fallback');
  // Seen loading: the rest of its download need not crawl.
  mirror.setThrottle(0);
  t.teardown(() => mirror.setThrottle(THROTTLE));
  const outcome = await other;
  t.ok(outcome.ok, 'the other client’s load finished');
  await until('the other model resident', () => new RegExp(`${TEN}\\s+resident`).test(dash.screenText()), 15_000);
  t.ok(
    dash.logEntries().some((e) => e.session.startsWith('feed:') && e.raw.includes(TEN)),
    'the feed’s frames are in the event log, tagged with the server',
  );
});

t.test('killing and restarting the server reconnects the feed', async (t) => {
  // Only the feed is watched here: the model's download need not crawl.
  mirror.setThrottle(0);
  t.teardown(() => mirror.setThrottle(THROTTLE));
  const first = await startKillableServer(mirror.url);
  const { port, cacheDir } = first;
  const { input, output } = terminal();
  const dash = startDashboard({ sessions: [{ server: first.url, model: TINY }], input, output });
  t.teardown(() => dash.shutdown());
  await until('ready', () => cellText(dash, 0, 1).includes('✓ ready'), 30_000);
  input.write('v');
  await until('the live feed', () => dash.screenText().includes('● live'), 15_000);
  await first.kill();
  const lost = await until('the feed lost', () => {
    const text = dash.screenText();
    return text.includes(`✗ ${first.url} unreachable since`) ? text : undefined;
  });
  t.match(lost, /unreachable since \d\d:\d\d:\d\d · (retry in \d+s|reconnecting…)/, 'one line: lost, and retried');
  const second = await startKillableServer(mirror.url, { port, cacheDir });
  t.teardown(() => second.close());
  await until('the feed live again', () => dash.screenText().includes('● live'), 30_000);
  // The restarted server's snapshot: the model is on its disk, no longer in its memory.
  await until('the new snapshot', () => new RegExp(`${TINY}\\s+on-disk`).test(dash.screenText()), 15_000);
});

t.test('cancel from the dashboard ends every subscriber’s stream with CANCELLED', async (t) => {
  // Slow enough (10 MB at 250 kB/s) that the load is still running when it is cancelled.
  const srv = await startKillableServer(mirror.url);
  t.teardown(() => srv.close());
  const { input, output } = terminal();
  const dash = startDashboard({ sessions: [{ server: srv.url, model: TEN }], input, output });
  t.teardown(() => dash.shutdown());
  await until('downloading', () => /download .*\/ [\d.]+ MB/.test(cellText(dash, 0, 1)), 30_000);
  const other = subscribeLoad({ server: srv.url, model: TEN });
  input.write('C');
  await until('the confirmation', () => dash.ui().prompt?.kind === 'cancel');
  const dialog = dash.screenText().replace(/[│\s]+/g, ' ');
  t.match(
    dialog,
    `Cancel the load of ${TEN}@main on ${srv.url}, for every client following it`,
    'asks first, naming who is affected',
  );
  input.write('\x1b[C\r');
  const outcome = await other;
  t.notOk(outcome.ok, 'the other client’s stream ended without ready');
  t.match(!outcome.ok && outcome.failure, { kind: 'server', code: 'CANCELLED' }, 'with the cancelled error');
  const cell = await until('the session says so', () => {
    const text = cellText(dash, 0, 1);
    return text.includes('○ load cancelled · r loads again and resumes') ? text : undefined;
  });
  t.notMatch(cell, '✗ error', 'a load stopped on purpose is not shown as an error');
  t.match(cell, /r loads again/, 'with what to do');
  t.match(dash.screenText(), /cancelled the load of modeldeck\/chat-10m@main/, 'the notice');
  t.equal(dash.sessions()[0]?.phase, 'error', 'no automatic retry of a cancelled load');
});

t.test('a server without the feed (transformers serve) says so and polls /v1/models', async (t) => {
  const upstream = await startUpstreamStandin({ models: [TINY, 'org/other'] });
  t.teardown(() => upstream.close());
  const { input, output } = terminal();
  const dash = startDashboard({ sessions: [{ server: upstream.url, model: TINY }], input, output });
  t.teardown(() => dash.shutdown());
  await until('ready', () => cellText(dash, 0, 1).includes('✓ ready'), 30_000);
  input.write('v');
  const view = await until('the fallback', () => {
    const text = dash.screenText();
    return text.includes('no live feed on this server (404 on /events)') && text.includes('org/other')
      ? text
      : undefined;
  });
  t.match(view, /polling \/v1\/models every 1\.5 s/);
  t.ok(upstream.requests.includes('GET /events'), 'the feed was tried');
  t.ok(upstream.requests.includes('GET /v1/models'), 'then /v1/models polled');
});

t.test(
  'the server view live: SIZE for a model that became resident while watched, SUBS back to 0 when its load ends, a killed server in one line',
  async (t) => {
    const srv = await startKillableServer(mirror.url);
    t.teardown(() => srv.close());
    const doomed = await startKillableServer(mirror.url);
    t.teardown(() => doomed.close());
    // Another client's load is under way (throttled) before the dashboard opens: the feed's snapshot counts it.
    const other = subscribeLoad({ server: srv.url, model: TEN });
    await until('the other load under way', async () => {
      const res = await fetch(`${srv.url}/v1/models`);
      return JSON.stringify(await res.json()).includes('"loading"');
    });
    const { input, output } = terminal();
    const dash = startDashboard({
      sessions: [
        { server: srv.url, model: TINY },
        { server: doomed.url, model: TINY },
      ],
      input,
      output,
    });
    t.teardown(() => dash.shutdown());
    input.write('v');
    const following = await until(
      'the load with its follower',
      () => {
        const text = dash.screenText();
        return new RegExp(`${TEN}\\s+loading\\s+download\\s.*%\\s+1(\\s|$)`).test(text) ? text : undefined;
      },
      30_000,
    );
    t.match(following, /MODEL\s+STATE\s+PROGRESS\s+SUBS/, 'under SUBS');
    mirror.setThrottle(0);
    t.teardown(() => mirror.setThrottle(THROTTLE));
    t.ok((await other).ok, 'the other client’s load finished');
    const resident = await until(
      'the model resident, with its size and no follower',
      () => {
        const text = dash.screenText();
        return new RegExp(`${TEN}\\s+resident\\s+0\\s+(\\d+\\s+)?10\\.\\d MB`).test(text) ? text : undefined;
      },
      30_000,
    );
    t.ok(resident);
    await until('both sessions ready', () => dash.sessions().every((s) => s.phase === 'ready'), 30_000);
    // The session's own model became resident while the feed was watched too.
    await until(
      'the session’s model with its size',
      () => new RegExp(`${TINY}\\s+resident\\s+0\\s+(\\d+\\s+)?1\\.\\d\\d MB`).test(dash.screenText()),
      15_000,
    );
    await until(
      'the killed server’s pane, live first',
      () => dash.screenText().includes(`server ${doomed.url}`),
      15_000,
    );
    await doomed.kill();
    const collapsed = await until('the killed server in one line', () => {
      const text = dash.screenText();
      return text.includes(`✗ ${doomed.url} unreachable since`) ? text : undefined;
    });
    const lines = collapsed.split('\n').filter((l) => l.includes(`✗ ${doomed.url}`));
    t.equal(lines.length, 1, 'one line');
    t.match(lines[0], /unreachable since \d\d:\d\d:\d\d · (retry in \d+s|reconnecting…)/, 'since when, and retried');
    t.notMatch(collapsed, `server ${doomed.url}`, 'no pane of its own');
    t.match(collapsed, new RegExp(`${TEN}\\s+resident`), 'the live server’s pane stays');
  },
);
