/**
 * modeldeck's model cache on disk.
 *
 * Layout: `{cacheDir}/models/{org}/{name}/{revision, '/' replaced by '--'}/{repository files}` (a legacy one-segment
 * id has no `{org}` level). A snapshot is complete when its manifest, {@link MANIFEST_FILE}, exists and every file it
 * lists is present with the listed size. The manifest is written last, atomically, so an interrupted download never
 * leaves a snapshot that looks complete; and every file is itself written to a temporary name and renamed only when
 * complete (see `downloader.ts`).
 */

import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdir, readFile, readdir, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join, sep } from 'node:path';

import type { HubFile } from './hub-client.js';
import { errorCodeOf } from './hub-client.js';
import { LoadError, type ModelRef } from './loader-types.js';
import { isOnnxDtype, type OnnxDtype } from './model-files.js';

/** Name of the manifest inside a snapshot directory. */
export const MANIFEST_FILE = '.modeldeck-snapshot.json';

/** What a complete snapshot records. */
export interface SnapshotManifest {
  /** Format version of this file. */
  readonly version: 1;
  readonly id: string;
  readonly revision: string;
  /** The commit the files came from, when the hub said (`X-Repo-Commit`). */
  readonly commit?: string;
  /** The ONNX precision selected. */
  readonly dtype: OnnxDtype;
  /** External data chunks of the ONNX file. */
  readonly externalDataChunks: number;
  /** Every file of the snapshot, with its size in bytes. The ONNX file and its chunks are {@link weightFiles}. */
  readonly files: readonly HubFile[];
  /** The ONNX file, then its external data chunks, as paths into {@link files}. */
  readonly weightFiles: readonly string[];
  /** When the snapshot was completed, ISO 8601. */
  readonly completedAt: string;
}

/** Directory holding all snapshots. */
export function modelsRoot(cacheDir: string): string {
  return join(cacheDir, 'models');
}

/** The snapshot directory of `ref`. Throws on ids or revisions that would leave the cache directory. */
export function snapshotDir(cacheDir: string, ref: Pick<ModelRef, 'id' | 'revision'>): string {
  const segments = ref.id.split('/');
  const revision = ref.revision.replaceAll('/', '--');
  for (const segment of [...segments, revision]) {
    if (segment === '' || segment === '.' || segment === '..' || segment.includes('\\') || segment.includes(sep)) {
      throw new LoadError('LOAD_FAILED', `refusing model reference ${ref.id}@${ref.revision}: it is not a Hub id`);
    }
  }
  return join(modelsRoot(cacheDir), ...segments, revision);
}

/**
 * The manifest of `ref`'s snapshot if it is complete: the manifest parses, names `ref`, and every file it lists is
 * present with the listed size. Otherwise `undefined` (missing, partial, or damaged snapshots alike).
 */
export async function readCompleteSnapshot(
  cacheDir: string,
  ref: Pick<ModelRef, 'id' | 'revision'>,
): Promise<SnapshotManifest | undefined> {
  const dir = snapshotDir(cacheDir, ref);
  const manifest = parseManifest(await readFile(join(dir, MANIFEST_FILE), 'utf8').catch(() => undefined));
  if (manifest === undefined || manifest.id !== ref.id || manifest.revision !== ref.revision) return undefined;
  const present = await presentFiles(dir, manifest.files);
  return present.size === manifest.files.length ? manifest : undefined;
}

/** The paths of `files` that exist in `dir` as regular files with exactly the listed size. */
export async function presentFiles(dir: string, files: readonly HubFile[]): Promise<Set<string>> {
  const present = new Set<string>();
  await Promise.all(
    files.map(async (file) => {
      const info = await stat(join(dir, ...file.path.split('/'))).catch(() => undefined);
      if (info?.isFile() === true && info.size === file.size) present.add(file.path);
    }),
  );
  return present;
}

/** Writes the manifest atomically (temporary file, then rename): the last step of completing a snapshot. */
export async function writeManifest(dir: string, manifest: SnapshotManifest): Promise<void> {
  const target = join(dir, MANIFEST_FILE);
  const temp = `${target}.tmp-${randomBytes(6).toString('hex')}`;
  try {
    await writeFile(temp, `${JSON.stringify(manifest, null, 2)}\n`);
    await rename(temp, target);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw cacheWriteError(error, dir);
  }
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
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new LoadError(
      'CACHE_NOT_WRITABLE',
      `no space left to write the model cache at ${path}: free some space or pick another --cache-dir`,
      { cause: error },
    );
  }
  return new LoadError(
    'CACHE_NOT_WRITABLE',
    `cannot write the model cache at ${path}${code === undefined ? '' : ` (${code})`}: ` +
      'fix its permissions or pick another --cache-dir',
    { cause: error },
  );
}

/**
 * The refs of every complete snapshot under `cacheDir`, sorted by key. Reads manifests two and three levels below
 * `models/` (legacy and `org/name` ids) and verifies each as {@link readCompleteSnapshot} does.
 */
export async function listCachedSnapshots(cacheDir: string): Promise<ModelRef[]> {
  const root = modelsRoot(cacheDir);
  const candidates: string[][] = [];
  const walk = async (segments: string[], depth: number): Promise<void> => {
    const entries = await readdir(join(root, ...segments), { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      if (entry.isFile() && entry.name === MANIFEST_FILE && depth >= 2) candidates.push(segments);
      if (entry.isDirectory() && depth < 3) await walk([...segments, entry.name], depth + 1);
    }
  };
  await walk([], 0);
  const refs: ModelRef[] = [];
  for (const segments of candidates) {
    const text = await readFile(join(root, ...segments, MANIFEST_FILE), 'utf8').catch(() => undefined);
    const manifest = parseManifest(text);
    if (manifest === undefined) continue;
    const ref = { id: manifest.id, revision: manifest.revision, key: `${manifest.id}@${manifest.revision}` };
    // A manifest copied to another directory does not describe that directory.
    let expected: string;
    try {
      expected = snapshotDir(cacheDir, ref);
    } catch {
      continue;
    }
    if (expected !== join(root, ...segments)) continue;
    if ((await readCompleteSnapshot(cacheDir, ref)) !== undefined) refs.push(ref);
  }
  return refs.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

function parseManifest(text: string | undefined): SnapshotManifest | undefined {
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const m = value as Record<string, unknown>;
  if (m['version'] !== 1 || typeof m['id'] !== 'string' || typeof m['revision'] !== 'string') return undefined;
  if (typeof m['dtype'] !== 'string' || !isOnnxDtype(m['dtype'])) return undefined;
  const chunks = m['externalDataChunks'];
  if (typeof chunks !== 'number' || !Number.isSafeInteger(chunks) || chunks < 0) return undefined;
  const files = m['files'];
  if (!Array.isArray(files)) return undefined;
  const parsed: HubFile[] = [];
  for (const file of files as unknown[]) {
    if (typeof file !== 'object' || file === null) return undefined;
    const { path, size } = file as { path?: unknown; size?: unknown };
    if (typeof path !== 'string' || !isSafeRelativePath(path)) return undefined;
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) return undefined;
    parsed.push({ path, size });
  }
  const weightFiles = m['weightFiles'];
  if (!Array.isArray(weightFiles) || weightFiles.length !== chunks + 1) return undefined;
  const listed = (path: unknown): boolean => typeof path === 'string' && parsed.some((file) => file.path === path);
  if (!weightFiles.every(listed)) return undefined;
  const commit = m['commit'];
  return {
    version: 1,
    id: m['id'],
    revision: m['revision'],
    ...(typeof commit === 'string' ? { commit } : {}),
    dtype: m['dtype'],
    externalDataChunks: chunks,
    files: parsed,
    weightFiles: weightFiles as string[],
    completedAt: typeof m['completedAt'] === 'string' ? m['completedAt'] : '',
  };
}

/** A repository path that stays inside its snapshot directory. */
export function isSafeRelativePath(path: string): boolean {
  if (path === '' || path.startsWith('/') || path.includes('\\') || path.includes('\0')) return false;
  return path.split('/').every((segment) => segment !== '' && segment !== '.' && segment !== '..');
}
