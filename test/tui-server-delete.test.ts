// The server view's D, on the real dashboard (a headless terminal): against a real modeldeck server over the real
// mirror, D on a cached model opens the dialog on Keep, Keep or a letter deletes nothing, → then Enter deletes it
// (`POST /delete_model`: `/v1/models` no longer lists it); D on a resident model is refused before anything is asked;
// a read-only dashboard refuses D. Against the Ollama stand-in, D deletes through `DELETE /api/delete`.
import t, { type Test } from 'tap';
import { subscribeLoad } from '../src/client/load-subscription.js';
import { unloadModel } from '../src/client/model-admin.js';
import { startDashboard, type Dashboard } from '../src/tui/dashboard.js';
import type { SessionSpec } from '../src/tui/config.js';
import { terminal } from './helpers/dashboard.js';
import { demoModelsDir } from './helpers/demo.js';
import { startOllamaStandin } from './helpers/ollama-standin.js';
import { startTestMirror } from './helpers/stack.js';
import { flat, listed, loggedServer, other, rowLine, selectRow, statusBar } from './helpers/server-view-drive.js';
import { until } from './helpers/until.js';

const TINY = 'modeldeck/tiny-chat';
const TEN = 'modeldeck/chat-10m';

const models = await demoModelsDir([TINY, TEN]);
const mirror = await startTestMirror(models);
t.teardown(() => mirror.close());

/** Another client loads `model` and unloads it: it is on the server's disk, not in its memory. */
async function otherCaches(url: string, model: string): Promise<void> {
  const loaded = await subscribeLoad({ server: url, model, fetch: other });
  if (!loaded.ok) throw new Error(`the other client's load failed: ${loaded.failure.message}`);
  const unloaded = await unloadModel({ server: url, model, fetch: other });
  if (!unloaded.ok) throw new Error(`the other client's unload failed: ${unloaded.failure.message}`);
}

/** A dashboard of `sessions`, ready, with the server view holding the keys and a row for each of `rows`. */
async function viewDashboard(
  t: Test,
  sessions: SessionSpec[],
  rows: readonly string[],
  readOnly = false,
): Promise<{ dash: Dashboard; input: NodeJS.WritableStream }> {
  const { input, output } = terminal();
  const dash = startDashboard({ sessions, input, output, ...(readOnly ? { readOnly: true } : {}) });
  t.teardown(() => dash.shutdown());
  await until('ready', () => dash.sessions().every((s) => s.phase === 'ready' || s.phase === 'cached'), 30_000);
  input.write('v');
  await until('the server view with the keys', () => dash.ui().serverFocused);
  await until(`the rows of ${rows.join(', ')}`, () => rows.every((m) => rowLine(dash, m) !== undefined), 15_000);
  return { dash, input };
}

t.test('D deletes a cached model only through its dialog, and refuses a resident one', async (t) => {
  const srv = await loggedServer(mirror.url);
  t.teardown(() => srv.close());
  await otherCaches(srv.url, TEN);
  const { dash, input } = await viewDashboard(t, [{ server: srv.url, model: TINY }], [TINY, TEN]);
  const deletes = (): string[] => srv.requests.filter((r) => r.startsWith('POST /delete_model'));

  await selectRow(dash, input, TEN);
  input.write('D');
  await until('the delete dialog', () => dash.ui().prompt?.kind === 'delete');
  const dialog = flat(dash);
  t.match(dialog, `Delete ${TEN}@main from the disk of ${srv.url}?`, 'the model and the server');
  t.match(dialog, 'Its files must be downloaded again', 'and what is lost');
  t.match(dialog, /▶ Keep ◀ +\[ Delete \]/, 'opened on Keep');
  input.write('\r');
  await until('closed on Keep', () => dash.ui().prompt === null);
  input.write('D');
  await until('the delete dialog again', () => dash.ui().prompt?.kind === 'delete');
  input.write('y');
  await until('closed by a letter', () => dash.ui().prompt === null);
  t.match(statusBar(dash), 'kept: the model’s files stay');
  t.same(await listed(srv.url), [`${TEN}@main cached`, `${TINY}@main loaded`], 'Keep deleted nothing');
  t.same(deletes(), [], 'no delete was asked');

  // → to Delete, then Enter: the model leaves the server's disk.
  input.write('D');
  await until('the delete dialog', () => dash.ui().prompt?.kind === 'delete');
  input.write('\x1b[C');
  await until('Delete chosen', () => dash.ui().prompt?.choice === 1);
  input.write('\r');
  await until('the notice', () => statusBar(dash).includes(`deleted ${TEN} on ${srv.url}`));
  t.same(await listed(srv.url), [`${TINY}@main loaded`], 'gone from the server');
  t.same(deletes(), ['POST /delete_model dash'], 'with POST /delete_model');

  // A resident model: refused before any dialog, naming the way out; nothing is sent.
  await until('the deleted row leaves', () => rowLine(dash, TEN) === undefined, 15_000);
  await selectRow(dash, input, TINY);
  input.write('D');
  await until('the refusal', () => statusBar(dash).includes('U unloads it first'));
  t.match(statusBar(dash), `${TINY} on ${srv.url} is in memory`);
  t.equal(dash.ui().prompt, null, 'no dialog');
  t.equal(deletes().length, 1, 'no second delete was asked');
  t.same(await listed(srv.url), [`${TINY}@main loaded`], 'still loaded');
});

t.test('a read-only dashboard refuses D, saying so', async (t) => {
  const srv = await loggedServer(mirror.url);
  t.teardown(() => srv.close());
  await otherCaches(srv.url, TEN);
  // A read-only session loads nothing: another client has its model loaded.
  const loaded = await subscribeLoad({ server: srv.url, model: TINY, fetch: other });
  t.ok(loaded.ok, 'the other client loaded the session’s model');
  const { dash, input } = await viewDashboard(t, [{ server: srv.url, model: TINY }], [TINY, TEN], true);
  await selectRow(dash, input, TEN);
  input.write('D');
  await until('refused', () => statusBar(dash).includes('read-only: delete is off'));
  t.equal(dash.ui().prompt, null, 'no dialog');
  t.same(await listed(srv.url), [`${TEN}@main cached`, `${TINY}@main loaded`], 'nothing deleted');
  t.notOk(
    srv.requests.some((r) => r.startsWith('POST /delete_model')),
    'no delete was asked',
  );
});

t.test('on Ollama, D deletes an installed model through DELETE /api/delete', async (t) => {
  const ollama = await startOllamaStandin({
    library: [
      { name: 'qwen3:0.6b', layers: [3_000, 100] },
      { name: 'gemma3:1b', layers: [2_000, 100] },
    ],
  });
  t.teardown(() => ollama.close());
  ollama.install('gemma3:1b');
  const { dash, input } = await viewDashboard(
    t,
    [{ server: ollama.url, model: 'qwen3:0.6b', kind: 'ollama' }],
    ['qwen3:0.6b', 'gemma3:1b'],
  );
  await selectRow(dash, input, 'gemma3:1b');
  input.write('D');
  await until('the delete dialog', () => dash.ui().prompt?.kind === 'delete');
  t.match(flat(dash), 'Its files must be downloaded again');
  t.notOk(
    ollama.requests.some((r) => r.startsWith('DELETE')),
    'nothing deleted while the dialog asks',
  );
  input.write('\x1b[C\r');
  await until('the notice', () => statusBar(dash).includes('deleted gemma3:1b'));
  t.ok(ollama.requests.includes('DELETE /api/delete'), 'with DELETE /api/delete');
  const tags = (await (await fetch(`${ollama.url}/api/tags`)).json()) as { models: { name: string }[] };
  t.same(
    tags.models.map((m) => m.name),
    ['qwen3:0.6b'],
    'gone from the installed models',
  );
});
