/**
 * The Hugging Face cache on disk, laid out as huggingface_hub (Python) and huggingface.js lay it out, so each tool
 * uses what the others downloaded:
 *
 * ```
 * {cacheDir}/models--{org}--{name}/
 *   refs/{revision}              the commit (40 hex) the revision named when last seen, no newline
 *   blobs/{etag}                 a file's content, named by its sha256 (LFS files) or git blob sha1 (others)
 *   blobs/{etag}.modeldeck.*     a partial download and its journal (`blob-journal.ts`): the next one fetches its holes
 *   trees/{commit}.json          the commit's listing, kept (`snapshot-tree.ts`)
 *   snapshots/{commit}/{path}    relative symbolic links into ../../blobs/{etag}
 * ```
 *
 * A blob exists only once verified (see `downloader.ts`), and a snapshot's link only once its blob does, so a file
 * present in a snapshot is complete. Nothing modeldeck-specific is written: a snapshot is read from its files.
 */

import { constants } from 'node:fs';
import { access, mkdir, readFile, readdir, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, sep } from 'node:path';

import { diskFullError, isDiskFull } from './disk-space.js';
import { errorCodeOf } from './error-code.js';
import type { HubFile } from './hub-client.js';
import { LoadError, type ModelRef } from '../loader-types.js';

/**
 * huggingface_hub's cache directory: `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `$XDG_CACHE_HOME/huggingface/hub`,
 * else `~/.cache/huggingface/hub`. Empty variables count as unset.
 */
export function defaultHubCacheDir(env: NodeJS.ProcessEnv = process.env, home: string = homedir()): string {
  if (env['HF_HUB_CACHE']) return env['HF_HUB_CACHE'];
  if (env['HF_HOME']) return join(env['HF_HOME'], 'hub');
  return join(env['XDG_CACHE_HOME'] || join(home, '.cache'), 'huggingface', 'hub');
}

const COMMIT_PATTERN = /^[0-9a-f]{40}$/;

/** True when `revision` is a full commit sha. */
export function isCommitSha(revision: string): boolean {
  return COMMIT_PATTERN.test(revision);
}

function refuse(ref: Pick<ModelRef, 'id' | 'revision'>): LoadError {
  return new LoadError('LOAD_FAILED', `refusing model reference ${ref.id}@${ref.revision}: it is not a Hub id`);
}

function safeSegment(segment: string): boolean {
  return segment !== '' && segment !== '.' && segment !== '..' && !segment.includes('\\') && !segment.includes(sep);
}

/** `{cacheDir}/models--{org}--{name}`. Throws on ids that would leave the cache directory. */
export function repoDir(cacheDir: string, ref: Pick<ModelRef, 'id' | 'revision'>): string {
  const segments = ref.id.split('/');
  if (!segments.every(safeSegment) || segments.length > 2) throw refuse(ref);
  return join(cacheDir, `models--${segments.join('--')}`);
}

/** `refs/{revision}` of the repository (a revision with `/` is nested, as Python nests it). */
export function refFile(cacheDir: string, ref: Pick<ModelRef, 'id' | 'revision'>): string {
  const segments = ref.revision.split('/');
  if (!segments.every(safeSegment)) throw refuse(ref);
  return join(repoDir(cacheDir, ref), 'refs', ...segments);
}

/** The snapshot directory of `commit`. */
export function snapshotDir(cacheDir: string, ref: Pick<ModelRef, 'id' | 'revision'>, commit: string): string {
  if (!safeSegment(commit)) throw refuse(ref);
  return join(repoDir(cacheDir, ref), 'snapshots', commit);
}

/** The blob named `etag`. */
export function blobFile(cacheDir: string, ref: Pick<ModelRef, 'id' | 'revision'>, etag: string): string {
  if (!safeSegment(etag)) throw refuse(ref);
  return join(repoDir(cacheDir, ref), 'blobs', etag);
}

/** The commit `ref.revision` named when the cache last saw it: the ref file, or the revision itself if it is one. */
export async function readRef(cacheDir: string, ref: Pick<ModelRef, 'id' | 'revision'>): Promise<string | undefined> {
  const text = await readFile(refFile(cacheDir, ref), 'utf8').catch(() => undefined);
  const commit = text?.trim();
  if (commit !== undefined && isCommitSha(commit)) return commit;
  if (isCommitSha(ref.revision)) {
    const info = await stat(snapshotDir(cacheDir, ref, ref.revision)).catch(() => undefined);
    if (info?.isDirectory() === true) return ref.revision;
  }
  return undefined;
}

/** Records that `ref.revision` names `commit` (atomically; nothing for a revision that is the commit itself). */
export async function writeRef(
  cacheDir: string,
  ref: Pick<ModelRef, 'id' | 'revision'>,
  commit: string,
): Promise<void> {
  if (ref.revision === commit) return;
  const target = refFile(cacheDir, ref);
  const temp = `${target}.${process.pid}.tmp`;
  try {
    await mkdir(dirname(target), { recursive: true });
    await writeFile(temp, commit);
    await rename(temp, target);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw cacheWriteError(error, target);
  }
}

/** The paths of `files` present in `snapshot` (links followed) with exactly the listed size. */
export async function presentFiles(snapshot: string, files: readonly HubFile[]): Promise<Set<string>> {
  const present = new Set<string>();
  await Promise.all(
    files.map(async (file) => {
      const info = await stat(join(snapshot, ...file.path.split('/'))).catch(() => undefined);
      if (info?.isFile() === true && info.size === file.size) present.add(file.path);
    }),
  );
  return present;
}

/**
 * The files of a snapshot directory as a listing (path and size; links followed, broken links and directories
 * skipped). Empty when the directory does not exist.
 */
export async function snapshotListing(snapshot: string): Promise<HubFile[]> {
  const entries = await readdir(snapshot, { recursive: true }).catch(() => [] as string[]);
  const files: HubFile[] = [];
  await Promise.all(
    entries.map(async (entry) => {
      const info = await stat(join(snapshot, entry)).catch(() => undefined);
      if (info?.isFile() !== true) return;
      const path = entry.split(sep).join('/');
      if (isSafeRelativePath(path)) files.push({ path, size: info.size });
    }),
  );
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/**
 * Creates `dir` (and its parents) and checks that files can be written in it; throws CACHE_NOT_WRITABLE otherwise.
 */
export async function ensureWritableDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
    await access(dir, constants.W_OK);
  } catch (error) {
    throw cacheWriteError(error, dir);
  }
}

/** Maps a filesystem failure while writing into the cache to a {@link LoadError} that says what to do. */
export function cacheWriteError(error: unknown, path: string): LoadError {
  if (error instanceof LoadError) return error;
  const code = errorCodeOf(error);
  if (isDiskFull(error)) return diskFullError(error, path);
  return new LoadError(
    'CACHE_NOT_WRITABLE',
    `cannot write the model cache at ${path}${code === undefined ? '' : ` (${code})`}: ` +
      'fix its permissions or pick another --cache-dir',
    { cause: error },
  );
}

/** Files every loadable snapshot has (the tokenizer's and the config). */
const LOADABLE_FILES = ['config.json', 'tokenizer.json', 'tokenizer_config.json'];

/**
 * The refs under `cacheDir` whose snapshot looks loadable by transformers.js (a config, a tokenizer and an
 * `onnx/*.onnx`), whoever downloaded it, sorted by key: `{id}@{revision}` for every `refs/{revision}`.
 */
export async function listCachedSnapshots(cacheDir: string): Promise<ModelRef[]> {
  const repos = await readdir(cacheDir).catch(() => [] as string[]);
  const refs: ModelRef[] = [];
  for (const folder of repos) {
    if (!folder.startsWith('models--')) continue;
    const id = folder.slice('models--'.length).split('--').join('/');
    const refsDir = join(cacheDir, folder, 'refs');
    const names = await readdir(refsDir, { recursive: true }).catch(() => [] as string[]);
    for (const name of names) {
      const revision = name.split(sep).join('/');
      const ref = { id, revision, key: `${id}@${revision}` };
      let commit: string | undefined;
      try {
        commit = await readRef(cacheDir, ref);
      } catch {
        continue;
      }
      if (commit === undefined) continue;
      const files = await snapshotListing(snapshotDir(cacheDir, ref, commit));
      const paths = new Set(files.map((file) => file.path));
      const onnx = files.some((file) => file.path.startsWith('onnx/') && file.path.endsWith('.onnx'));
      if (onnx && LOADABLE_FILES.every((path) => paths.has(path))) refs.push(ref);
    }
  }
  return refs.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** A repository path that stays inside its snapshot directory. */
export function isSafeRelativePath(path: string): boolean {
  if (path === '' || path.startsWith('/') || path.includes('\\') || path.includes('\0')) return false;
  return path.split('/').every((segment) => segment !== '' && segment !== '.' && segment !== '..');
}
