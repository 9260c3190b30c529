import t from 'tap';
import {
  DEFAULT_MAX_TOKENS,
  MAX_TOKENS_LIMIT,
  parseChatStreamData,
  validateChatCompletionRequest,
  type NormalisedChatRequest,
} from '../src/protocol/chat.js';
import { openAIError } from '../src/protocol/errors.js';

const model = 'HuggingFaceTB/SmolLM2-135M-Instruct';
const ref = { id: model, revision: 'main', key: `${model}@main` };
const user = [{ role: 'user', content: 'Hi' }];

function valid(body: unknown): NormalisedChatRequest {
  const result = validateChatCompletionRequest(body);
  if (!result.ok) throw new Error(`expected a valid request, got ${JSON.stringify(result.error)}`);
  return result.request;
}

t.test('a minimal request gets the defaults', async (t) => {
  t.strictSame(valid({ model, messages: user }), {
    model: ref,
    messages: [{ role: 'user', content: 'Hi' }],
    stream: false,
    maxTokens: DEFAULT_MAX_TOKENS,
    stop: [],
    includeUsage: false,
  });
  t.equal(DEFAULT_MAX_TOKENS, 256);
  t.equal(MAX_TOKENS_LIMIT, 4096);
});

t.test('a full request is normalised', async (t) => {
  t.strictSame(
    valid({
      model: `${model}@refs/pr/3`,
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'developer', content: 'Really brief.' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Hello' },
            { type: 'text', text: 'there' },
          ],
        },
        { role: 'assistant', content: null, tool_calls: [] },
        { role: 'user', content: [], name: 'bob' },
      ],
      stream: true,
      max_tokens: 10,
      max_completion_tokens: 4096,
      temperature: 0,
      top_p: 1,
      seed: 7,
      stop: ['\n\n', 'User:'],
      stream_options: { include_usage: true },
      n: 1,
      frequency_penalty: 0.5,
      user: 'someone',
    }),
    {
      model: { id: model, revision: 'refs/pr/3', key: `${model}@refs/pr/3` },
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'system', content: 'Really brief.' },
        { role: 'user', content: 'Hello\nthere' },
        { role: 'assistant', content: '' },
        { role: 'user', content: '' },
      ],
      stream: true,
      maxTokens: 4096,
      temperature: 0,
      topP: 1,
      seed: 7,
      stop: ['\n\n', 'User:'],
      includeUsage: true,
    },
  );
});

t.test('null counts as absent, and the edges of each range are accepted', async (t) => {
  t.strictSame(
    valid({
      model,
      messages: user,
      stream: null,
      max_tokens: null,
      max_completion_tokens: null,
      temperature: null,
      top_p: null,
      seed: null,
      stop: null,
      stream_options: null,
      n: null,
    }),
    valid({ model, messages: user }),
  );
  t.equal(valid({ model, messages: user, max_tokens: 1 }).maxTokens, 1);
  t.equal(valid({ model, messages: user, max_tokens: 4096 }).maxTokens, 4096);
  t.equal(valid({ model, messages: user, max_tokens: 5.0 }).maxTokens, 5, '5.0 is the integer 5 in JSON');
  t.equal(valid({ model, messages: user, temperature: 2 }).temperature, 2);
  t.equal(valid({ model, messages: user, top_p: 1e-9 }).topP, 1e-9);
  t.strictSame(valid({ model, messages: user, stop: 'END' }).stop, ['END']);
  t.strictSame(valid({ model, messages: user, stop: ['a', 'b', 'c', 'd'] }).stop, ['a', 'b', 'c', 'd']);
  t.strictSame(valid({ model, messages: user, stop: [] }).stop, []);
  t.equal(valid({ model, messages: user, stream_options: {} }).includeUsage, false);
  t.equal(valid({ model: 'gpt2', messages: user }).model.key, 'gpt2@main');
});

t.test('every invalid request is a 400 invalid_request_error naming the field, with a catalogue code', async (t) => {
  const cases: [name: string, body: unknown, param: string | null, message: RegExp, code?: string][] = [
    ['body is an array', [], null, /must be a JSON object, but got an array/, 'INVALID_BODY'],
    ['body is null', null, null, /but got null/, 'INVALID_BODY'],
    ['body is a string', 'hi', null, /but got a string \("hi"\)/, 'INVALID_BODY'],
    ['body is a number', 3, null, /but got a number \(3\)/, 'INVALID_BODY'],
    ['model missing', { messages: user }, 'model', /must provide a model/],
    ['model null', { model: null, messages: user }, 'model', /must provide a model/],
    [
      'model not a string',
      { model: 5, messages: user },
      'model',
      /Invalid type for 'model': expected a string, but got a number \(5\)/,
    ],
    ['model with ..', { model: '../etc', messages: user }, 'model', /Invalid 'model': .*'\.\.'/, 'INVALID_MODEL'],
    ['model too long', { model: 'a'.repeat(300), messages: user }, 'model', /too long/, 'INVALID_MODEL'],
    ['model empty', { model: '', messages: user }, 'model', /empty/, 'INVALID_MODEL'],
    ['messages missing', { model }, 'messages', /'messages' is a required property/],
    ['messages null', { model, messages: null }, 'messages', /required/],
    ['messages not an array', { model, messages: 'Hi' }, 'messages', /expected an array, but got a string/],
    ['messages empty', { model, messages: [] }, 'messages', /empty array/],
    ['message not an object', { model, messages: ['Hi'] }, 'messages[0]', /expected an object/],
    ['message is an array', { model, messages: [[]] }, 'messages[0]', /expected an object, but got an array/],
    ['role missing', { model, messages: [{ content: 'x' }] }, 'messages[0].role', /Missing required parameter/],
    [
      'role tool',
      { model, messages: [...user, { role: 'tool', content: 'x' }] },
      'messages[1].role',
      /but got a string \("tool"\)/,
    ],
    [
      'role wrong type',
      { model, messages: [{ role: 1, content: 'x' }] },
      'messages[0].role',
      /expected 'system', 'user' or 'assistant'/,
    ],
    ['content missing', { model, messages: [{ role: 'user' }] }, 'messages[0].content', /Missing required parameter/],
    [
      'content null for a user',
      { model, messages: [{ role: 'user', content: null }] },
      'messages[0].content',
      /but got null/,
    ],
    [
      'content a number',
      { model, messages: [{ role: 'user', content: 1 }] },
      'messages[0].content',
      /a string or an array of text parts/,
    ],
    [
      'content an object',
      { model, messages: [{ role: 'user', content: { text: 'x' } }] },
      'messages[0].content',
      /but got an object/,
    ],
    [
      'content part not an object',
      { model, messages: [{ role: 'user', content: ['x'] }] },
      'messages[0].content[0]',
      /expected an object/,
    ],
    [
      'image part',
      {
        model,
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'a' },
              { type: 'image_url', image_url: {} },
            ],
          },
        ],
      },
      'messages[0].content[1].type',
      /only 'text' content parts are supported, but got a string \("image_url"\)/,
    ],
    [
      'part without type',
      { model, messages: [{ role: 'user', content: [{ text: 'a' }] }] },
      'messages[0].content[0].type',
      /but got undefined/,
    ],
    [
      'part text not a string',
      { model, messages: [{ role: 'user', content: [{ type: 'text', text: 3 }] }] },
      'messages[0].content[0].text',
      /expected a string/,
    ],
    ['stream not a boolean', { model, messages: user, stream: 'true' }, 'stream', /expected a boolean/],
    ['n of 2', { model, messages: user, n: 2 }, 'n', /only 1 choice is supported, but got a number \(2\)/],
    ['max_tokens 0', { model, messages: user, max_tokens: 0 }, 'max_tokens', /from 1 to 4096, but got 0/],
    ['max_tokens negative', { model, messages: user, max_tokens: -5 }, 'max_tokens', /from 1 to 4096/],
    [
      'max_tokens over the limit',
      { model, messages: user, max_tokens: 4097 },
      'max_tokens',
      /from 1 to 4096, but got 4097/,
    ],
    ['max_tokens fractional', { model, messages: user, max_tokens: 1.5 }, 'max_tokens', /expected an integer/],
    ['max_tokens a string', { model, messages: user, max_tokens: '10' }, 'max_tokens', /expected a number/],
    ['max_tokens a boolean', { model, messages: user, max_tokens: true }, 'max_tokens', /but got a boolean \(true\)/],
    [
      'max_completion_tokens 0',
      { model, messages: user, max_completion_tokens: 0 },
      'max_completion_tokens',
      /from 1 to 4096/,
    ],
    [
      'max_completion_tokens huge',
      { model, messages: user, max_completion_tokens: 1e9 },
      'max_completion_tokens',
      /from 1 to 4096/,
    ],
    ['temperature negative', { model, messages: user, temperature: -0.1 }, 'temperature', /from 0 to 2, but got -0.1/],
    ['temperature above 2', { model, messages: user, temperature: 2.5 }, 'temperature', /from 0 to 2/],
    ['temperature a string', { model, messages: user, temperature: 'hot' }, 'temperature', /expected a number/],
    ['top_p 0', { model, messages: user, top_p: 0 }, 'top_p', /above 0 and at most 1, but got 0/],
    ['top_p above 1', { model, messages: user, top_p: 1.01 }, 'top_p', /above 0 and at most 1/],
    ['seed fractional', { model, messages: user, seed: 1.5 }, 'seed', /expected an integer/],
    ['seed unsafe', { model, messages: user, seed: 2 ** 60 }, 'seed', /expected an integer/],
    ['seed a string', { model, messages: user, seed: '42' }, 'seed', /expected a number/],
    ['seed negative', { model, messages: user, seed: -1 }, 'seed', /expected an integer from 0 to \d+, but got -1/],
    ['stop a number', { model, messages: user, stop: 5 }, 'stop', /a string or an array of strings/],
    ['stop an object', { model, messages: user, stop: { a: 1 } }, 'stop', /but got an object/],
    ['stop empty string', { model, messages: user, stop: '' }, 'stop', /must not be empty/],
    [
      'stop too many',
      { model, messages: user, stop: ['a', 'b', 'c', 'd', 'e'] },
      'stop',
      /at most 4 stop sequences.*got 5/,
    ],
    ['stop item not a string', { model, messages: user, stop: ['a', 1] }, 'stop[1]', /expected a string/],
    ['stop item empty', { model, messages: user, stop: ['a', ''] }, 'stop[1]', /must not be empty/],
    [
      'stream_options a boolean',
      { model, messages: user, stream_options: true },
      'stream_options',
      /expected an object/,
    ],
    ['stream_options an array', { model, messages: user, stream_options: [] }, 'stream_options', /expected an object/],
    [
      'include_usage not a boolean',
      { model, messages: user, stream: true, stream_options: { include_usage: 'yes' } },
      'stream_options.include_usage',
      /expected a boolean/,
    ],
    ['a long string value is clipped', { model, messages: user, stream: 'y'.repeat(100) }, 'stream', /"y{40}…"\)/],
  ];
  for (const [name, body, param, message, code] of cases) {
    const result = validateChatCompletionRequest(body);
    t.equal(result.ok, false, name);
    if (result.ok) continue;
    t.equal(result.status, 400, `${name}: status`);
    t.equal(result.error.error.type, 'invalid_request_error', `${name}: type`);
    t.equal(result.error.error.param, param, `${name}: param`);
    t.match(result.error.error.message, message, `${name}: message`);
    t.equal(result.error.error.code, code ?? 'INVALID_REQUEST', `${name}: code`);
  }
});

t.test('max_completion_tokens wins over max_tokens, and both are validated', async (t) => {
  t.equal(valid({ model, messages: user, max_tokens: 100, max_completion_tokens: 50 }).maxTokens, 50);
  t.equal(valid({ model, messages: user, max_tokens: 100 }).maxTokens, 100);
  const result = validateChatCompletionRequest({ model, messages: user, max_tokens: 0, max_completion_tokens: 50 });
  t.equal(result.ok, false);
  if (!result.ok) t.equal(result.error.error.param, 'max_tokens');
});

t.test('only request errors become 400s: a throwing getter is not swallowed', async (t) => {
  const body = {
    model,
    get messages(): never {
      throw new Error('getter exploded');
    },
  };
  t.throws(() => validateChatCompletionRequest(body), { message: 'getter exploded' });
});

t.test('openAIError builds OpenAI-shaped bodies with the type OpenAI would use', async (t) => {
  t.strictSame(openAIError(400, 'bad'), {
    error: { message: 'bad', type: 'invalid_request_error', param: null, code: null },
  });
  t.strictSame(openAIError(404, 'The model `x` does not exist.', { param: 'model', code: 'model_not_found' }), {
    error: {
      message: 'The model `x` does not exist.',
      type: 'invalid_request_error',
      param: 'model',
      code: 'model_not_found',
    },
  });
  const types: [number, string][] = [
    [401, 'authentication_error'],
    [403, 'permission_error'],
    [422, 'invalid_request_error'],
    [429, 'rate_limit_error'],
    [500, 'server_error'],
    [503, 'server_error'],
  ];
  for (const [status, type] of types) t.equal(openAIError(status, 'm').error.type, type, String(status));
  t.equal(openAIError(500, 'm', { type: 'model_error' }).error.type, 'model_error', 'explicit type wins');
  t.equal(openAIError(400, 'm', { param: null, code: null }).error.param, null);
});

t.test('parseChatStreamData reads chunks, [DONE], error frames and garbage', async (t) => {
  const chunk = {
    id: 'chatcmpl-1',
    object: 'chat.completion.chunk',
    created: 1700000000,
    model: `${model}@main`,
    choices: [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }],
  };
  t.strictSame(parseChatStreamData(JSON.stringify(chunk)), { kind: 'chunk', chunk });
  t.strictSame(parseChatStreamData('[DONE]'), { kind: 'done' });
  t.strictSame(parseChatStreamData(' [DONE]\n'), { kind: 'done' });
  t.strictSame(parseChatStreamData(JSON.stringify(openAIError(500, 'generation failed', { code: 'LOAD_FAILED' }))), {
    kind: 'error',
    error: { message: 'generation failed', type: 'server_error', param: null, code: 'LOAD_FAILED' },
  });
  t.strictSame(parseChatStreamData('{"error": "plain text error"}'), {
    kind: 'error',
    error: { message: 'plain text error', type: 'server_error', param: null, code: null },
  });
  t.strictSame(parseChatStreamData('{"error": {"message": "", "type": "x", "param": "p", "code": 5}}'), {
    kind: 'error',
    error: { message: 'the server reported an error', type: 'x', param: 'p', code: null },
  });
  t.strictSame(parseChatStreamData('{"error": {}}'), {
    kind: 'error',
    error: { message: 'the server reported an error', type: 'server_error', param: null, code: null },
  });
  t.match(parseChatStreamData('{"error": null, "choices": []}'), { kind: 'chunk' });
  t.match(parseChatStreamData('not json'), { kind: 'invalid', message: /not JSON/ });
  t.match(parseChatStreamData('[1]'), { kind: 'invalid', message: /not a JSON object/ });
  t.match(parseChatStreamData('{"id": "x"}'), { kind: 'invalid', message: /no "choices" array/ });
});
