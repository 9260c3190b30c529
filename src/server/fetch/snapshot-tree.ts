/**
 * The file listing of a commit, kept with its snapshot: a commit never changes, so once the hub has listed it, the
 * listing is written to `trees/{commit}.json` beside `snapshots/` (as the Hub's tree API gives it: `{type, path, size,
 * oid, lfs: {oid, size}}` per file), and a later online load of that commit asks the hub only which commit the revision
 * names, as huggingface_hub does. The file is an optimisation: one that cannot be read or written (a read-only cache)
 * costs the listing request, nothing else; one whose entries do not check out is not believed.
 */

import { mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

import type { ModelRef } from '../loader-types.js';
import type { HubFile } from './hub-client.js';
import { isCommitSha, isSafeRelativePath, repoDir } from './model-cache.js';

/** `{repo}/trees/{commit}.json`. */
export function treeFile(cacheDir: string, ref: Pick<ModelRef, 'id' | 'revision'>, commit: string): string {
  return join(repoDir(cacheDir, ref), 'trees', `${commit}.json`);
}

/**
 * The listing of `commit` through the cache: the kept one when there is one that checks out, else `list()` (the hub),
 * kept for next time.
 */
export async function listThroughCache(
  cacheDir: string,
  ref: Pick<ModelRef, 'id' | 'revision'>,
  commit: string,
  list: () => Promise<HubFile[]>,
): Promise<HubFile[]> {
  if (!isCommitSha(commit)) return list();
  const path = treeFile(cacheDir, ref, commit);
  const kept = await readTree(path);
  if (kept !== undefined) return kept;
  const files = await list();
  await writeTree(path, files).catch(() => undefined);
  return files;
}

/** The files of a kept listing; `undefined` when there is none, or it does not check out. */
async function readTree(path: string): Promise<HubFile[] | undefined> {
  const text = await readFile(path, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  let entries: unknown;
  try {
    entries = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!Array.isArray(entries)) return undefined;
  const files: HubFile[] = [];
  for (const entry of entries as unknown[]) {
    const file = treeEntryFile(entry);
    if (file === undefined) return undefined;
    files.push(file);
  }
  return files;
}

/** One kept entry as a file; `undefined` when any field is not what the hub lists. */
function treeEntryFile(entry: unknown): HubFile | undefined {
  if (typeof entry !== 'object' || entry === null) return undefined;
  const { type, path, size, oid, lfs } = entry as Record<string, unknown>;
  if (type !== 'file' || typeof path !== 'string' || !isSafeRelativePath(path)) return undefined;
  if (!Number.isSafeInteger(size) || (size as number) < 0) return undefined;
  if (oid !== undefined && !(typeof oid === 'string' && /^[0-9a-f]{40}$/.test(oid))) return undefined;
  let sha256: string | undefined;
  if (lfs !== undefined) {
    const info = lfs as Record<string, unknown> | null;
    if (typeof info?.['oid'] !== 'string' || !/^[0-9a-f]{64}$/.test(info['oid']) || info['size'] !== size) {
      return undefined;
    }
    sha256 = info['oid'];
  }
  return {
    path,
    size: size as number,
    ...(oid === undefined ? {} : { oid: oid as string }),
    ...(sha256 === undefined ? {} : { sha256 }),
  };
}

/** Writes the listing atomically, in the tree API's shape. */
async function writeTree(path: string, files: readonly HubFile[]): Promise<void> {
  const entries = files.map((file) => ({
    type: 'file',
    path: file.path,
    size: file.size,
    ...(file.oid === undefined ? {} : { oid: file.oid }),
    ...(file.sha256 === undefined ? {} : { lfs: { oid: file.sha256, size: file.size } }),
  }));
  const temp = `${path}.${process.pid}.tmp`;
  try {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(temp, JSON.stringify(entries));
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
}
