// The model prompt completes from the server's GET /v1/models, on the real dashboard (headless terminal) against a
// real modeldeck server with an API key: `a`, Enter for the default server, a prefix and Tab give the served id, and
// the session opens on it; a server that refuses the list says so, and typing the id still works.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { startDashboard } from '../src/tui/dashboard.js';
import { demoModelsDir } from './helpers/demo.js';
import { createFakeClock } from './helpers/fake-clock.js';
import { startTestMirror } from './helpers/stack.js';
import { cellText, startKillableServer, terminal } from './helpers/dashboard.js';
import { until } from './helpers/until.js';

const MODEL = 'modeldeck/tiny-chat';
const SERVED = `${MODEL}@main`;
const KEY = 'list-key-789';

const mirror = await startTestMirror(await demoModelsDir());
t.teardown(() => mirror.close());
const srv = await startKillableServer(mirror.url, { apiKey: KEY });
t.teardown(() => srv.close());

// The model is on the server before the dashboard starts (no session, so no feed, tells the dashboard of it).
const loaded = await fetch(`${srv.url}/load_model`, {
  method: 'POST',
  headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
  body: JSON.stringify({ model: MODEL }),
});
const loadBody = await loaded.text();
if (!loadBody.includes('"ready"')) throw new Error(`the model did not load: ${loadBody}`);

/** The status bar: the screen's last line. */
const statusBar = (screen: string): string => screen.trimEnd().split('\n').at(-1) ?? '';

t.test('a, Enter, a prefix and Tab complete to the id the server lists; the session opens on it', async (t) => {
  const { input, output } = terminal();
  const dash = startDashboard({ defaultServer: srv.url, defaultApiKey: KEY, input, output, maxTokens: 8 });
  t.teardown(() => dash.shutdown());

  input.write('\x0e');
  input.write('\r');
  await until('the model prompt', () => dash.ui().prompt?.kind === 'add-model');
  // Listed with the --api-key key (without it the server answers 401 and nothing is offered).
  const offered = await until('the listed ids', () => {
    const bar = statusBar(dash.screenText());
    return bar.includes(`on server: ${SERVED}`) ? bar : undefined;
  });
  t.notMatch(offered, KEY, 'the key is never shown');
  input.write('modeldeck/ti');
  await until('the prefix typed', () => dash.ui().prompt?.text === 'modeldeck/ti');
  input.write('\t');
  await until('the completion', () => dash.ui().prompt?.text === SERVED);
  t.equal(dash.ui().prompt?.kind, 'add-model', 'Tab completes in place: the prompt stays on the model');
  t.match(statusBar(dash.screenText()), `${SERVED}█`, 'the completed id is in the prompt');

  input.write('\r');
  await until('the key prompt', () => dash.ui().prompt?.kind === 'add-key');
  input.write('\r');
  await until('s1 ready', () => cellText(dash, 0, 1).includes('✓ ready'));
  t.equal(dash.sessions()[0]?.model, SERVED, 'the session opened on the completed id');
  t.notMatch(dash.screenText(), KEY, 'nor is the key on screen anywhere');
});

t.test('a server refusing the list says so; typing an id still works', async (t) => {
  const { input, output } = terminal();
  // No --api-key: the list is refused with a 401.
  const dash = startDashboard({ defaultServer: srv.url, input, output, maxTokens: 8 });
  t.teardown(() => dash.shutdown());

  input.write('\x0e');
  input.write('\r');
  const refused = await until('the refusal', () => {
    const bar = statusBar(dash.screenText());
    return bar.includes('models not listed') ? bar : undefined;
  });
  t.match(refused, 'HTTP 401', 'says why');
  t.match(refused, 'any id works', 'and that typing still works');
  input.write('modeldeck/ti');
  input.write('\t');
  input.write('ny-chat');
  await until('the id typed', () => dash.ui().prompt?.text === MODEL);
  input.write('\r');
  await until('the key prompt', () => dash.ui().prompt?.kind === 'add-key');
  input.write(KEY);
  input.write('\r');
  await until('s1 ready', () => cellText(dash, 0, 1).includes('✓ ready'));
  t.equal(dash.sessions()[0]?.model, MODEL, 'the typed id, not listed, opened');
});

t.test('a server that does not answer the list: asking, then given up on, and typing goes on all along', async (t) => {
  // Takes the request and never answers it.
  let asked = 0;
  const silent = createServer((req) => {
    if (req.url === '/v1/models') asked += 1;
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    silent.closeAllConnections();
    silent.close();
  });
  const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
  const clock = createFakeClock(Date.UTC(2026, 0, 2));
  const { input, output } = terminal();
  const dash = startDashboard({ defaultServer: url, input, output, clock });
  t.teardown(() => dash.shutdown());

  input.write('\x0e');
  input.write('\r');
  await until('the ask to arrive', () => asked === 1);
  t.match(statusBar(dash.screenText()), 'asking the server for its models…', 'says it is asking');
  input.write('org/typed');
  await until('typing while it asks', () => dash.ui().prompt?.text === 'org/typed');
  clock.advance(5000);
  const given = await until('given up', () => {
    const bar = statusBar(dash.screenText());
    return bar.includes('models not listed') ? bar : undefined;
  });
  t.match(given, 'no answer in 5 s', 'says the server did not answer');
  t.match(given, 'org/typed█', 'what was typed is kept');
  input.write('\t');
  input.write('!');
  await until('still typing', () => dash.ui().prompt?.text === 'org/typed!');
});
