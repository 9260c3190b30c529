import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { cdnGets } from './helpers/hf-cache.js';
import { HUB_FIXTURES, layOutHubFixtures, unfetchedWeights } from './helpers/hub-fixtures.js';
import { loadModel, stagesOf } from './helpers/sse-client.js';
import type { Mirror } from '../src/mirror/mirror.js';
import { fileDownloads, startTestMirror, startTestServer } from './helpers/stack.js';

// Real repositories, file name for file name, served by the mirror: a load fetches exactly the files transformers.js
// needs for the variant the default choice picks, and nothing else (no placeholder weights, no root extras).

const root = await layOutHubFixtures();
const mirror = await startTestMirror(root);
// The same repositories behind the Hub's two other habits: large files as a 302 to a CDN origin (every weight file
// of the fixtures is "large" here), and tree listings in pages of a few entries.
const CDN_LFS_THRESHOLD = 100_000;
const cdnMirror = await startTestMirror(root, { redirectLarge: true, lfsThreshold: CDN_LFS_THRESHOLD });
const pagedMirror = await startTestMirror(root, { pageSize: 3 });
t.teardown(async () => {
  await mirror.close();
  await cdnMirror.close();
  await pagedMirror.close();
  await rm(root, { recursive: true, force: true });
});

/** The files of `paths` the CDN mirror lists as LFS files (and so redirects), sorted. */
async function largeFiles(id: string, paths: readonly string[]): Promise<string[]> {
  const sizes = await Promise.all(paths.map(async (path) => (await stat(join(root, id, path))).size));
  return paths.filter((_, i) => (sizes[i] ?? 0) >= CDN_LFS_THRESHOLD).sort();
}

/** The files `hub` was asked for (resolve requests), each once (a ranged download asks for a file several times). */
function fetchedFiles(hub: Mirror = mirror): string[] {
  return [...new Set(fileDownloads(hub).map((entry) => entry.replace(/ bytes=.*$/, '')))].sort();
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

async function complete(url: string, model: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`${url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, prompt: 'The river', seed: 3, max_tokens: 16 }),
  });
  const body = (await res.json()) as { choices?: { text?: string }[] };
  return { status: res.status, text: body.choices?.[0]?.text ?? JSON.stringify(body) };
}

const modes: { name: string; hub: Mirror }[] = [
  { name: 'plain', hub: mirror },
  { name: 'CDN redirects', hub: cdnMirror },
  { name: 'paginated trees', hub: pagedMirror },
];

for (const { name, hub } of modes) {
  for (const fixture of HUB_FIXTURES) {
    t.test(
      `${name}: ${fixture.id} fetches only the ${fixture.dtype} variant and its own files, loads, answers`,
      async (t) => {
        const server = await startTestServer({ hubUrl: hub.url });
        t.teardown(() => server.close());
        hub.clearRequests();
        const load = await loadModel(server.url, fixture.id);
        t.equal(load.events.at(-1)?.status, 'ready', `ready: ${JSON.stringify(load.events.at(-1))}`);
        t.same(stagesOf(load.events).at(-1), 'ready');
        const fetched = fetchedFiles(hub);
        t.same(fetched, fixture.fetched, 'exactly the files transformers.js needs');
        const never = unfetchedWeights(fixture.id).filter((path) => fetched.includes(path));
        t.same(never, [], 'no other weights');
        t.ok(
          hub.requests.every((r) => !r.url.includes('/resolve/') || r.url.startsWith(`/${fixture.id}/`)),
          'nothing of another repository',
        );
        if (hub === cdnMirror) {
          const fromCdn = [
            ...new Set(
              cdnGets(hub).map((r) =>
                // The CDN's URLs carry their signature in the query.
                r.url.replace(/\?.*$/, '').replace(/^\/lfs\/[^/]+\/[^/]+\/[0-9a-f]{40}\//, ''),
              ),
            ),
          ].sort();
          t.same(fromCdn, await largeFiles(fixture.id, fixture.fetched), 'the weights came from the CDN origin');
          t.ok(fromCdn.length > 0, `weights are large files here: ${fromCdn.join(', ')}`);
        }
        if (hub === pagedMirror) {
          t.ok(hub.requests.filter((r) => r.url.includes('/tree/')).length > 1, 'the listing came in several pages');
        }
        const reply = await chat(server.url, fixture.id);
        if (fixture.chatTemplate) {
          t.equal(reply.status, 200, `a chat answers: ${reply.text}`);
          t.ok(reply.text.length > 0, 'with text');
        } else {
          t.equal(reply.status, 400, 'a base model cannot chat');
          t.match(reply.text, /CHAT_TEMPLATE_MISSING/);
        }
        const completion = await complete(server.url, fixture.id);
        t.equal(completion.status, 200, `a completion answers: ${completion.text}`);
        t.ok(completion.text.length > 0, 'with text');
      },
    );
  }
}

// A repository with ONNX files none of which is a decoder transformers.js loads (a seq2seq export).
const seq2seq = join(root, 'Xenova', 't5-small');
await mkdir(join(seq2seq, 'onnx'), { recursive: true });
for (const path of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json']) {
  await writeFile(join(seq2seq, path), '{}\n');
}
for (const path of ['onnx/encoder_model.onnx', 'onnx/decoder_model.onnx', 'onnx/decoder_with_past_model.onnx']) {
  await writeFile(join(seq2seq, path), 'not loadable\n');
}

const refusals: { name: string; model: string; dtype?: string[]; serverDtype?: string[]; message: RegExp }[] = [
  {
    name: 'no decoder transformers.js can load',
    model: 'Xenova/t5-small',
    message:
      /Xenova\/t5-small@main has no onnx\/model\*\.onnx or onnx\/decoder_model_merged\*\.onnx weights.*onnx-community/,
  },
  {
    name: "none of the request's dtypes",
    model: 'onnx-community/Jan-nano-ONNX',
    dtype: ['q4', 'q8'],
    message: /has none of the dtypes asked for \(q4, q8\); available: fp16 \(.*\), q4f16 \(.*\)/,
  },
  {
    name: "none of the server's dtypes",
    model: 'onnx-community/Jan-nano-ONNX',
    serverDtype: ['q4'],
    message: /has none of the dtypes asked for \(q4\); available: fp16 \(.*\), q4f16 \(.*\).*add auto/,
  },
];

for (const refusal of refusals) {
  t.test(`${refusal.name}: refused from the listing, nothing fetched, no snapshot`, async (t) => {
    const server = await startTestServer({
      hubUrl: mirror.url,
      ...(refusal.serverDtype === undefined ? {} : { dtype: refusal.serverDtype }),
    });
    t.teardown(() => server.close());
    mirror.clearRequests();
    const load = await postLoad(server.url, { model: refusal.model, dtype: refusal.dtype });
    t.match(load.text, /"code": "NO_ONNX_WEIGHTS"/);
    t.match(load.text, refusal.message);
    if (refusal.model.startsWith('onnx-community/')) {
      t.notMatch(load.text, /look for an onnx-community/, 'no onnx-community hint on an onnx-community repository');
    }
    t.same(fileDownloads(mirror), [], 'nothing fetched');
    const entries = await readdir(server.cacheDir, { recursive: true });
    t.same(
      entries.filter((entry) => entry.includes('snapshots')),
      [],
      'no snapshot directory',
    );
  });
}

t.test('a server-wide --dtype list that ends with auto falls back', async (t) => {
  const server = await startTestServer({ hubUrl: mirror.url, dtype: ['q4', 'auto'] });
  t.teardown(() => server.close());
  mirror.clearRequests();
  const load = await loadModel(server.url, 'onnx-community/Jan-nano-ONNX');
  t.equal(load.events.at(-1)?.status, 'ready');
  t.same(fetchedFiles(), HUB_FIXTURES.find((f) => f.id === 'onnx-community/Jan-nano-ONNX')?.fetched);
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
        message: /valid values: fp32, fp16, q8, int8, uint8, q4, q4f16, bnb4, q2, q2f16, q1, q1f16, auto\)/,
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
  const models = (await (await fetch(`${server.url}/v1/models`)).json()) as { data: { id: string; dtype?: string }[] };
  t.match(
    models.data.find((entry) => entry.id === `${model}@main`),
    { status: 'loaded', dtype: 'q4f16' },
    'GET /v1/models names the dtype it is resident in',
  );
});

t.test('offline, the cached variant loads, and another dtype says it is not cached', async (t) => {
  const model = 'onnx-community/Jan-nano-ONNX';
  const online = await startTestServer({ hubUrl: mirror.url });
  t.teardown(() => online.close());
  t.match((await postLoad(online.url, { model })).text, /"status": "ready"/);
  const offline = await startTestServer({ hubUrl: mirror.url, cacheDir: online.cacheDir, offline: true });
  t.teardown(() => offline.close());
  mirror.clearRequests();
  const other = await postLoad(offline.url, { model, dtype: 'fp16' });
  t.match(other.text, /"code": "OFFLINE_NOT_CACHED"/);
  t.match(
    other.text,
    /cached snapshot of onnx-community\/Jan-nano-ONNX@main .* has none of the dtypes asked for \(fp16\); available: q4f16/,
  );
  t.match((await postLoad(offline.url, { model })).text, /"status": "ready"/, 'without dtype, what is cached');
  t.same(mirror.requests, [], 'offline asks the hub nothing');
});
