// docs/architecture.md is the map: every file of src of 100 lines or more is named in it by its path (from src/, as
// `server/load-manager.ts`; `src/server/load-manager.ts` names it too).
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { repoPath } from './helpers/repo.js';

const MIN_LINES = 100;
const root = repoPath();

/** The path from src/ and the line count of every file of src. */
async function sourceFiles(): Promise<{ path: string; lines: number }[]> {
  const files: { path: string; lines: number }[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(join(root, 'src', dir), { withFileTypes: true })) {
      const path = dir === '' ? entry.name : `${dir}/${entry.name}`;
      if (entry.isDirectory()) await walk(path);
      else {
        const text = await readFile(join(root, 'src', path), 'utf8');
        // As wc -l counts them: a last line without its newline still counts.
        files.push({ path, lines: text.split('\n').length - (text.endsWith('\n') ? 1 : 0) });
      }
    }
  };
  await walk('');
  return files;
}

t.test(`docs/architecture.md names every file of src of ${MIN_LINES} lines or more`, async (t) => {
  const doc = await readFile(join(root, 'docs/architecture.md'), 'utf8');
  const big = (await sourceFiles()).filter((file) => file.lines >= MIN_LINES);
  t.ok(big.length > 0, `${big.length} files of ${MIN_LINES} lines or more`);
  const unnamed = big.filter((file) => !doc.includes(file.path)).map((file) => `src/${file.path} (${file.lines})`);
  t.same(unnamed, [], 'each is named by its path');
});
