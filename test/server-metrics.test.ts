// GET /metrics (issue 24): the Prometheus text format, parsed by a reference parser; its counters move with loads,
// chats and unloads; reading it is behind the watch permission; and scraping never counts as use of a model.
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { demoModelsDir } from './helpers/demo.js';
import { watchFeed } from './helpers/feed-client.js';
import { scrape } from './helpers/scrape.js';
import { loadModel } from './helpers/sse-client.js';
import { serveAsCommand, startTestMirror } from './helpers/stack.js';
import { until } from './helpers/until.js';

const MODEL = 'modeldeck/tiny-chat';
const KEY = `${MODEL}@main`;
const models = await demoModelsDir();
const root = await mkdtemp(join(tmpdir(), 'modeldeck-metrics-root-'));
await cp(join(models, MODEL), join(root, MODEL), { recursive: true });
const mirror = await startTestMirror(root);
t.teardown(async () => {
  await mirror.close();
  await rm(root, { recursive: true, force: true });
});

/** A server as `modeldeck serve ARGS` starts it, from the mirror, with its own cache. */
const serve = (t: Test, args: string[]) => serveAsCommand(t, mirror.url, args);

const DURATION = 'modeldeck_model_load_duration_seconds';

t.test('the counters move with a load, a chat and an unload', async (t) => {
  const server = await serve(t, []);
  const before = await scrape(server.url);
  t.equal(before.status, 200);
  t.match(before.contentType, /^text\/plain; version=0\.0\.4/, 'the Prometheus text format');
  const names = before.families.map((f) => f.name);
  for (const name of [
    DURATION,
    'modeldeck_model_load_stage_seconds',
    'modeldeck_models_resident',
    'modeldeck_models_loading',
    'modeldeck_loads_queued',
    'modeldeck_pulls_under_way',
    'modeldeck_pulls_queued',
    'modeldeck_model_unloads_total',
    'modeldeck_download_bytes_total',
    'modeldeck_download_retries_total',
    'modeldeck_model_weight_bytes',
    'modeldeck_time_to_first_token_seconds',
    'modeldeck_time_per_output_token_seconds',
    'modeldeck_chat_requests_total',
    'modeldeck_chat_rejected_total',
    'modeldeck_chat_requests_in_flight',
    'process_resident_memory_bytes',
    'nodejs_heap_size_used_bytes',
  ]) {
    t.ok(names.includes(name), `${name} is there`);
  }
  t.equal(before.family(DURATION)?.type, 'HISTOGRAM');
  t.equal(before.family('modeldeck_models_resident')?.type, 'GAUGE');
  t.equal(before.family('modeldeck_model_unloads_total')?.type, 'COUNTER');
  t.equal(before.value('modeldeck_models_resident'), 0, 'nothing resident');
  t.equal(before.value('modeldeck_model_unloads_total', { reason: 'request' }), 0, 'an unmoved reason reads 0');
  t.equal(before.value('modeldeck_download_bytes_total'), 0);

  const load = await loadModel(server.url, MODEL);
  const ready = load.events.at(-1);
  t.match(ready, { status: 'ready', size_bytes: Number });
  const size = ready?.status === 'ready' ? (ready.size_bytes ?? 0) : 0;
  const loaded = await scrape(server.url);
  t.equal(loaded.value('modeldeck_models_resident'), 1, 'one resident');
  t.equal(loaded.count(DURATION, { model: KEY, outcome: 'ready', cached: 'false' }), 1, 'one load, from the network');
  for (const stage of ['processor', 'config', 'download', 'weights']) {
    t.equal(loaded.count('modeldeck_model_load_stage_seconds', { stage }), 1, `one ${stage} stage timed`);
  }
  t.ok(loaded.value('modeldeck_download_bytes_total') >= size, 'the bytes fetched count at least the weights');
  t.equal(loaded.value('modeldeck_model_weight_bytes', { model: KEY }), size, 'the weight bytes, as ready said');

  const chat = await fetch(`${server.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hello' }], max_tokens: 6 }),
  });
  t.equal(chat.status, 200);
  const reply = (await chat.json()) as { choices: { finish_reason: string }[]; usage: { completion_tokens: number } };
  const outcome = reply.choices[0]?.finish_reason ?? '';
  const chatted = await scrape(server.url);
  t.equal(chatted.value('modeldeck_chat_requests_total', { model: KEY, outcome }), 1, `one chat, ${outcome}`);
  t.equal(chatted.count('modeldeck_time_to_first_token_seconds', { model: KEY }), 1, 'its first token timed');
  if (reply.usage.completion_tokens > 1) {
    t.equal(chatted.count('modeldeck_time_per_output_token_seconds', { model: KEY }), 1, 'its later tokens timed');
  }
  t.equal(chatted.value('modeldeck_chat_requests_in_flight'), 0, 'none in flight after it');

  const unload = await fetch(`${server.url}/unload_model`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL }),
  });
  t.equal(unload.status, 200);
  const unloaded = await scrape(server.url);
  t.equal(unloaded.value('modeldeck_models_resident'), 0, 'none resident');
  t.equal(unloaded.value('modeldeck_model_unloads_total', { reason: 'request' }), 1, 'one unload by request');
  t.notOk(
    unloaded.family('modeldeck_model_weight_bytes')?.metrics.some((s) => s.labels?.['model'] === KEY),
    'no weight bytes for a model that left',
  );

  // Loaded again from the disk cache: no byte over the network, so cached="true".
  await loadModel(server.url, MODEL);
  const again = await scrape(server.url);
  t.equal(again.count(DURATION, { model: KEY, outcome: 'ready', cached: 'true' }), 1, 'a load from the disk cache');
  t.equal(again.value('modeldeck_download_bytes_total'), loaded.value('modeldeck_download_bytes_total'), 'no bytes');
});

t.test('scraping for eight seconds does not keep a model past --model-timeout', async (t) => {
  const server = await serve(t, ['--model-timeout', '2']);
  const feed = await watchFeed(server.url);
  t.teardown(() => feed.close());
  await loadModel(server.url, MODEL);
  let scrapes = 0;
  let unloadedWhileScraping = false;
  const end = Date.now() + 8000;
  while (Date.now() < end) {
    const now = await scrape(server.url);
    t.equal(now.status, 200);
    scrapes += 1;
    if (now.value('modeldeck_model_unloads_total', { reason: 'idle' }) === 1) {
      unloadedWhileScraping = now.value('modeldeck_models_resident') === 0;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  t.ok(scrapes > 10, `${scrapes} scrapes`);
  t.ok(unloadedWhileScraping, 'the idle unload came while the scrapes went on');
  const unload = await feed.waitFor('the unload', (e) => e.event === 'unload');
  t.match(unload.data, { model: KEY, reason: 'idle' }, 'unloaded for idleness');
});

t.test('a watch key reads /metrics; no key gets 401', async (t) => {
  const server = await serve(t, ['--api-key', 'full-key-0123456789', '--watch-key', 'watch-key-0123456789']);
  t.equal((await scrape(server.url)).status, 401, 'no key: 401');
  const watched = await scrape(server.url, { authorization: 'Bearer watch-key-0123456789' });
  t.equal(watched.status, 200, 'a watch key: 200');
  t.ok(watched.family('modeldeck_models_resident'), 'the figures');
});

t.test('two servers in one process keep their figures apart', async (t) => {
  const [a, b] = [await serve(t, []), await serve(t, [])];
  await loadModel(a.url, MODEL);
  await until('a resident on a', async () => (await scrape(a.url)).value('modeldeck_models_resident') === 1);
  t.equal((await scrape(b.url)).value('modeldeck_models_resident'), 0, 'b has none');
  t.equal((await scrape(b.url)).count(DURATION, { model: KEY, outcome: 'ready', cached: 'false' }), 0, 'no load on b');
});
