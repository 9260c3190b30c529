// Requests to one model are served in a documented order (issue 14, item 2): one reply at a time, first come first
// served, and a bounded line: one request past `--max-queue` gets 429 QUEUE_FULL with Retry-After, at once.
import t from 'tap';
import { startServer } from '../src/server/start.js';
import { demoModelsDir } from './helpers/demo.js';
import { gatedLoader } from './helpers/gated-loader.js';
import { startTestMirror, startTestServer } from './helpers/stack.js';

const hi = [{ role: 'user', content: 'hi' }];

function post(url: string, body: Record<string, unknown>): Promise<Response> {
  return fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

t.test('past --max-queue a request gets 429 QUEUE_FULL at once; the line moves on', async (t) => {
  const gated = gatedLoader();
  const server = await startServer({ loader: gated.loader, maxQueue: 2 });
  t.teardown(() => server.close());
  const first = post(server.url, { model: 'org/m', messages: hi });
  (await gated.loadStarted('org/m@main')).release();
  const a = await gated.generationStarted();
  const second = post(server.url, { model: 'org/m', messages: hi });
  const b = await gated.generationStarted();

  const third = await post(server.url, { model: 'org/m', messages: hi });
  t.equal(third.status, 429, 'a third request, with two generating or waiting');
  t.equal(third.headers.get('retry-after'), '1');
  t.match(await third.json(), {
    error: {
      code: 'QUEUE_FULL',
      type: 'rate_limit_error',
      message: /org\/m@main already has 2 chat requests.*--max-queue/,
    },
  });

  a.release();
  t.equal((await first).status, 200);
  const fourth = post(server.url, { model: 'org/m', messages: hi });
  const d = await gated.generationStarted();
  t.pass('with one done, the next request is taken');
  b.release();
  d.release();
  t.equal((await second).status, 200);
  t.equal((await fourth).status, 200);
});

t.test('a short request behind a long one is answered right after it, whole (first come first served)', async (t) => {
  const mirror = await startTestMirror(await demoModelsDir());
  t.teardown(() => mirror.close());
  const server = await startTestServer({ hubUrl: mirror.url, maxQueue: 4 });
  t.teardown(() => server.close());
  const model = 'modeldeck/tiny-chat';
  t.equal((await post(server.url, { model, messages: hi, max_tokens: 1 })).status, 200, 'the model is resident');

  const order: string[] = [];
  // Seed 10 gives the demo model's longest reply among seeds 0-39 (75 tokens), streamed.
  const long = post(server.url, { model, messages: hi, max_tokens: 2000, seed: 10, temperature: 1, stream: true });
  const reader = (await long).body!.getReader();
  const decoder = new TextDecoder();
  // The first read says the long reply is generating; it may already hold the whole reply, so it is kept.
  const first = await reader.read();
  let text = first.value ? decoder.decode(first.value, { stream: true }) : '';
  const short = post(server.url, { model, messages: hi, max_tokens: 5, seed: 2 }).then(async (res) => {
    order.push('short');
    return res;
  });
  for (let chunk = first; !chunk.done;) {
    chunk = await reader.read();
    if (chunk.value) text += decoder.decode(chunk.value, { stream: true });
  }
  order.push('long');
  const answer = await short;
  t.equal(answer.status, 200);
  t.match(await answer.json(), { choices: [{ message: { role: 'assistant' } }] });
  t.match(text, /data: \[DONE\]/, 'the long reply ended normally');
  t.same(order, ['long', 'short'], 'the short request waited for the long one, which it did not cut');
});
