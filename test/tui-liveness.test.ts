// Issue 13, "Liveness you can trust" and item 7: the dashboard on a headless terminal (as in test/tui-dashboard.test.ts)
// says what it cannot know from a quiet screen: a port Node's fetch refuses, a server that died under a ready session.
// Assertions read the screen's text, as a person would.
import t from 'tap';
import { startDashboard } from '../src/tui/dashboard.js';
import { cellText, startKillableServer, terminal } from './helpers/dashboard.js';
import { demoModelsDir } from './helpers/demo.js';
import { startTestMirror } from './helpers/stack.js';
import { until } from './helpers/until.js';

const MODEL = 'modeldeck/tiny-chat';

/** Cell text with its line breaks (wrapping) folded into spaces, for matching sentences. */
const flat = (text: string): string => text.replace(/\s+/g, ' ');

t.test(
  'a session on a port fetch refuses (6000) ends in an error that says so and why, and does not retry',
  async (t) => {
    const { input, output } = terminal();
    const requests: string[] = [];
    const dash = startDashboard({
      sessions: [{ server: 'http://127.0.0.1:6000', model: MODEL }],
      input,
      output,
      fetch: (url, init) => {
        requests.push(url instanceof Request ? url.url : String(url));
        return fetch(url, init);
      },
      // Short waits, so that a reconnect loop would show within the test.
      backoff: { initialMs: 50, maxMs: 100 },
    });
    t.teardown(() => dash.shutdown());
    const text = await until('the session in error', () => {
      const s = dash.sessions()[0];
      return s?.phase === 'error' ? flat(cellText(dash, 0, 1)) : undefined;
    });
    t.match(text, '✗ error', 'the session is in error, not reconnecting');
    t.match(text, "the port is refused by Node's HTTP client", 'it says the port is refused by the HTTP client');
    t.match(text, 'run the server on another port', 'and what to do');
    // Longer than the feed's 2 s reconnect delay, so that a feed retrying the port would show.
    await new Promise((r) => setTimeout(r, 2500));
    const s = dash.sessions()[0];
    t.equal(s?.phase, 'error', 'still in error seconds later');
    t.equal(s?.attempt, 1, 'one attempt: no reconnect loop');
    t.equal(s?.retryAt, null, 'no retry planned');
    t.equal(requests.filter((u) => u.endsWith('/load_model')).length, 1, 'one POST /load_model tried');
    t.ok(requests.filter((u) => u.endsWith('/events')).length <= 1, 'and the server feed gave up too');
  },
);

t.test('a ready session notices within seconds that its server died, and clears once it is back', async (t) => {
  const hub = await startTestMirror(await demoModelsDir());
  t.teardown(() => hub.close());
  const first = await startKillableServer(hub.url);
  const { input, output } = terminal();
  const dash = startDashboard({ sessions: [{ server: first.url, model: MODEL }], input, output });
  t.teardown(() => dash.shutdown());
  await until('the session ready', () => dash.sessions()[0]?.phase === 'ready');
  t.match(flat(cellText(dash, 0, 1)), '✓ ready', 'ready while the server runs');

  const killedAt = Date.now();
  await first.kill();
  const lost = await until(
    'the session saying its server is unreachable',
    () => {
      const text = flat(cellText(dash, 0, 1));
      return text.includes('server unreachable since') ? text : undefined;
    },
    10_000,
  );
  t.comment(`noticed after ${Date.now() - killedAt} ms`);
  t.match(lost, /⚠ server unreachable since \d\d:\d\d:\d\d · reconnecting/, 'the ready session says so, with the time');
  t.notMatch(lost, '✓ ready', 'and no longer claims ready');

  // The same server back on the same port (its cache kept): the feed reconnects and the warning goes.
  const second = await startKillableServer(hub.url, { port: first.port, cacheDir: first.cacheDir });
  t.teardown(() => second.close());
  t.teardown(() => first.close());
  // The feed says it is live when the server answers, and the snapshot that tells the restart follows in a moment:
  // wait for what the server holds, not for the warning to go.
  const back = await until(
    'the warning cleared and the server’s answer shown',
    () => {
      const text = flat(cellText(dash, 0, 1));
      return text.includes('unreachable') || !text.includes('unloaded') ? undefined : text;
    },
    20_000,
  );
  // A restarted server holds nothing in memory: the session says so rather than ready (a message loads it again).
  t.match(back, /○ unloaded: server restarted at /, 'once the server answers, what it holds now');
  t.notMatch(back, '✓ ready');
});

t.test(
  'a download the hub stops feeding (a mirror stall fault) shows the stall, counting up, with no speed or ETA',
  async (t) => {
    // The weights stop after 200 kB and the connection stays open: the server's stall timeout (30 s) is far off.
    const hub = await startTestMirror(await demoModelsDir(), {
      faults: [{ kind: 'stall', path: 'onnx/*', afterBytes: 200_000 }],
    });
    t.teardown(() => hub.close());
    const server = await startKillableServer(hub.url);
    t.teardown(() => server.close());
    const { input, output } = terminal();
    const dash = startDashboard({ sessions: [{ server: server.url, model: MODEL }], input, output });
    t.teardown(() => dash.shutdown());
    await until('download bytes', () => (dash.sessions()[0]?.download?.current ?? 0) > 0);
    const gaugeLabel = (): string | undefined =>
      cellText(dash, 0, 1)
        .split('\n')
        .map((l) => l.trim())
        .find((l) => l.startsWith('download ') && l.includes(' / '));
    const first = await until(
      'the stall on screen',
      () => {
        const label = gaugeLabel();
        return label?.includes('stalled · no data for') ? label : undefined;
      },
      15_000,
    );
    t.comment(first);
    t.match(first, /stalled · no data for \d+ s/, 'the download says it is stalled');
    t.notMatch(first, /B\/s|ETA/, 'with no speed and no ETA');
    const seconds = (label: string): number => Number(/no data for (\d+) s/.exec(label)?.[1]);
    const later = await until(
      'the seconds counting up',
      () => {
        const label = gaugeLabel();
        return label !== undefined && seconds(label) > seconds(first) ? label : undefined;
      },
      5000,
    );
    t.ok(seconds(later) > seconds(first), `counting up: ${seconds(first)} s, then ${seconds(later)} s`);
    t.equal(dash.sessions()[0]?.phase, 'loading', 'still loading: the server has not given up');
  },
);
