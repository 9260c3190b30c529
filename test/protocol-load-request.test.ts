import t from 'tap';
import { validateLoadModelRequest } from '../src/protocol/load-request.js';

t.test('a valid body gives the normalised reference', async (t) => {
  t.strictSame(validateLoadModelRequest({ model: 'HuggingFaceTB/SmolLM2-135M-Instruct' }), {
    ok: true,
    ref: {
      id: 'HuggingFaceTB/SmolLM2-135M-Instruct',
      revision: 'main',
      key: 'HuggingFaceTB/SmolLM2-135M-Instruct@main',
    },
  });
  t.strictSame(validateLoadModelRequest({ model: 'org/name@v2', stream: true, extra: { x: 1 } }), {
    ok: true,
    ref: { id: 'org/name', revision: 'v2', key: 'org/name@v2' },
  });
});

t.test('refusals: status, code and a message that names the problem', async (t) => {
  const cases: [name: string, body: unknown, status: 400 | 422, code: string, message: RegExp][] = [
    ['null body', null, 400, 'INVALID_BODY', /must be a JSON object.*got null/],
    ['array body', [{ model: 'a/b' }], 400, 'INVALID_BODY', /got an array/],
    ['string body', 'org/name', 400, 'INVALID_BODY', /got string/],
    ['number body', 1, 400, 'INVALID_BODY', /got number/],
    ['undefined body', undefined, 400, 'INVALID_BODY', /got undefined/],
    ['empty object', {}, 422, 'MISSING_MODEL', /missing the required field "model"/],
    ['model misspelt', { Model: 'a/b' }, 422, 'MISSING_MODEL', /missing the required field "model"/],
    ['model null', { model: null }, 422, 'INVALID_MODEL_TYPE', /must be a string, got null/],
    ['model a number', { model: 7 }, 422, 'INVALID_MODEL_TYPE', /must be a string, got number/],
    ['model an array', { model: ['a/b'] }, 422, 'INVALID_MODEL_TYPE', /must be a string, got an array/],
    ['model an object', { model: { id: 'a/b' } }, 422, 'INVALID_MODEL_TYPE', /must be a string, got object/],
    ['model empty', { model: '' }, 400, 'INVALID_MODEL', /model id is empty/],
    ['model with ..', { model: 'org/../../etc' }, 400, 'INVALID_MODEL', /'\.\.' path segment/],
    ['absolute path', { model: '/etc/passwd' }, 400, 'INVALID_MODEL', /absolute path/],
    ['control characters', { model: 'org/na\u0007me' }, 400, 'INVALID_MODEL', /control character \(U\+0007/],
    ['absurdly long', { model: `a/${'b'.repeat(10_000)}` }, 400, 'INVALID_MODEL', /too long: 10002 characters/],
    ['empty revision', { model: 'org/name@' }, 400, 'INVALID_MODEL', /empty revision/],
  ];
  for (const [name, body, status, code, message] of cases) {
    const result = validateLoadModelRequest(body);
    t.equal(result.ok, false, name);
    if (result.ok) continue;
    t.equal(result.status, status, `${name}: status`);
    t.equal(result.code, code, `${name}: code`);
    t.match(result.message, message, `${name}: message`);
    t.ok(result.message.length < 300, `${name}: message is short`);
  }
});
