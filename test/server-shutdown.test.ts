import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { modelWorkerCount } from '../src/server/worker-client.js';
import { demoModelsDir } from './helpers/demo.js';
import { loadModel } from './helpers/sse-client.js';
import { startTestMirror, startTestServer } from './helpers/stack.js';
import { until } from './helpers/until.js';

// Closing the server (what SIGINT/SIGTERM do) mid-load: every subscriber gets its ABORTED event, a chat waiting for
// the load its 503 in OpenAI's shape, and nothing is left running.
const MODEL = 'modeldeck/tiny-chat';
const models = await demoModelsDir();
const root = await mkdtemp(join(tmpdir(), 'modeldeck-shutdown-root-'));
await cp(join(models, MODEL), join(root, MODEL), { recursive: true });
const mirror = await startTestMirror(root, { throttle: 100_000 });
t.teardown(async () => {
  await mirror.close();
  await rm(root, { recursive: true, force: true });
});

t.test('close() mid-load sends ABORTED to every subscriber and 503 to a waiting chat', async (t) => {
  const server = await startTestServer({ hubUrl: mirror.url });
  let downloading = false;
  const subscribers = [
    loadModel(server.url, MODEL, {
      onEvent: (e) => {
        if (e.status === 'loading' && e.stage === 'download') downloading = true;
      },
    }),
    loadModel(server.url, MODEL),
  ];
  const chat = fetch(`${server.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] }),
  });
  await until('the download stage', () => downloading);
  await server.close();
  for (const transcript of await Promise.all(subscribers)) {
    t.equal(transcript.events.filter((e) => e.status !== 'loading').length, 1, 'one terminal event');
    t.match(transcript.events.at(-1), { status: 'error', code: 'ABORTED', message: /shutting down/ });
  }
  const answer = await chat;
  t.equal(answer.status, 503);
  t.match(await answer.json(), { error: { code: 'ABORTED', type: 'server_error', message: /shutting down/ } });
  t.equal(modelWorkerCount(), 0, 'no model worker left');
});
