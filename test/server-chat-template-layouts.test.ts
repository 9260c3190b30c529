// Chat templates as real repositories ship them, beyond tokenizer_config.json (issue 10): a template kept only in
// chat_template.jinja (the config has none) formats the chat, and a template that refuses the messages it is given
// (Mistral's and Gemma's raise_exception on roles they do not take) is the request's 400, never a 500.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { layOutTemplateRepos } from './helpers/chat-templates.js';
import { startTestMirror, startTestServer } from './helpers/stack.js';

const CHAT = 'modeldeck/tiny-chat';
const JINJA_ONLY = 'fixtures/jinja-only';
const STRICT = 'fixtures/strict-roles';
const BASE = 'fixtures/no-template';
const MARKER = 'marker text that only the jinja template adds ';

const root = await mkdtemp(join(tmpdir(), 'modeldeck-template-layouts-'));
t.teardown(() => rm(root, { recursive: true, force: true }));
await layOutTemplateRepos(root, {
  [CHAT]: { inConfig: true },
  // The template only in chat_template.jinja, as many newer repositories keep it.
  [JINJA_ONLY]: { inConfig: false, jinja: (template) => `{{ '${MARKER}' }}${template}` },
  // A template that refuses a system message, the way Gemma's does.
  [STRICT]: {
    inConfig: true,
    jinja: (template) =>
      `{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}${template}`,
  },
  // No template anywhere: a base model.
  [BASE]: { inConfig: false },
});

const mirror = await startTestMirror(root);
t.teardown(() => mirror.close());
const server = await startTestServer({ hubUrl: mirror.url });
t.teardown(() => server.close());

interface Reply {
  usage: { prompt_tokens: number };
  error: { code: string; message: string; param: string | null; type: string };
}

async function chat(model: string, messages: unknown, stream = false): Promise<{ status: number; body: Reply }> {
  const res = await fetch(`${server.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages, max_tokens: 1, stream }),
  });
  return { status: res.status, body: (await res.json()) as Reply };
}

const hi = [{ role: 'user', content: 'hi' }];

t.test('a template kept only in chat_template.jinja formats the chat', async (t) => {
  const usual = await chat(CHAT, hi);
  const jinja = await chat(JINJA_ONLY, hi);
  t.equal(usual.status, 200);
  t.equal(jinja.status, 200, JSON.stringify(jinja.body));
  t.ok(
    jinja.body.usage.prompt_tokens > usual.body.usage.prompt_tokens + 5,
    `the jinja template's marker lengthened the prompt (${jinja.body.usage.prompt_tokens} tokens against ` +
      `${usual.body.usage.prompt_tokens})`,
  );
});

t.test('a template that refuses the messages: a 400 naming messages with its reason, streamed or not', async (t) => {
  t.equal((await chat(STRICT, hi)).status, 200, 'messages the template takes are answered');
  for (const stream of [false, true]) {
    const refused = await chat(STRICT, [{ role: 'system', content: 'Be brief.' }, ...hi], stream);
    t.equal(refused.status, 400, `stream ${stream}: 400, not a 500`);
    t.match(refused.body.error, {
      code: 'INVALID_REQUEST',
      param: 'messages',
      type: 'invalid_request_error',
      message: /fixtures\/strict-roles@main's chat template could not format the messages: .*System role not supported/,
    });
  }
  t.equal((await chat(STRICT, hi)).status, 200, 'and the model still answers afterwards');
});

t.test('GET /v1/models and the feed say whether a resident model has a chat template', async (t) => {
  const load = await fetch(`${server.url}/load_model`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: BASE }),
  });
  t.match(await load.text(), /"status": ?"ready"/, 'the base model loads');
  const models = (await (await fetch(`${server.url}/v1/models`)).json()) as {
    data: { id: string; status: string; has_chat_template?: boolean }[];
  };
  const entry = (model: string) => models.data.find((m) => m.id === `${model}@main`);
  t.match(entry(BASE), { status: 'loaded', has_chat_template: false }, 'a base model: false');
  t.match(entry(JINJA_ONLY), { status: 'loaded', has_chat_template: true }, 'a chat_template.jinja: true');
  t.match(entry(CHAT), { status: 'loaded', has_chat_template: true }, 'a template in tokenizer_config.json: true');
});
