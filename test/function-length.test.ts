// Function length, as the house measures it: ESLint's max-lines-per-function counting every line (blank and comment
// lines too) and IIFEs. eslint.config.js fails any function of src over 150 lines; this holds the count over 80.
import { ESLint } from 'eslint';
import t from 'tap';
import tseslint from 'typescript-eslint';
import { repoPath } from './helpers/repo.js';

/** At most this many functions of src may be longer than {@link LONG}. */
const MAX_LONG_FUNCTIONS = 10;
const LONG = 80;
const TOO_LONG = 150;

/** `lines path:line name` of every function of src over `max` lines. */
async function functionsOver(max: number): Promise<string[]> {
  // Only the one rule, without the project's config: the whole of src in a few seconds.
  const eslint = new ESLint({
    cwd: repoPath(),
    overrideConfigFile: true,
    overrideConfig: [
      {
        files: ['**/*.ts'],
        languageOptions: { parser: tseslint.parser },
        linterOptions: { reportUnusedDisableDirectives: 'off' },
        rules: { 'max-lines-per-function': ['error', { max, IIFEs: true }] },
      },
    ],
  });
  const results = await eslint.lintFiles(['src']);
  return results.flatMap((result) =>
    result.messages
      .filter((m) => m.ruleId === 'max-lines-per-function')
      .map((m) => {
        const lines = /\((\d+)\)/.exec(m.message)?.[1] ?? '?';
        const path = result.filePath.slice(result.filePath.lastIndexOf('/src/') + 1);
        return `${lines} ${path}:${m.line} ${m.message.split(' has ')[0] ?? ''}`;
      }),
  );
}

t.test(`no function of src is over ${TOO_LONG} lines, at most ${MAX_LONG_FUNCTIONS} over ${LONG}`, async (t) => {
  const long = await functionsOver(LONG);
  const tooLong = long.filter((entry) => Number(entry.split(' ')[0]) > TOO_LONG);
  t.same(tooLong, [], `none over ${TOO_LONG}`);
  t.ok(long.length <= MAX_LONG_FUNCTIONS, `${long.length} over ${LONG}:\n${long.join('\n')}`);
});
