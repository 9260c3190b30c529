import t from 'tap';
import { DEFAULT_REVISION, MAX_MODEL_ID_LENGTH, modelKey, parseModelId } from '../src/protocol/model-id.js';

const sha = '0123456789abcdef0123456789abcdef01234567';

t.test('valid ids are normalised to id@revision', async (t) => {
  const cases: [input: string, id: string, revision: string][] = [
    ['HuggingFaceTB/SmolLM2-135M-Instruct', 'HuggingFaceTB/SmolLM2-135M-Instruct', 'main'],
    ['gpt2', 'gpt2', 'main'],
    ['org/name@v1.0', 'org/name', 'v1.0'],
    ['org/name@refs/pr/1', 'org/name', 'refs/pr/1'],
    [`org/name@${sha}`, 'org/name', sha],
    ['Org_1/na.me-2@feature/x_y-z.1', 'Org_1/na.me-2', 'feature/x_y-z.1'],
    ['o/n@main', 'o/n', 'main'],
  ];
  for (const [input, id, revision] of cases) {
    t.strictSame(parseModelId(input), { ok: true, ref: { id, revision, key: `${id}@${revision}` } }, input);
  }
  t.equal(DEFAULT_REVISION, 'main');
  t.equal(modelKey('a/b', 'dev'), 'a/b@dev');
});

t.test('an id of exactly the maximum length is accepted, one more is not', async (t) => {
  const org = 'o'.repeat(100);
  const name = 'n'.repeat(MAX_MODEL_ID_LENGTH - 100 - 1 - 5);
  const atLimit = `${org}/${name}@main`;
  t.equal(atLimit.length, MAX_MODEL_ID_LENGTH);
  t.equal(parseModelId(atLimit).ok, true);
  const over = parseModelId(`${atLimit}x`);
  t.equal(over.ok, false);
  if (!over.ok) {
    t.match(over.message, /too long: 257 characters, at most 256/);
    // The message quotes a prefix of the input, not all of it.
    t.ok(over.message.length < 200, 'message stays short');
  }
});

t.test('invalid ids are refused with a message that names the problem', async (t) => {
  const cases: [input: string, problem: RegExp][] = [
    ['', /is empty/],
    [' org/name', /whitespace or a control character \(U\+0020 at position 0\)/],
    ['org/na me', /whitespace or a control character/],
    ['org/name\n', /U\+000A/],
    ['org/name\t', /U\+0009/],
    ['org/\u0000name', /U\+0000/],
    ['org/\u200bname', /U\+200B/],
    ['org/\u{E0001}name', /U\+E0001/],
    ['org/name\u0085', /U\+0085/],
    ['org\\name', /backslash/],
    ['C:\\models\\x', /backslash/],
    ['/etc/passwd', /absolute path/],
    ['/', /absolute path/],
    ['../etc/passwd', /'\.\.' path segment/],
    ['org/..', /'\.\.' path segment/],
    ['..', /'\.\.' path segment/],
    ['org/a..b', /contains '\.\.'/],
    ['a/b/c', /has 3 path segments; expected org\/name/],
    ['a/b/c/d@main', /has 4 path segments/],
    ['org//name', /path segments/],
    ['org/', /empty path segment/],
    ['@main', /no repository name before '@'/],
    ['org/na$me', /characters other than letters, digits.*"na\$me"/],
    ['org/náme', /characters other than letters/],
    ['org/na:me', /characters other than letters/],
    ['org/.hidden', /starting with '\.'/],
    ['.org/name', /starting with '\.'/],
    ['-org/name', /starting with '-'/],
    ['org/-name', /starting with '-'/],
    ['org/name@', /empty revision after '@'/],
    ['org/name@v1:2', /revision with characters other than/],
    ['org/name@a@b', /revision with characters other than/],
    ['org/name@ref~1', /revision with characters other than/],
    ['org/name@../x', /'\.\.' in its revision/],
    ['org/name@a..b', /'\.\.' in its revision/],
    ['org/name@/main', /starts or ends with '\/'/],
    ['org/name@main/', /starts or ends with '\/'/],
    ['org/name@a//b', /empty path segment in its revision/],
  ];
  for (const [input, problem] of cases) {
    const result = parseModelId(input);
    t.equal(result.ok, false, `refuses ${JSON.stringify(input)}`);
    if (!result.ok) {
      t.match(result.message, problem, JSON.stringify(input));
      // Raw control characters never reach a message (it may be logged or printed to a terminal).
      t.notMatch(result.message, /[\u0000-\u001f\u007f]/, 'message has no raw control characters');
    }
  }
});

t.test('a non-string input is refused, not thrown on', async (t) => {
  for (const [value, got] of [
    [42, 'number'],
    [null, 'null'],
    [['org/name'], 'an array'],
    [undefined, 'undefined'],
  ] as const) {
    const result = parseModelId(value as unknown as string);
    t.strictSame(result, { ok: false, message: `model id must be a string, got ${got}` });
  }
});
