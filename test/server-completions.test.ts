// Chat on every model that loads (issue 10): a repository's chat_template.jinja is fetched and used (over the one in
// tokenizer_config.json, as Python's transformers does); a base model with no template gets a 400 that says so, never
// a 500; and POST /v1/completions serves plain-text prompts, streamed and not, to base and chat models alike.
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { layOutTemplateRepos } from './helpers/chat-templates.js';
import { startTestMirror, startTestServer } from './helpers/stack.js';

const CHAT = 'modeldeck/tiny-chat';
const BASE = 'fixtures/base-model';
const JINJA = 'fixtures/jinja-chat';
// Distinctive text in the jinja template: it lengthens every prompt formatted with it.
const MARKER = 'You are a model whose template came from chat_template.jinja. ';

const root = await mkdtemp(join(tmpdir(), 'modeldeck-completions-'));
t.teardown(() => rm(root, { recursive: true, force: true }));
const template = await layOutTemplateRepos(root, {
  [CHAT]: { inConfig: true },
  // A base model: the same weights and tokenizer, no chat template anywhere.
  [BASE]: { inConfig: false },
  // A newer layout: the template in chat_template.jinja, beside the old one in tokenizer_config.json (which loses).
  [JINJA]: { inConfig: true, jinja: (template) => `{{ '${MARKER}' }}${template}` },
});

const mirror = await startTestMirror(root);
t.teardown(() => mirror.close());
const server = await startTestServer({ hubUrl: mirror.url });
t.teardown(() => server.close());

const hi = [{ role: 'user', content: 'hi' }];

function post(path: string, body: unknown): Promise<Response> {
  return fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/** The `data:` payloads of an SSE body, `[DONE]` included. */
async function frames(res: Response): Promise<string[]> {
  const text = await res.text();
  return text
    .split('\n\n')
    .filter((block) => block.startsWith('data: '))
    .map((block) => block.slice('data: '.length));
}

t.test('chat_template.jinja is fetched with the tokenizer and used in place of tokenizer_config.json', async (t) => {
  const usual = (await (await post('/v1/chat/completions', { model: CHAT, messages: hi, max_tokens: 1 })).json()) as {
    usage: Usage;
  };
  const res = await post('/v1/chat/completions', { model: JINJA, messages: hi, max_tokens: 1 });
  t.equal(res.status, 200);
  const body = (await res.json()) as { usage: Usage; choices: { message: { role: string } }[] };
  t.equal(body.choices[0]?.message.role, 'assistant');
  t.ok(
    body.usage.prompt_tokens > usual.usage.prompt_tokens + 5,
    `the marker lengthened the prompt (${body.usage.prompt_tokens} tokens against ${usual.usage.prompt_tokens})`,
  );
  const repo = join(server.cacheDir, 'models--fixtures--jinja-chat', 'snapshots');
  const [commit] = await readdir(repo);
  t.equal(
    await readFile(join(repo, commit ?? '', 'chat_template.jinja'), 'utf8'),
    `{{ '${MARKER}' }}${template}`,
    'the file is in the snapshot, as huggingface_hub would lay it out',
  );
  const models = (await (await fetch(`${server.url}/v1/models`)).json()) as { data: { id: string }[] };
  t.ok(
    models.data.some((m) => m.id.startsWith(JINJA)),
    'and the model is listed as resident',
  );
});

t.test('a base model without a chat template: a 400 that says so, streamed or not, never a 500', async (t) => {
  for (const stream of [false, true]) {
    const res = await post('/v1/chat/completions', { model: BASE, messages: hi, stream });
    t.equal(res.status, 400, `stream ${stream}: 400`);
    const body = (await res.json()) as { error: { code: string; message: string; param: string; type: string } };
    t.match(body.error, {
      code: 'CHAT_TEMPLATE_MISSING',
      param: 'messages',
      type: 'invalid_request_error',
      message: /fixtures\/base-model@main has no chat template .*base model.*POST \/v1\/completions/,
    });
  }
});

t.test('POST /v1/completions: plain text in, a text_completion out, streamed or not', async (t) => {
  for (const model of [BASE, CHAT]) {
    const request = { model, prompt: 'Once upon a time', max_tokens: 8, seed: 3, temperature: 1 };
    const res = await post('/v1/completions', request);
    t.equal(res.status, 200, `${model}: 200`);
    const whole = (await res.json()) as {
      id: string;
      object: string;
      model: string;
      choices: { index: number; text: string; finish_reason: string; logprobs: null }[];
      usage: Usage;
    };
    t.match(whole, { object: 'text_completion', model: `${model}@main`, id: /^cmpl-[0-9a-f]{24}$/ });
    t.equal(whole.choices.length, 1);
    t.match(whole.choices[0], { index: 0, logprobs: null, finish_reason: /^(stop|length)$/ });
    t.ok(whole.usage.completion_tokens >= 1 && whole.usage.completion_tokens <= 8, 'max_tokens bounds the reply');
    t.ok(whole.usage.prompt_tokens >= 4, 'the prompt is counted as text, with no template around it');
    t.equal(whole.usage.total_tokens, whole.usage.prompt_tokens + whole.usage.completion_tokens);

    const streamed = await post('/v1/completions', { ...request, stream: true });
    t.equal(streamed.status, 200);
    t.match(streamed.headers.get('content-type') ?? '', /^text\/event-stream/);
    const data = await frames(streamed);
    t.equal(data.at(-1), '[DONE]', 'ends with [DONE]');
    const chunks = data.slice(0, -1).map(
      (d) =>
        JSON.parse(d) as {
          id: string;
          object: string;
          choices: { text: string; finish_reason: string | null }[];
          usage?: Usage;
        },
    );
    t.ok(
      chunks.every((c) => c.object === 'text_completion' && c.id === chunks[0]?.id),
      'every chunk a text_completion of one id',
    );
    const last = chunks.at(-1);
    t.equal(last?.choices[0]?.finish_reason, whole.choices[0]?.finish_reason, 'the last chunk says why it stopped');
    t.same(last?.usage, whole.usage, 'and carries the usage');
    t.equal(
      chunks.map((c) => c.choices[0]?.text ?? '').join(''),
      whole.choices[0]?.text,
      'the same seed streams the same text',
    );
  }
});

t.test('a completion request is checked field by field, with the chat route’s rules for the settings', async (t) => {
  const cases: [string, Record<string, unknown>, RegExp, string | null][] = [
    ['no prompt', { model: BASE }, /'prompt' is a required property/, 'prompt'],
    ['two prompts', { model: BASE, prompt: ['a', 'b'] }, /one prompt per request is supported, but got 2/, 'prompt'],
    ['token ids', { model: BASE, prompt: [1, 2, 3] }, /expected a string \(token arrays are not supported\)/, 'prompt'],
    ['echo', { model: BASE, prompt: 'a', echo: true }, /echoing the prompt is not supported/, 'echo'],
    ['logprobs', { model: BASE, prompt: 'a', logprobs: 2 }, /log probabilities is not supported/, 'logprobs'],
    ['a bad max_tokens', { model: BASE, prompt: 'a', max_tokens: 0 }, /expected an integer from 1/, 'max_tokens'],
    ['a bad model', { model: 'no slash', prompt: 'a' }, /Invalid 'model'/, 'model'],
  ];
  for (const [what, body, message, param] of cases) {
    const res = await post('/v1/completions', body);
    t.equal(res.status, 400, `${what}: 400`);
    const { error } = (await res.json()) as { error: { message: string; param: string | null } };
    t.match(error.message, message, `${what}: says why`);
    t.equal(error.param, param, `${what}: names ${param}`);
  }
  const single = await post('/v1/completions', { model: BASE, prompt: ['Once'], max_tokens: 2 });
  t.equal(single.status, 200, 'an array of one prompt is that prompt');
});
