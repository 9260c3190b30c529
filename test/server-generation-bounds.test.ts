// Generation bounded (issue 14, item 2): a prompt whose tokens plus max_tokens exceed the model's context is refused
// with a 400 naming both numbers (streamed or not, before anything is generated), through the real tiny model; and a
// reply that runs past the time limit is ended with GENERATION_TIMEOUT.
import t from 'tap';
import { startServer } from '../src/server/start.js';
import { demoModelsDir } from './helpers/demo.js';
import { gatedLoader } from './helpers/gated-loader.js';
import { startTestMirror, startTestServer } from './helpers/stack.js';

const MODEL = 'modeldeck/tiny-chat';
const mirror = await startTestMirror(await demoModelsDir());
t.teardown(() => mirror.close());

function chat(url: string, body: Record<string, unknown>): Promise<{ status: number; text: string; type: string }> {
  return fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL, ...body }),
  }).then(async (res) => ({ status: res.status, text: await res.text(), type: res.headers.get('content-type') ?? '' }));
}

t.test('a prompt plus max_tokens past the context: 400 CONTEXT_LENGTH_EXCEEDED naming both numbers', async (t) => {
  const server = await startTestServer({ hubUrl: mirror.url });
  t.teardown(() => server.close());
  const hi = [{ role: 'user', content: 'hi' }];
  const long = [{ role: 'user', content: 'word '.repeat(6000) }];
  for (const [name, body] of [
    ['max_tokens past the context', { messages: hi, max_tokens: 4096 }],
    ['max_tokens past the context, streamed', { messages: hi, max_tokens: 4096, stream: true }],
    ['a prompt past the context', { messages: long, max_tokens: 16 }],
    ['a prompt past the context, streamed', { messages: long, max_tokens: 16, stream: true }],
  ] as const) {
    const answer = await chat(server.url, body);
    t.equal(answer.status, 400, `${name}: 400`);
    t.match(answer.type, /^application\/json/, `${name}: an error body, not a stream`);
    const error = (JSON.parse(answer.text) as { error: { code: string; message: string; param: string } }).error;
    t.equal(error.code, 'CONTEXT_LENGTH_EXCEEDED');
    t.equal(error.param, 'messages');
    const numbers =
      /maximum context length is (\d+) tokens\. However, you requested (\d+) tokens \((\d+) in the messages, (\d+) in the completion\)/.exec(
        error.message,
      );
    t.ok(numbers, `${name}: the message names the numbers (${error.message})`);
    const [, context, total, prompt, completion] = (numbers ?? []).map(Number);
    t.equal(context, 4096, 'the context');
    t.equal(completion, body.max_tokens, 'max_tokens');
    t.equal(total, (prompt ?? 0) + (completion ?? 0), 'their sum');
    t.ok((total ?? 0) > 4096, 'over the context');
  }
  const fits = await chat(server.url, { messages: hi, max_tokens: 4 });
  t.equal(fits.status, 200, 'a prompt that fits is answered');
});

t.test('a reply past --generation-timeout ends with GENERATION_TIMEOUT', async (t) => {
  const gated = gatedLoader();
  const server = await startServer({ loader: gated.loader, generationTimeoutMs: 300 });
  t.teardown(() => server.close());
  const whole = chat(server.url, { model: 'org/m', messages: [{ role: 'user', content: 'hi' }] });
  (await gated.loadStarted('org/m@main')).release();
  await gated.generationStarted();
  const answer = await whole;
  t.equal(answer.status, 504);
  t.match(JSON.parse(answer.text), {
    error: { code: 'GENERATION_TIMEOUT', message: /limit of 0\.3 s.*--generation-timeout/ },
  });
  const streamed = chat(server.url, { model: 'org/m', messages: [{ role: 'user', content: 'hi' }], stream: true });
  await gated.generationStarted();
  const frames = await streamed;
  t.equal(frames.status, 200, 'the stream had begun');
  t.match(frames.text, /data: \{"error":\{"message":"the reply ran past[^\n]*"code":"GENERATION_TIMEOUT"/);
  t.notMatch(frames.text, /\[DONE\]/, 'no [DONE] after the error');
  t.equal(gated.stoppedGenerations, 2, 'both generations were stopped');
});
