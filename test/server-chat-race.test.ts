// A chat racing what takes its model away (issue 27, item 1): an eviction under `--max-models 1` (another client
// loads a second model), `POST /unload_model` and `POST /reset` arriving while the chat's prompt is measured. The chat
// holds its model from the moment it has it, so it is answered 200, or 503 when the other client's load got the only
// place first; never a 500. Unload and reset wait for it; a forced unload ends it with 503 MODEL_UNLOADED.
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { resolveServeConfig, serverOptions } from '../src/cli/serve.js';
import { startServer } from '../src/server/start.js';
import { demoModelsDir } from './helpers/demo.js';
import { watchFeed } from './helpers/feed-client.js';
import { loadModel } from './helpers/sse-client.js';
import { startTestMirror } from './helpers/stack.js';

const A = 'modeldeck/tiny-chat';
const B = 'modeldeck/tiny-chat-b';
const ROUNDS = 16;
const models = await demoModelsDir();
const root = await mkdtemp(join(tmpdir(), 'modeldeck-race-root-'));
await cp(join(models, A), join(root, A), { recursive: true });
await cp(join(models, A), join(root, B), { recursive: true });
const mirror = await startTestMirror(root);
// Started as `modeldeck serve --max-models 1` starts it; one cache for every test, so only the first load downloads.
const cacheDir = await mkdtemp(join(tmpdir(), 'modeldeck-race-cache-'));
const config = resolveServeConfig(
  ['--port', '0', '--hub-url', mirror.url, '--cache-dir', cacheDir, '--max-models', '1'],
  { HF_HOME: join(cacheDir, 'no-hf-home') },
);
if (!config) throw new Error('no config');
const server = await startServer({ ...serverOptions(config), logger: false });
t.teardown(async () => {
  await server.close();
  await mirror.close();
  await rm(root, { recursive: true, force: true });
  await rm(cacheDir, { recursive: true, force: true });
});

function post(path: string, body: unknown): Promise<Response> {
  return fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

/** What a chat request got: its status and error code (none on success). */
interface ChatOutcome {
  readonly status: number;
  readonly code: string | undefined;
}

async function chat(stream = false): Promise<ChatOutcome> {
  const res = await post('/v1/chat/completions', {
    model: A,
    max_tokens: 4,
    stream,
    messages: [{ role: 'user', content: 'Say something about racing.' }],
  });
  const text = await res.text();
  const code = res.ok ? undefined : (JSON.parse(text) as { error?: { code?: string } }).error?.code;
  return { status: res.status, code };
}

/** Resolves after `ms` milliseconds (0: after the current I/O), so the rounds meet the chat at different moments. */
function after(ms: number): Promise<void> {
  return new Promise((resolve) => (ms === 0 ? setImmediate(resolve) : setTimeout(resolve, ms)));
}

async function residentA(t: Test): Promise<void> {
  const ready = await loadModel(server.url, A);
  t.match(ready.events.at(-1), { status: 'ready' }, `${A} resident`);
}

t.test(`--max-models 1: a chat while another client loads a second model, ${ROUNDS} rounds`, async (t) => {
  const outcomes: ChatOutcome[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    await residentA(t);
    const chatting = chat(round % 2 === 1);
    await after(round % 4);
    const other = await loadModel(server.url, B);
    const outcome = await chatting;
    outcomes.push(outcome);
    const last = other.events.at(-1);
    if (outcome.status === 200) {
      // The chat held A: B could not evict it, or came after the chat was done.
      t.ok(
        last?.status === 'ready' || (last?.status === 'error' && last.code === 'MODELS_BUSY'),
        `round ${round}: B is ready or refused MODELS_BUSY (${JSON.stringify(last)})`,
      );
    } else {
      t.match(outcome, { status: 503, code: 'MODELS_BUSY' }, `round ${round}: B got the place first`);
      t.match(last, { status: 'ready' }, `round ${round}: and B loaded`);
    }
  }
  t.strictSame(
    outcomes.filter((o) => o.status !== 200 && o.status !== 503),
    [],
    `only 200 and 503: ${outcomes.map((o) => o.status).join(' ')}`,
  );
});

t.test('POST /unload_model and POST /reset arriving as a chat starts wait for it', async (t) => {
  for (let round = 0; round < 8; round++) {
    await residentA(t);
    const chatting = chat(round % 2 === 1);
    await after(round % 4);
    const path = round < 4 ? '/unload_model' : '/reset';
    const unloading = await post(path, round < 4 ? { model: A } : {});
    t.equal(unloading.status, 200, `round ${round}: ${path} answered 200`);
    t.match(await chatting, { status: 200 }, `round ${round}: the chat was answered in full`);
  }
});

t.test(
  'a forced unload ends a reply under way with MODEL_UNLOADED (503, or its frame once streaming), never a 500',
  async (t) => {
    const feed = await watchFeed(server.url);
    t.teardown(() => feed.close());
    for (const stream of [false, true]) {
      await residentA(t);
      const started = feed.events.length;
      const res = post('/v1/chat/completions', {
        model: A,
        stream,
        // Greedy decoding loops on a bigram model: still running when the unload comes.
        temperature: 0,
        max_tokens: 4000, // with the prompt, within the model's context of 4096
        messages: [{ role: 'user', content: 'Go on.' }],
      });
      await feed.waitFor('the chat started', (e) => e.event === 'chat_start' && feed.events.indexOf(e) >= started);
      const unloading = await post('/unload_model', { model: A, force: true });
      t.strictSame(await unloading.json(), { status: 'unloaded', model: `${A}@main` }, 'unloaded at once');
      const answer = await res;
      const text = await answer.text();
      const message = new RegExp(`${A}@main was unloaded while this request had it .*retry`);
      if (stream) {
        t.equal(answer.status, 200, 'streamed: the stream had begun');
        const frames = text.split('\n\n').filter((f) => f.startsWith('data: '));
        t.match(JSON.parse((frames.at(-1) ?? '').slice('data: '.length)), {
          error: { code: 'MODEL_UNLOADED', type: 'server_error', message },
        });
      } else {
        t.equal(answer.status, 503, 'whole: 503');
        t.match(JSON.parse(text), { error: { code: 'MODEL_UNLOADED', type: 'server_error', message } });
      }
    }
  },
);
