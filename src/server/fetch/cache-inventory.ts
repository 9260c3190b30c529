/**
 * The Hugging Face cache as `GET /cache` shows it and `POST /delete_model` changes it: each repository's revisions
 * (refs and the commits they name), each snapshot's files and bytes, and the bytes its blobs take on disk. Deletion
 * follows huggingface_hub's `hf cache` delete: the snapshot, then the refs that named its commit, then the blobs no
 * other snapshot links to; a repository left with no snapshot is removed whole (its partial downloads with it).
 */

import { readFile, readdir, realpath, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { walkFiles } from './cache-walk.js';
import { isCommitSha, readRef, repoDir, snapshotDir } from './model-cache.js';
import type { ModelRef } from '../loader-types.js';

/** One snapshot (commit) of a cached repository. */
export interface CachedRevision {
  readonly commit: string;
  /** The refs (branches, tags) that name this commit. */
  readonly refs: readonly string[];
  /** Files of the snapshot. */
  readonly files: number;
  /** Bytes of its files (of the blobs they link to). */
  readonly size_bytes: number;
}

/** One cached repository. */
export interface CachedRepo {
  /** `org/name`. */
  readonly id: string;
  /** Bytes of its blobs on disk (shared by its snapshots, so less than the sum of theirs), partial downloads included. */
  readonly size_on_disk: number;
  readonly revisions: readonly CachedRevision[];
}

/** Every repository of the cache with its revisions, sorted by id. */
export async function cacheInventory(cacheDir: string): Promise<CachedRepo[]> {
  const folders = await readdir(cacheDir).catch(() => [] as string[]);
  const repos: CachedRepo[] = [];
  for (const folder of folders.sort()) {
    if (!folder.startsWith('models--')) continue;
    const id = folder.slice('models--'.length).split('--').join('/');
    const root = join(cacheDir, folder);
    const refs = await refsByCommit(root);
    const commits = await readdir(join(root, 'snapshots')).catch(() => [] as string[]);
    const revisions: CachedRevision[] = [];
    for (const commit of commits.sort()) {
      const files = await walkFiles(join(root, 'snapshots', commit));
      const size = files.reduce((sum, file) => sum + file.size, 0);
      revisions.push({ commit, refs: refs.get(commit) ?? [], files: files.length, size_bytes: size });
    }
    const blobs = await walkFiles(join(root, 'blobs'));
    repos.push({ id, size_on_disk: blobs.reduce((sum, blob) => sum + blob.size, 0), revisions });
  }
  return repos;
}

/** `refs/*` of a repository folder, grouped by the commit each names. */
async function refsByCommit(root: string): Promise<Map<string, string[]>> {
  const byCommit = new Map<string, string[]>();
  for (const file of await walkFiles(join(root, 'refs'))) {
    const commit = (await readFile(file.absPath, 'utf8').catch(() => '')).trim();
    if (commit === '') continue;
    byCommit.set(commit, [...(byCommit.get(commit) ?? []), file.path]);
  }
  return byCommit;
}

/** What {@link deleteCachedRevision} removed. */
export interface DeletedRevision {
  readonly commit: string;
  /** The refs removed with it. */
  readonly refs: readonly string[];
  /** Bytes of the blobs removed (none when other snapshots still use them all). */
  readonly freed_bytes: number;
  /** True when the repository had no other snapshot and was removed whole. */
  readonly repo_removed: boolean;
}

/**
 * Deletes the snapshot `ref.revision` names (a ref, or a commit), the refs that name that commit, and the blobs no
 * other snapshot links to. Undefined when the cache has no such snapshot.
 */
export async function deleteCachedRevision(cacheDir: string, ref: ModelRef): Promise<DeletedRevision | undefined> {
  const commit = isCommitSha(ref.revision) ? ref.revision : await readRef(cacheDir, ref).catch(() => undefined);
  if (commit === undefined) return undefined;
  const root = repoDir(cacheDir, ref);
  const snapshot = snapshotDir(cacheDir, ref, commit);
  if (!(await stat(snapshot).catch(() => undefined))?.isDirectory()) return undefined;
  const refs = (await refsByCommit(root)).get(commit) ?? [];
  const others = (await readdir(join(root, 'snapshots')).catch(() => [] as string[])).filter((c) => c !== commit);
  if (others.length === 0) {
    const blobs = await walkFiles(join(root, 'blobs'));
    await rm(root, { recursive: true, force: true });
    const freed = blobs.reduce((sum, blob) => sum + blob.size, 0);
    return { commit, refs, freed_bytes: freed, repo_removed: true };
  }
  const mine = await linkedBlobs(snapshot);
  const kept = new Set<string>();
  for (const other of others) for (const blob of await linkedBlobs(join(root, 'snapshots', other))) kept.add(blob);
  await rm(snapshot, { recursive: true, force: true });
  for (const name of refs) await rm(join(root, 'refs', ...name.split('/')), { force: true });
  let freed = 0;
  for (const blob of mine) {
    if (kept.has(blob) || dirname(blob) !== join(await realpath(root), 'blobs')) continue;
    freed += (await stat(blob).catch(() => undefined))?.size ?? 0;
    await rm(blob, { force: true });
  }
  return { commit, refs, freed_bytes: freed, repo_removed: false };
}

/** The blobs (absolute, real paths) a snapshot's links point to. */
async function linkedBlobs(snapshot: string): Promise<Set<string>> {
  const blobs = new Set<string>();
  for (const file of await walkFiles(snapshot)) {
    if (!file.link) continue;
    const real = await realpath(file.absPath).catch(() => undefined);
    if (real !== undefined) blobs.add(real);
  }
  return blobs;
}
