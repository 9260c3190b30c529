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
import { access, mkdir, readFile, readdir, realpath, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, sep } from 'node:path';

import { diskFullError, isDiskFull } from './disk-space.js';
import { walkFiles } from './cache-walk.js';
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
  const commit = (await readRefText(refFile(cacheDir, ref)))?.trim();
  if (commit !== undefined && isCommitSha(commit)) return commit;
  if (isCommitSha(ref.revision)) {
    const info = await stat(snapshotDir(cacheDir, ref, ref.revision)).catch(() => undefined);
    if (info?.isDirectory() === true) return ref.revision;
  }
  return undefined;
}

/** A ref file's text; `undefined` for anything but a small regular file (a ref linked to a device is not read). */
async function readRefText(path: string): Promise<string | undefined> {
  const info = await stat(path).catch(() => undefined);
  if (info?.isFile() !== true || info.size > 1024) return undefined;
  return readFile(path, 'utf8').catch(() => undefined);
}

/**
 * Records that `ref.revision` names `commit` (atomically; nothing for a revision that is the commit itself, or when
 * the ref says so already). In a cache the server may not write, the ref stays as it is.
 */
export async function writeRef(
  cacheDir: string,
  ref: Pick<ModelRef, 'id' | 'revision'>,
  commit: string,
): Promise<void> {
  if (ref.revision === commit) return;
  const target = refFile(cacheDir, ref);
  // Nothing to write when it says so already (a read-only cache that is up to date needs no write at all).
  if ((await readRefText(target))?.trim() === commit) return;
  const temp = `${target}.${process.pid}.tmp`;
  try {
    await mkdir(dirname(target), { recursive: true });
    await writeFile(temp, commit);
    await rename(temp, target);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    // A read-only cache keeps the ref it has: a load needs none, and what it lacks fails by name when fetched.
    if ((await readOnlyCode(error, target)) !== undefined) return;
    throw cacheWriteError(error, target);
  }
}

/**
 * Where a snapshot's files may really be, after every link: under the cache directory, the repository's directory or
 * its `blobs/` (each of which a user may have moved to another disk and linked), as real paths. A file anywhere else
 * is linked out of the cache: it is never read, so that a link in a snapshot cannot make the server read a file of
 * the machine into a load, let alone quote it in an error.
 */
async function cacheRoots(snapshot: string): Promise<string[]> {
  // The layout fixes where the snapshot is: {cacheDir}/models--{org}--{name}/snapshots/{commit}.
  const repo = dirname(dirname(snapshot));
  const roots = await Promise.all(
    [dirname(repo), repo, join(repo, 'blobs')].map((dir) => realpath(dir).catch(() => undefined)),
  );
  return roots.filter((root): root is string => root !== undefined);
}

/** Whether `absPath`, every link followed, is under one of `roots` (real paths). */
async function isInside(absPath: string, roots: readonly string[]): Promise<boolean> {
  const real = await realpath(absPath).catch(() => undefined);
  return real !== undefined && roots.some((root) => real.startsWith(root.endsWith(sep) ? root : `${root}${sep}`));
}

/**
 * The paths of `files` present in `snapshot` (links followed, but not out of the cache) with exactly the listed size.
 * A file linked out of the cache is not present: a load online fetches it again, and its link then points into
 * `blobs/`.
 */
export async function presentFiles(snapshot: string, files: readonly HubFile[]): Promise<Set<string>> {
  const present = new Set<string>();
  const roots = await cacheRoots(snapshot);
  await Promise.all(
    files.map(async (file) => {
      const absPath = join(snapshot, ...file.path.split('/'));
      const info = await stat(absPath).catch(() => undefined);
      if (info?.isFile() !== true || info.size !== file.size) return;
      if (await isInside(absPath, roots)) present.add(file.path);
    }),
  );
  return present;
}

/** What a snapshot directory holds. */
export interface SnapshotContents {
  /** Its files (path and size), sorted by path. */
  readonly files: HubFile[];
  /** Paths of files linked out of the cache, sorted: not in {@link files}, never read. */
  readonly linkedOut: string[];
}

/**
 * The files of a snapshot directory as a listing (`cache-walk.ts`: links to files followed, directory links never,
 * broken links skipped), and those linked out of the cache apart. Empty when the directory does not exist.
 */
export async function snapshotListing(snapshot: string): Promise<SnapshotContents> {
  const [walked, roots] = await Promise.all([walkFiles(snapshot), cacheRoots(snapshot)]);
  const files: HubFile[] = [];
  const linkedOut: string[] = [];
  await Promise.all(
    walked.map(async ({ path, absPath, size }) => {
      if (!isSafeRelativePath(path)) return;
      if (await isInside(absPath, roots)) files.push({ path, size });
      else linkedOut.push(path);
    }),
  );
  return { files: files.sort((a, b) => byText(a.path, b.path)), linkedOut: linkedOut.sort(byText) };
}

function byText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
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

/** The codes of a write refused because the file system or its permissions forbid it. */
const READ_ONLY_CODES = new Set(['EROFS', 'EACCES', 'EPERM']);

/**
 * Why a write at `path` failed with `error`, when the file system or its permissions refused it: `EROFS`, `EACCES` or
 * `EPERM`, else `undefined`. A recursive `mkdir` on a read-only mount reports `ENOENT` for the directory it could not
 * make, so then the nearest directory above `path` that exists is asked whether it can be written.
 */
export async function readOnlyCode(error: unknown, path: string): Promise<string | undefined> {
  const code = errorCodeOf(error instanceof LoadError ? error.cause : error);
  if (code !== undefined && READ_ONLY_CODES.has(code)) return code;
  if (code !== 'ENOENT') return undefined;
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    const refusal = await access(dir, constants.W_OK).then(
      () => undefined,
      (failure: unknown) => errorCodeOf(failure) ?? 'EACCES',
    );
    if (refusal !== 'ENOENT') return refusal !== undefined && READ_ONLY_CODES.has(refusal) ? refusal : undefined;
    if (dirname(dir) === dir) return undefined;
  }
}

/** Maps a filesystem failure while writing into the cache to a {@link LoadError} that says what to do. */
export function cacheWriteError(error: unknown, path: string): LoadError {
  if (error instanceof LoadError) return error;
  const code = errorCodeOf(error);
  if (isDiskFull(error)) return diskFullError(error, path);
  const why =
    code === undefined ? '' : READ_ONLY_CODES.has(code) ? ` (${code}: read-only for this server)` : ` (${code})`;
  return new LoadError(
    'CACHE_NOT_WRITABLE',
    `cannot write the model cache at ${path}${why}: fix its permissions or pick another --cache-dir`,
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
    const names = (await walkFiles(join(cacheDir, folder, 'refs'))).map((file) => file.path);
    for (const revision of names) {
      const ref = { id, revision, key: `${id}@${revision}` };
      let commit: string | undefined;
      try {
        commit = await readRef(cacheDir, ref);
      } catch {
        continue;
      }
      if (commit === undefined) continue;
      const { files, linkedOut } = await snapshotListing(snapshotDir(cacheDir, ref, commit));
      // Offline, a snapshot with files linked out of the cache is refused (`snapshot-list.ts`): not listed either.
      if (linkedOut.length > 0) continue;
      const paths = new Set(files.map((file) => file.path));
      const onnx = files.some((file) => file.path.startsWith('onnx/') && file.path.endsWith('.onnx'));
      if (onnx && LOADABLE_FILES.every((path) => paths.has(path))) refs.push(ref);
    }
  }
  return refs.sort((a, b) => byText(a.key, b.key));
}

/** A repository path that stays inside its snapshot directory. */
export function isSafeRelativePath(path: string): boolean {
  if (path === '' || path.startsWith('/') || path.includes('\\') || path.includes('\0')) return false;
  return path.split('/').every((segment) => segment !== '' && segment !== '.' && segment !== '..');
}
