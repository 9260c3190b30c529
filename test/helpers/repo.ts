/**
 * Paths into the repository for tests that read its files or run its commands. A test runs compiled from build/test/
 * (`npm run build:test`, what `npm test` runs) or as TypeScript from test/, so a path relative to the test file
 * would point at a different place in each; these are the same in both.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// This file is test/helpers/repo.ts, or build/test/helpers/repo.js once compiled.
const compiled = !import.meta.url.endsWith('.ts');

/** The repository's root directory. */
const repoRoot = fileURLToPath(new URL(compiled ? '../../..' : '../..', import.meta.url));

/** A path under the repository's root, e.g. `repoPath('docs', 'protocol.md')`. */
export function repoPath(...parts: string[]): string {
  return join(repoRoot, ...parts);
}

/** The one executable, `bin/modeldeck.js` (it runs the compiled dist/). */
export const modeldeckBin = repoPath('bin', 'modeldeck.js');

/**
 * The URL of a module under src (`path` without its extension, e.g. `cli/mirror`) as this process loads it: its build
 * beside the compiled tests, or the TypeScript source under tap's TypeScript loader. For a child that imports it.
 */
export function sourceModuleUrl(path: string): string {
  return new URL(`../../src/${path}${compiled ? '.js' : '.ts'}`, import.meta.url).href;
}
