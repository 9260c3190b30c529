// The disk without memory (issue 24): POST /pull_model streams the load's stages and download progress and ends
// without loading; GET /cache lists repositories, revisions and sizes; POST /delete_model deletes a revision as
// `hf cache` does (snapshot, refs, then the blobs no other snapshot uses), refused while the model is in memory.
import { cp, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { demoModelsDir } from './helpers/demo.js';
import { scrape } from './helpers/scrape.js';
import { loadModel, stagesOf } from './helpers/sse-client.js';
import { fileDownloads, startTestMirror, startTestServer } from './helpers/stack.js';

const MODEL = 'modeldeck/tiny-chat';
const KEY = `${MODEL}@main`;
const models = await demoModelsDir();
const root = await mkdtemp(join(tmpdir(), 'modeldeck-cache-root-'));
await cp(join(models, MODEL), join(root, MODEL), { recursive: true });
// A second revision, another commit, whose files are the first's but for its config: it shares every other blob.
await cp(join(models, MODEL), join(root, `${MODEL}@v2`), { recursive: true });
const configV2 = join(root, `${MODEL}@v2`, 'config.json');
await writeFile(configV2, JSON.stringify({ ...JSON.parse(await readFile(configV2, 'utf8')), _revision: 'v2' }));
const configV2Bytes = (await stat(configV2)).size;
const mirror = await startTestMirror(root);
const server = await startTestServer({ hubUrl: mirror.url });
t.teardown(async () => {
  await server.close();
  await mirror.close();
  await rm(root, { recursive: true, force: true });
});

function post(path: string, body: unknown): Promise<Response> {
  return fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

interface CacheList {
  data: {
    id: string;
    size_on_disk: number;
    revisions: { commit: string; refs: string[]; files: number; size_bytes: number; state: string }[];
  }[];
}

async function cache(): Promise<CacheList['data']> {
  return ((await (await fetch(`${server.url}/cache`)).json()) as CacheList).data;
}

async function status(key: string): Promise<string | undefined> {
  const list = (await (await fetch(`${server.url}/v1/models`)).json()) as { data: { id: string; status: string }[] };
  return list.data.find((m) => m.id === key)?.status;
}

async function pullModel(model: string) {
  const res = await post('/pull_model', { model });
  const text = await res.text();
  const events = text
    .split('\n')
    .filter((line) => line.startsWith('data: '))
    .map((line) => JSON.parse(line.slice(6)) as Record<string, unknown>);
  return { status: res.status, type: res.headers.get('content-type'), events };
}

t.test('pull: the stages and the download, then ready, and nothing in memory', async (t) => {
  const pulled = await pullModel(MODEL);
  t.equal(pulled.status, 200);
  t.match(pulled.type, /^text\/event-stream/);
  t.same(
    stagesOf(pulled.events as never),
    ['processor', 'config', 'download', 'ready'],
    'the load’s stages up to the download, no weights, then ready',
  );
  const download = pulled.events.filter((e) => e['stage'] === 'download').at(-1);
  t.match(download, { progress: { current: Number, total: Number } });
  t.match(pulled.events.at(-1), { status: 'ready', model: KEY, cached: false, size_bytes: Number, dtype: 'fp32' });
  t.ok(
    fileDownloads(mirror).some((path) => /\.onnx( |$)/.test(path)),
    'the weights came over the network',
  );
  t.equal(await status(KEY), 'cached', 'on disk only, as /v1/models says');
  t.equal((await scrape(server.url)).value('modeldeck_models_resident'), 0, 'nothing resident');
  const [repo] = await cache();
  t.match(repo, { id: MODEL, size_on_disk: Number, revisions: [{ refs: ['main'], files: Number, state: 'cached' }] });
  t.ok((repo?.revisions[0]?.size_bytes ?? 0) >= Number(pulled.events.at(-1)?.['size_bytes']), 'its bytes listed');
});

t.test('delete: refused while in memory, then the revision goes, sharing blobs kept', async (t) => {
  await pullModel(`${MODEL}@v2`);
  const both = (await cache())[0];
  t.equal(both?.revisions.length, 2, 'two revisions');
  const onDisk = both?.size_on_disk;

  await loadModel(server.url, `${MODEL}@v2`);
  const refused = await post('/delete_model', { model: `${MODEL}@v2` });
  t.equal(refused.status, 409);
  t.match(await refused.json(), { error: { code: 'MODEL_IN_USE', message: /unload/ } });
  t.equal((await post('/unload_model', { model: `${MODEL}@v2` })).status, 200);

  const deleted = await post('/delete_model', { model: `${MODEL}@v2` });
  t.equal(deleted.status, 200);
  t.match(await deleted.json(), { status: 'deleted', refs: ['v2'], freed_bytes: configV2Bytes, repo_removed: false });
  const left = (await cache())[0];
  t.same(
    left?.revisions.map((r) => r.refs),
    [['main']],
    'main is left',
  );
  t.equal(left?.size_on_disk, (onDisk ?? 0) - configV2Bytes, 'only its own config blob went; the shared ones stay');
  const ready = await loadModel(server.url, MODEL);
  t.match(ready.events.at(-1), { status: 'ready' }, 'main still loads');
  t.notOk(stagesOf(ready.events).includes('download'), 'from the disk, nothing fetched');
  t.equal((await post('/unload_model', { model: MODEL })).status, 200);

  const last = await post('/delete_model', { model: MODEL });
  t.match(await last.json(), { status: 'deleted', refs: ['main'], repo_removed: true });
  t.same(await cache(), [], 'the cache is empty');
  t.same(
    (await readdir(server.cacheDir)).filter((f) => f.startsWith('models--')),
    [],
    'the repository folder is gone',
  );
  t.equal(await status(KEY), undefined, 'and /v1/models lists nothing');
});

t.test('delete of a model not in the cache: 404 MODEL_NOT_CACHED', async (t) => {
  const res = await post('/delete_model', { model: 'modeldeck/nothing' });
  t.equal(res.status, 404);
  t.match(await res.json(), { error: { code: 'MODEL_NOT_CACHED' } });
});
