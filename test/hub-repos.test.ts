import { readdir, rm } from 'node:fs/promises';
import t from 'tap';
import { HUB_FIXTURES, layOutHubFixtures, unfetchedWeights } from './helpers/hub-fixtures.js';
import { loadModel, stagesOf } from './helpers/sse-client.js';
import { fileDownloads, startTestMirror, startTestServer } from './helpers/stack.js';

// Real repositories, file name for file name, served by the mirror: a load fetches exactly the files transformers.js
// needs for the variant the default choice picks, and nothing else (no placeholder weights, no root extras).

const root = await layOutHubFixtures();
const mirror = await startTestMirror(root);
t.teardown(async () => {
  await mirror.close();
  await rm(root, { recursive: true, force: true });
});

/** The files the mirror served, each once (a ranged download asks for a file several times). */
function fetchedFiles(): string[] {
  return [...new Set(fileDownloads(mirror).map((entry) => entry.replace(/ bytes=.*$/, '')))].sort();
}

async function chat(url: string, model: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      model,
      messages: [{ role: 'user', content: 'Tell me about the river.' }],
      seed: 3,
      max_tokens: 16,
    }),
  });
  const body = (await res.json()) as { choices?: { message?: { content?: string } }[] };
  return { status: res.status, text: body.choices?.[0]?.message?.content ?? JSON.stringify(body) };
}

for (const fixture of HUB_FIXTURES) {
  t.test(`${fixture.id}: fetches only the ${fixture.dtype} variant and its own files, loads and answers`, async (t) => {
    const server = await startTestServer({ hubUrl: mirror.url });
    t.teardown(() => server.close());
    mirror.clearRequests();
    const load = await loadModel(server.url, fixture.id);
    t.equal(load.events.at(-1)?.status, 'ready', `ready: ${JSON.stringify(load.events.at(-1))}`);
    t.same(stagesOf(load.events).at(-1), 'ready');
    const fetched = fetchedFiles();
    t.same(fetched, fixture.fetched, 'exactly the files transformers.js needs');
    const never = unfetchedWeights(fixture.id).filter((path) => fetched.includes(path));
    t.same(never, [], 'no other weights');
    t.ok(
      mirror.requests.every((r) => !r.url.includes('/resolve/') || r.url.startsWith(`/${fixture.id}/`)),
      'nothing of another repository',
    );
    if (fixture.chatTemplate) {
      const reply = await chat(server.url, fixture.id);
      t.equal(reply.status, 200, `a chat answers: ${reply.text}`);
      t.ok(reply.text.length > 0, 'with text');
    }
  });
}
t.test('a repository that cannot load fetches nothing and leaves no snapshot', async (t) => {
  const server = await startTestServer({ hubUrl: mirror.url });
  t.teardown(() => server.close());
  mirror.clearRequests();
  const res = await fetch(`${server.url}/load_model`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'onnx-community/Jan-nano-ONNX', dtype: ['q4', 'q8'] }),
  });
  const text = await res.text();
  t.match(text, /has none of the dtypes asked for \(q4, q8\); available: fp16 \(.*\), q4f16 \(.*\)/);
  t.notMatch(text, /look for an onnx-community/, 'no onnx-community hint on an onnx-community repository');
  t.same(fileDownloads(mirror), [], 'nothing fetched');
  const entries = await readdir(server.cacheDir, { recursive: true });
  t.same(
    entries.filter((entry) => entry.includes('snapshots')),
    [],
    'no snapshot directory',
  );
});

async function postLoad(url: string, body: unknown): Promise<{ status: number; text: string }> {
  const res = await fetch(`${url}/load_model`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, text: await res.text() };
}

t.test('a load request may name its dtypes; a resident model answers only for its own', async (t) => {
  const server = await startTestServer({ hubUrl: mirror.url });
  t.teardown(() => server.close());
  const model = 'onnx-community/Jan-nano-ONNX';
  for (const dtype of ['fp8', ['q4', 7], {}, [], 'q4,,q8']) {
    const bad = await postLoad(server.url, { model, dtype });
    t.equal(bad.status, 400, `${JSON.stringify(dtype)} is refused`);
    t.match(JSON.parse(bad.text), {
      error: {
        code: 'INVALID_DTYPE',
        param: 'dtype',
        message: /valid values: fp32, fp16, int8, uint8, q8, q4, .*, bnb4, auto/,
      },
    });
  }
  mirror.clearRequests();
  const first = await postLoad(server.url, { model, dtype: ['q4', 'q4f16', 'fp16'] });
  t.match(first.text, /"status": "ready".*"cached": false/, 'the list falls back to q4f16');
  t.same(
    fetchedFiles(),
    HUB_FIXTURES.find((f) => f.id === model)?.fetched,
    'q4f16 and its two chunks, nothing of fp16',
  );
  const other = await postLoad(server.url, { model, dtype: 'fp16' });
  t.equal(other.status, 409, 'another dtype of a resident model is a conflict');
  t.match(JSON.parse(other.text), {
    error: { code: 'DTYPE_CONFLICT', param: 'dtype', message: /is loaded in dtype q4f16, not fp16.*\/unload_model/ },
  });
  t.match((await postLoad(server.url, { model, dtype: 'q4f16' })).text, /"cached": true/, 'its own dtype answers');
  t.match((await postLoad(server.url, { model, dtype: 'fp16,auto' })).text, /"cached": true/, 'auto accepts it');
  t.match((await postLoad(server.url, { model })).text, /"cached": true/, 'no dtype: as upstream clients send');
});
