/**
 * The one way the server walks a directory of the Hugging Face cache (a snapshot, a repository's refs): real
 * directories are entered, directory links never. In the cache's layout the directories are real and only files are
 * links (a snapshot's entries point into `blobs/`), so a link to a directory is no part of it, and one that points
 * back up (`loop -> .`) would make a walk that followed it endless: `/v1/models` and the feed's snapshot would never
 * answer. Real directories are entered down to {@link MAX_WALK_DEPTH} levels, since a bind mount can loop too.
 */

import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** Levels of real directories a walk enters below its start (a snapshot's files sit one to three levels deep). */
export const MAX_WALK_DEPTH = 32;

/** A file a walk found: a regular file, or a link whose target is one. */
export interface WalkedFile {
  /** Relative to where the walk started, `/`-separated. */
  readonly path: string;
  readonly absPath: string;
  /** Bytes of the file (of the link's target, for a link). */
  readonly size: number;
  /** True when the entry itself is a symbolic link. */
  readonly link: boolean;
}

/**
 * Every file below `dir` (links to files followed; links to directories, broken links and other entries skipped), in
 * no particular order. Empty when `dir` cannot be read.
 */
export async function walkFiles(dir: string): Promise<WalkedFile[]> {
  const files: WalkedFile[] = [];
  const visit = async (abs: string, prefix: string, depth: number): Promise<void> => {
    const entries = await readdir(abs, { withFileTypes: true }).catch(() => []);
    await Promise.all(
      entries.map(async (entry) => {
        const absPath = join(abs, entry.name);
        const path = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
        // A Dirent describes the entry itself: a link to a directory is a link here, never a directory.
        if (entry.isDirectory()) {
          if (depth < MAX_WALK_DEPTH) await visit(absPath, path, depth + 1);
          return;
        }
        if (!entry.isFile() && !entry.isSymbolicLink()) return;
        const info = await stat(absPath).catch(() => undefined);
        if (info?.isFile() === true) files.push({ path, absPath, size: info.size, link: entry.isSymbolicLink() });
      }),
    );
  };
  await visit(dir, '', 0);
  return files;
}
