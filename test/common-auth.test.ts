import t from 'tap';
import { createSecretCheck, parseBearer } from '../src/common/auth.js';

t.test('parseBearer reads one token after the Bearer scheme', async (t) => {
  t.equal(parseBearer('Bearer sk-1'), 'sk-1');
  t.equal(parseBearer('bearer sk-1'), 'sk-1', 'the scheme is case-insensitive');
  t.equal(parseBearer('Bearer \t sk-1 \t'), 'sk-1', 'spaces and tabs around the token');
  for (const header of [undefined, '', 'Bearer', 'Bearer ', 'Basic dXNlcjpwYXNz', 'Bearer a b', 'Bearersk-1', 'sk-1']) {
    t.equal(parseBearer(header), undefined, JSON.stringify(header));
  }
});

t.test('createSecretCheck accepts the secret only', async (t) => {
  const check = createSecretCheck('sk-right');
  t.equal(check('sk-right'), true);
  t.equal(check('sk-wrong'), false);
  t.equal(check('sk-righ'), false, 'a prefix');
  t.equal(check('sk-right-and-more'), false, 'a longer secret');
  t.equal(check(''), false);
});
