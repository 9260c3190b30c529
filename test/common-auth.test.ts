import t from 'tap';
import { accessKeysOf, checkKey, createKeyRing, createSecretCheck, parseBearer } from '../src/common/auth.js';

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

t.test('createKeyRing tells the full key from a watch key, and anything else from both', async (t) => {
  const ring = createKeyRing({ full: 'sk-full', watch: ['wk-one', 'wk-two'] });
  t.equal(ring('sk-full'), 'full');
  t.equal(ring('wk-one'), 'watch');
  t.equal(ring('wk-two'), 'watch');
  for (const other of ['', 'sk-ful', 'sk-full ', 'wk-one-and-more', 'WK-ONE']) t.equal(ring(other), undefined, other);
  t.equal(createKeyRing({ full: 'sk-full', watch: [] })('wk-one'), undefined, 'no watch keys: only the full key');
});

t.test('checkKey refuses what cannot travel in a header, naming the source and never the key', async (t) => {
  t.equal(checkKey({ key: 'sk-1', source: '--api-key' }), 'sk-1');
  const cases: [string, string, RegExp][] = [
    ['', 'MD_KEY_EMPTY', /^--watch-key is empty: a key needs at least one character$/],
    ['secret key', 'MD_KEY_CHARACTERS', /^--watch-key has a space.* \(character 7 of 10\): a key travels in an HTTP/],
    ['secret\tkey', 'MD_KEY_CHARACTERS', /character 7 of 10/],
    ['secretkey\n', 'MD_KEY_CHARACTERS', /character 10 of 10/],
    ['sécret', 'MD_KEY_CHARACTERS', /outside printable ASCII \(character 2 of 6\)/],
    ['\u0001secret', 'MD_KEY_CHARACTERS', /character 1 of 7/],
  ];
  for (const [key, code, says] of cases) {
    t.throws(
      () => checkKey({ key, source: '--watch-key' }),
      { name: 'KeyError', code, exitStatus: 2, message: says },
      JSON.stringify(key),
    );
    try {
      checkKey({ key, source: '--watch-key' });
    } catch (error) {
      if (key !== '') t.notOk((error as Error).message.includes(key.trim()), 'the message does not show the key');
    }
  }
});

t.test('accessKeysOf: one kind per key, and watch keys only beside a full key', async (t) => {
  const full = { key: 'sk-full', source: '--api-key' };
  t.equal(accessKeysOf(undefined, []), undefined, 'no keys: an open server');
  t.same(accessKeysOf(full, []), { full: 'sk-full', watch: [] });
  t.same(
    accessKeysOf(full, [
      { key: 'wk-1', source: '--watch-key #1' },
      { key: 'wk-2', source: '--watch-key #2' },
      { key: 'wk-1', source: '--watch-key #3' },
    ]),
    { full: 'sk-full', watch: ['wk-1', 'wk-2'] },
    'a repeated watch key counts once',
  );
  t.throws(() => accessKeysOf(full, [{ key: 'sk-full', source: '--watch-key #2' }]), {
    name: 'KeyError',
    code: 'MD_KEY_REUSED',
    message: /^--watch-key #2 is also the full key \(--api-key\): a key is either a watch key or the full key/,
  });
  t.throws(() => accessKeysOf(undefined, [{ key: 'wk-1', source: 'MODELDECK_WATCH_KEYS' }]), {
    name: 'KeyError',
    code: 'MD_KEY_WATCH_WITHOUT_FULL',
    message: /^MODELDECK_WATCH_KEYS given without a full key: .*set MODELDECK_API_KEY \(or --api-key\) too$/,
  });
  t.throws(() => accessKeysOf({ key: '', source: '--api-key' }, []), { code: 'MD_KEY_EMPTY', message: /^--api-key/ });
  t.throws(() => accessKeysOf(full, [{ key: 'a b', source: '--watch-key' }]), { code: 'MD_KEY_CHARACTERS' });
});
