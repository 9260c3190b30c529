import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { SHUTTING_DOWN_CODE, WIRE_ERRORS, statusOf, wireError, type LoadErrorCode } from '../src/protocol/errors.js';
import { repoPath } from './helpers/repo.js';

// In the manner of fastify's test/internals/errors.test.js: assertions over the whole table.
const codes = Object.keys(WIRE_ERRORS) as (keyof typeof WIRE_ERRORS)[];
const docs = await readFile(repoPath('docs', 'protocol.md'), 'utf8');

/** The rows of the error-code table in docs/protocol.md: `| \`CODE\` | status | when |`. */
const documented = new Map(
  [...docs.matchAll(/^\|\s*`([A-Z_]+)`\s*\|\s*(\d{3})\s*\|(.*)\|\s*$/gm)].map((m) => [m[1] ?? '', Number(m[2])]),
);

t.test('every code is UPPER_SNAKE_CASE and unique, also ignoring case and underscores', async (t) => {
  t.ok(codes.length >= 20, `${codes.length} codes`);
  for (const code of codes) t.match(code, /^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/, code);
  const folded = new Set(codes.map((code) => code.toLowerCase().replaceAll('_', '')));
  t.equal(folded.size, codes.length, 'no two codes differ only in spelling');
});

t.test('every status is an HTTP error status, and every entry says when it is sent', async (t) => {
  for (const code of codes) {
    const { status, when } = WIRE_ERRORS[code];
    t.ok(Number.isInteger(status) && status >= 400 && status <= 599, `${code}: ${status}`);
    t.ok(when.length >= 10, `${code} says when`);
    t.equal(statusOf(code), status);
  }
});

t.test('docs/protocol.md documents every code with its status, and no other', async (t) => {
  for (const code of codes) t.equal(documented.get(code), WIRE_ERRORS[code].status, `${code} documented`);
  for (const code of documented.keys()) t.ok(Object.hasOwn(WIRE_ERRORS, code), `${code} is in the catalogue`);
});

t.test('every code is sent by some source file (no dead entries)', async (t) => {
  const sources: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (path.endsWith('.ts') && !path.endsWith('/protocol/errors.ts'))
        sources.push(await readFile(path, 'utf8'));
    }
  };
  await walk(repoPath('src'));
  const all = sources.join('\n');
  for (const code of codes) t.ok(all.includes(`'${code}'`), `${code} is used`);
});

t.test('wireError builds the OpenAI body with the status of the code', async (t) => {
  t.strictSame(wireError('MODEL_NOT_FOUND', 'no such model', 'model'), {
    status: 404,
    body: {
      error: { message: 'no such model', type: 'invalid_request_error', param: 'model', code: 'MODEL_NOT_FOUND' },
    },
  });
  t.equal(wireError('INVALID_API_KEY', 'm').body.error.type, 'authentication_error');
  t.equal(wireError('FORBIDDEN', 'm').body.error.type, 'permission_error');
  t.equal(wireError('INTERNAL_ERROR', 'm').body.error.type, 'server_error');
  t.equal(wireError('BAD_REQUEST', 'm').body.error.param, null);
});

t.test('load codes are catalogue codes', async (t) => {
  const shutdown: LoadErrorCode = SHUTTING_DOWN_CODE;
  t.equal(shutdown, 'ABORTED');
  t.ok(Object.hasOwn(WIRE_ERRORS, shutdown));
});
