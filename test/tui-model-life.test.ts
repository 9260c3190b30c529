// Issue 21, "a session follows its model's life on the server": the real dashboard on a fake terminal beside real
// servers (the mirror on loopback, transformers.js loads) says `unloaded` and why when the model leaves memory (another
// client's unload, the idle timeout, an eviction under --max-models, a restart), loads it again for the next message
// and says so in the reply's figures; a load behind --max-loads waits as "accepted", never as "connecting".
// Assertions read the screen's text, as a person would; the time each change took is reported, not asserted.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { startServer } from '../src/server/start.js';
import { startDashboard, type Dashboard } from '../src/tui/dashboard.js';
import { parseReplayLog } from '../src/tui/replay-log.js';
import { cellText, startKillableServer, terminal } from './helpers/dashboard.js';
import { demoModelsDir } from './helpers/demo.js';
import { createFakeClock } from './helpers/fake-clock.js';
import { gatedLoader } from './helpers/gated-loader.js';
import { startTestMirror } from './helpers/stack.js';
import { until } from './helpers/until.js';

const TINY = 'modeldeck/tiny-chat';
const TEN = 'modeldeck/chat-10m';

/** Cell text with its line breaks (wrapping) folded into spaces, for matching sentences. */
const flat = (text: string): string => text.replace(/\s+/g, ' ');

/** The first session's cell (of `count`), folded. */
const cell = (dash: Dashboard, index = 0, count = 1): string => flat(cellText(dash, index, count));

/** Waits until cell `index` of `count` shows `pattern`; resolves with its text and how long it took. */
async function shows(dash: Dashboard, pattern: RegExp, what: string, index = 0, count = 1) {
  const from = Date.now();
  const text = await until(what, () => {
    const now = cell(dash, index, count);
    return pattern.test(now) ? now : undefined;
  });
  return { text, ms: Date.now() - from };
}

/** POSTs JSON to `url` and reads the answer to its end. */
async function post(url: string, body: unknown): Promise<string> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return response.text();
}

const mirror = await startTestMirror(await demoModelsDir([TINY, TEN]));
t.teardown(() => mirror.close());

/** A dashboard with one session on `server`, ready. */
async function readySession(t: Test, server: string, model = TINY): Promise<Dashboard> {
  const { input, output } = terminal();
  const dash = startDashboard({ sessions: [{ server, model }], input, output, maxTokens: 8 });
  t.teardown(() => dash.shutdown());
  await shows(dash, /✓ ready/, 'the session ready');
  return dash;
}

t.test('another client unloads the model: unloaded, by request; a message loads it again and says so', async (t) => {
  const server = await startKillableServer(mirror.url);
  t.teardown(() => server.close());
  const dash = await readySession(t, server.url);

  await post(`${server.url}/unload_model`, { model: TINY });
  const gone = await shows(dash, /○ unloaded: by another client's request at \d\d:\d\d:\d\d/, 'unloaded on screen');
  t.comment(`shown ${gone.ms} ms after the unload answered`);
  t.notMatch(gone.text, '✓ ready', 'no longer ready');
  t.match(gone.text, 'a message loads it again', 'and it says how to bring it back');
  t.equal(dash.sessions()[0]?.phase, 'unloaded');

  dash.press({ name: 'enter' });
  for (const ch of 'hello') dash.press({ ch, name: ch });
  dash.press({ name: 'enter' });
  const back = await shows(dash, /ttft \S+ \(reloaded\)/, 'the reply and its figures');
  t.match(back.text, /✓ ready · loaded again in [\d.]+s/, 'ready again, saying it was loaded again');
  const reply = dash.sessions()[0]?.transcript.at(-1);
  t.equal(reply?.metrics?.reloaded, true, 'the reply is marked as having reloaded the model');
});

t.test('the idle timeout unloads the model: unloaded, idle timeout', async (t) => {
  const server = await startKillableServer(mirror.url, { serve: { idleTimeoutMs: 1500 } });
  t.teardown(() => server.close());
  const dash = await readySession(t, server.url);
  const gone = await shows(dash, /○ unloaded: idle timeout at /, 'unloaded for idleness');
  t.comment(`shown ${gone.ms} ms after ready (the timeout is 1500 ms)`);
  t.notMatch(gone.text, '✓ ready');
});

t.test('another client loads a model under --max-models 1: unloaded, evicted for another model', async (t) => {
  const server = await startKillableServer(mirror.url, { serve: { maxModels: 1 } });
  t.teardown(() => server.close());
  const dash = await readySession(t, server.url);
  const loaded = await post(`${server.url}/load_model`, { model: TEN });
  t.match(loaded, /"status": "ready"/, 'the other model loaded');
  const gone = await shows(dash, /○ unloaded: evicted for another model at /, 'evicted on screen');
  t.comment(`shown ${gone.ms} ms after the other load ended`);
  t.notMatch(gone.text, '✓ ready');
});

t.test('the server restarts: unreachable while it is away, then unloaded, server restarted', async (t) => {
  const first = await startKillableServer(mirror.url);
  t.teardown(() => first.close());
  const dash = await readySession(t, first.url);
  await first.kill();
  await shows(dash, /⚠ server unreachable since/, 'the server unreachable');
  const second = await startKillableServer(mirror.url, { port: first.port, cacheDir: first.cacheDir });
  t.teardown(() => second.close());
  const back = await shows(dash, /○ unloaded: server restarted at /, 'unloaded after the restart');
  t.comment(`shown ${back.ms} ms after the new server listened (the feed reconnects after 2 s)`);
  t.notMatch(back.text, /✓ ready|unreachable/);
});

t.test('a load behind --max-loads 1 waits as accepted or queued, never as connecting, then loads', async (t) => {
  const gated = gatedLoader();
  const server = await startServer({ loader: gated.loader, maxLoads: 1 });
  t.teardown(() => server.close());
  const { input, output } = terminal();
  const dash = startDashboard({
    sessions: [
      { server: server.url, model: 'org/first' },
      { server: server.url, model: 'org/waiting' },
    ],
    input,
    output,
  });
  t.teardown(() => dash.shutdown());
  const first = await gated.loadStarted('org/first@main');
  const waiting = await shows(dash, /◌ (queued|accepted)/, 'the second load waiting', 1, 2);
  t.notMatch(waiting.text, 'connecting', 'an answered request is never shown as connecting');
  // A server that tells where the load waits (a `queued` event) is read; one that does not is "accepted, waiting".
  t.match(
    waiting.text,
    /◌ queued · 1st · waiting for a load slot \((1 running|held by org\/first)\)|◌ accepted · waiting for the server to start the load/,
  );
  t.equal(dash.sessions()[1]?.phase, 'queued');
  first.release();
  (await gated.loadStarted('org/waiting@main')).release();
  await shows(dash, /✓ ready/, 'the second ready', 1, 2);
});

t.test('a saved log replays what the server said: the session ends unloaded there too', async (t) => {
  const server = await startKillableServer(mirror.url);
  t.teardown(() => server.close());
  const work = await mkdtemp(join(tmpdir(), 'modeldeck-life-'));
  t.teardown(() => rm(work, { recursive: true, force: true }));
  const { input, output } = terminal();
  const dash = startDashboard({ sessions: [{ server: server.url, model: TINY }], input, output, cwd: work });
  t.teardown(() => dash.shutdown());
  await shows(dash, /✓ ready/, 'the session ready');
  await post(`${server.url}/unload_model`, { model: TINY });
  await shows(dash, /○ unloaded: by another client's request/, 'unloaded on screen');
  input.write('l\x13');
  const offered = await until('the save prompt', () =>
    dash.ui().prompt?.kind === 'save' ? dash.ui().prompt?.text : undefined,
  );
  input.write(`${'\x7f'.repeat([...offered].length)}life.jsonl\r`);
  await until('saved', () => dash.screenText().includes('saved '));
  dash.shutdown();

  const parsed = parseReplayLog(await readFile(join(work, 'life.jsonl'), 'utf8'));
  if (!parsed.ok) throw new Error(parsed.message);
  t.ok(
    parsed.records.some((r) => r.kind === 'server' && r.action.type === 'feed' && r.action.update.type === 'unload'),
    'the feed’s unload is in the file',
  );
  const start = parsed.records[0]?.time ?? 0;
  const end = parsed.records.at(-1)?.time ?? 0;
  const clock = createFakeClock(start);
  const term = terminal();
  const again = startDashboard({ replay: { records: parsed.records }, clock, input: term.input, output: term.output });
  t.teardown(() => again.shutdown());
  clock.advance(end - start + 1);
  t.match(cell(again), /○ unloaded: by another client's request at /, 'replayed: unloaded, and why');
  t.equal(again.sessions()[0]?.phase, 'unloaded');
});
