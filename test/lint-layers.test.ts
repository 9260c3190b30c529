// The layers of docs/architecture.md are lint rules (eslint.config.js): an import that points up fails `npm run lint`.
// Synthetic files at real paths of src, linted with the project's own config; none is written to disk.
import { ESLint } from 'eslint';
import t from 'tap';
import { repoPath } from './helpers/repo.js';

const eslint = new ESLint({ cwd: repoPath() });

/** The layer messages ESLint gives `code` as the file `path`, one `line: rule` each. */
async function layerErrors(path: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path });
  return (result?.messages ?? [])
    .filter((m) => m.ruleId === 'no-restricted-imports' || m.ruleId === 'no-restricted-syntax')
    .map((m) => `${m.line}: ${m.ruleId}`);
}

/** Every way a module can name another: static, type-only, re-export, dynamic, and an `import()` type. */
function everyForm(specifier: string): string {
  return [
    `import '${specifier}';`,
    `import type { A } from '${specifier}';`,
    `export { b } from '${specifier}';`,
    `export const c = async (): Promise<unknown> => import('${specifier}');`,
    `export type D = typeof import('${specifier}') | A;`,
  ].join('\n');
}

const EVERY_FORM_FAILS = [
  '1: no-restricted-imports',
  '2: no-restricted-imports',
  '3: no-restricted-imports',
  '4: no-restricted-syntax',
  '5: no-restricted-syntax',
];

t.test('an import that points up fails, in every form', async (t) => {
  const upward: [string, string][] = [
    ['src/server/fake.ts', '../tui/view-model.js'],
    ['src/tui/fake.ts', '../server/load-manager.js'],
    ['src/protocol/fake.ts', '../common/clock.js'],
    ['src/common/fake.ts', '../client/http.js'],
    ['src/common/fake.ts', '../server/start.js'],
    ['src/client/fake.ts', '../cli/args.js'],
    ['src/mirror/fake.ts', '../cli/args.js'],
    ['src/demo/fake.ts', '../cli/main.js'],
    ['src/tui/fake.ts', '../cli/dashboard.js'],
    ['src/server/fake.ts', '../client/http.js'],
    ['src/client/fake.ts', '../server/start.js'],
    ['src/client/check/fake.ts', '../../server/start.js'],
    ['src/server/deeper/still/fake.ts', '../../../tui/render.js'],
  ];
  for (const [path, specifier] of upward) {
    t.same(await layerErrors(path, everyForm(specifier)), EVERY_FORM_FAILS, `${path} → ${specifier}`);
  }
});

t.test('protocol imports no library and no node: module', async (t) => {
  for (const specifier of ['eventsource-parser', 'node:fs', 'fs']) {
    t.same(await layerErrors('src/protocol/fake.ts', everyForm(specifier)), EVERY_FORM_FAILS, specifier);
  }
});

t.test('imports that point down, or stay in their folder, pass', async (t) => {
  const legal: [string, string][] = [
    ['src/server/fake.ts', '../protocol/events.js'],
    ['src/server/fake.ts', '../common/clock.js'],
    ['src/server/fake.ts', './load-manager.js'],
    ['src/server/fake.ts', 'fastify'],
    ['src/tui/fake.ts', '../client/http.js'],
    ['src/cli/fake.ts', '../server/start.js'],
    ['src/cli/fake.ts', '../tui/dashboard.js'],
    ['src/demo/fake.ts', '../mirror/mirror.js'],
    ['src/common/fake.ts', '../protocol/errors.js'],
    ['src/protocol/fake.ts', './sse.js'],
    ['src/client/check/fake.ts', '../http.js'],
    ['src/client/check/fake.ts', '../../protocol/events.js'],
  ];
  for (const [path, specifier] of legal) {
    const [result] = await eslint.lintText(everyForm(specifier), { filePath: path });
    t.same(result?.messages, [], `${path} → ${specifier}`);
  }
});
