// Lint: ESLint's and typescript-eslint's recommended rules, without type information (fast enough for every test run),
// and the layers of docs/architecture.md.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

/**
 * The layers (docs/architecture.md): each folder of src and the folders it may import besides itself. Imports point
 * down: cli > demo, tui, mirror > server, client > common, protocol. Within a band only the edges named here: the demo
 * stack starts a mirror, and common may use a wire fact. `server` and `tui` never import each other (what the
 * dashboard needs of the server is the wire, which protocol owns); nothing imports cli; protocol imports nothing,
 * not even a library or a node: module (it is pure).
 */
const LAYERS = {
  cli: ['demo', 'tui', 'mirror', 'server', 'client', 'common', 'protocol'],
  demo: ['mirror', 'server', 'client', 'common', 'protocol'],
  tui: ['client', 'common', 'protocol'],
  mirror: ['server', 'client', 'common', 'protocol'],
  server: ['common', 'protocol'],
  client: ['common', 'protocol'],
  common: ['protocol'],
  protocol: [],
};

/** How deep below its folder a file of src may sit and still be held to its layer. */
const MAX_DEPTH = 4;

/**
 * One config object per folder and depth: a relative import's `../` count says where it lands, so a file two folders
 * down (src/client/check/x.ts) is matched with `../../`. ESLint's no-restricted-imports covers `import`, `import
 * type` and `export … from`; no-restricted-syntax adds `import()` and `import('…')` types, which it does not see.
 * Plain string patterns, no resolver: the specifiers name `.js` files whose sources are `.ts`, which path-resolving
 * plugins (import-x's no-restricted-paths, boundaries) only follow with a TypeScript resolver added.
 */
function layerConfigs() {
  const configs = [];
  for (const [folder, allowed] of Object.entries(LAYERS)) {
    const banned = Object.keys(LAYERS).filter((other) => other !== folder && !allowed.includes(other));
    const message =
      folder === 'protocol'
        ? 'src/protocol imports only its own files: no other layer, library or node: module (docs/architecture.md)'
        : `src/${folder} may import ${allowed.join(', ')} and itself, no other layer (docs/architecture.md)`;
    for (let depth = 1; depth <= MAX_DEPTH; depth += 1) {
      const up = `^(?:\\./)?(?:\\.\\./){${depth}}`;
      const sources = folder === 'protocol' ? [up, '^(?!\\.\\.?/)'] : [`${up}(?:${banned.join('|')})(?:/|$)`];
      const selectors = sources.flatMap((source) => {
        const regex = `/${source.replaceAll('/', '\\/')}/`;
        return [`ImportExpression[source.value=${regex}]`, `TSImportType[argument.literal.value=${regex}]`];
      });
      configs.push({
        files: [`src/${folder}/${'*/'.repeat(depth - 1)}*.ts`],
        rules: {
          'no-restricted-imports': ['error', { patterns: sources.map((regex) => ({ regex, message })) }],
          'no-restricted-syntax': ['error', ...selectors.map((selector) => ({ selector, message }))],
        },
      });
    }
  }
  return configs;
}

export default tseslint.config(
  { ignores: ['dist/', 'build/', 'coverage/', '.tap/', 'node_modules/', 'bench/.scratch/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2023,
      sourceType: 'module',
      globals: { ...globals.node },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      // Terminal and wire parsing match control characters on purpose.
      'no-control-regex': 'off',
    },
  },
  ...layerConfigs(),
  {
    // A function longer than this is a closure hiding a unit (style.md): every line counts, blank and comment ones
    // too. test/function-length.test.ts holds the count over 80.
    files: ['src/**/*.ts'],
    rules: { 'max-lines-per-function': ['error', { max: 150, IIFEs: true }] },
  },
);
