/**
 * The on-disk layout the mirror serves, and the Hub-shaped facts (commit sha, oids, tree entries) derived from it.
 *
 * Layout: `root/{org}/{name}/…` is revision `main` of repository `org/name`; `root/{org}/{name}@{rev}/…` is revision
 * `rev`, with every `/` in the revision name written as `--` (so `refs/pr/1` lives in `name@refs--pr--1`; a revision
 * whose own name contains `--` therefore cannot be told apart from one with `/` there, and both map to the same
 * directory). Names starting with `.` are invisible at every level. Symbolic links are followed, so a repository can
 * point into another tree (a Hugging Face cache snapshot, say); the URL itself can never climb out of `root`.
 *
 * Every walk of a revision (its listing, its commit sha, a path asked for) is bounded: a directory reached again below
 * itself (a link such as `loop -> .` or `up -> ..`) is neither listed nor served nor entered, and nothing deeper than
 * {@link MAX_TREE_DEPTH} path segments is. Without that, one looping link made every request of the repository walk
 * forever.
 */
import { createHash } from 'node:crypto';
import { createReadStream, type Stats } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** The revision a repository directory without `@` holds. */
export const MAIN_REVISION = 'main';

/** Path segments a listed or served entry may have at most (a model's files sit one to three deep). */
export const MAX_TREE_DEPTH = 32;

/** Files this size or larger are listed as LFS files, like the Hub does (bytes). */
export const DEFAULT_LFS_THRESHOLD = 10 * 1024 * 1024;

/** A revision of a repository, found on disk. */
export interface RevisionLocation {
  /** `org/name`. */
  readonly repo: string;
  /** The revision name (for a request by commit sha, the name it resolved to). */
  readonly revision: string;
  /** Absolute directory holding the revision's files. */
  readonly dir: string;
  /** Commit sha (40 hex) of the revision, derived from its content, see {@link commitShaOf}. */
  readonly sha: string;
}

/** Why a lookup found nothing, named as the Hub's `X-Error-Code` names it. */
export type NotFoundCode = 'RepoNotFound' | 'RevisionNotFound' | 'EntryNotFound';

/** A regular file in a revision. */
export interface FileInfo {
  /** Absolute path (symlinks not resolved). */
  readonly absPath: string;
  /** Bytes. */
  readonly size: number;
  /** Last modification, milliseconds since the epoch. */
  readonly mtimeMs: number;
  /** Inode number, part of the file's identity for caching. */
  readonly ino: number;
}

/** One entry of `GET /api/models/{repo}/tree/{revision}`, shaped as the Hub's. */
export interface TreeEntry {
  readonly type: 'file' | 'directory';
  /** Git object id (40 hex): the blob of the file, or of its LFS pointer for LFS files; a fake tree id for directories. */
  readonly oid: string;
  /** Bytes of the file's content (0 for directories). */
  readonly size: number;
  /** Only for files at or above the LFS threshold. */
  readonly lfs?: LfsInfo;
  /** Repo-relative, `/`-separated. */
  readonly path: string;
}

/** The `lfs` member of a tree entry. */
export interface LfsInfo {
  /** 64 hex: the sha256 of the content, as on the Hub (computed once per file version and remembered). */
  readonly oid: string;
  /** Bytes of the content. */
  readonly size: number;
  /** Bytes of the (emulated) LFS pointer file. */
  readonly pointerSize: number;
}

/** The directory name that holds `revision` of repository `name` (its own directory for `main`). Pure. */
export function revisionDirName(name: string, revision: string): string {
  return revision === MAIN_REVISION ? name : `${name}@${revision.replaceAll('/', '--')}`;
}

/**
 * The commit sha (40 hex) of a revision: sha1 over the repository id and every file's path and etag, in path order.
 * So it changes when any file changes (a new commit), and two revisions with the same content are the same commit,
 * as two names of one commit are on the Hub. Pure.
 */
export function commitShaOf(repo: string, files: readonly { readonly path: string; readonly etag: string }[]): string {
  const hash = createHash('sha1').update(`modeldeck-mirror\0commit\0${repo}\0`);
  const sorted = [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (const file of sorted) hash.update(`${file.path}\0${file.etag}\n`);
  return hash.digest('hex');
}

/** True for a name the mirror may show: not empty, not a dotfile, no separators or control characters. */
export function isVisibleName(name: string): boolean {
  return name !== '' && !name.startsWith('.') && !/[/\\\u0000-\u001f]/.test(name);
}

/**
 * Split a decoded repo-relative path into segments, or `undefined` if any segment is empty, hidden or otherwise not
 * servable (this is also what keeps `..` out). The empty string is the root (no segments).
 */
export function splitRepoPath(path: string): string[] | undefined {
  if (path === '') return [];
  const segments = path.split('/');
  return segments.every(isVisibleName) ? segments : undefined;
}

const SHA_PATTERN = /^[0-9a-f]{40}$/;

/**
 * Find a revision of `org/name` under `root`. `revision` is a name (`main`, `v1`, `refs/pr/1`) or a commit sha that
 * {@link fakeCommitSha} gave out.
 */
export async function locateRevision(
  root: string,
  org: string,
  name: string,
  revision: string,
  oidCache: OidCache,
): Promise<RevisionLocation | 'RepoNotFound' | 'RevisionNotFound'> {
  if (!isVisibleName(org) || !isVisibleName(name) || name.includes('@')) return 'RepoNotFound';
  const repo = `${org}/${name}`;
  const revisionOk = revision.split('/').every(isVisibleName);
  if (revisionOk) {
    const dirName = revisionDirName(name, revision);
    const dir = join(root, org, dirName);
    if (await isDirectory(dir)) return { repo, revision, dir, sha: await revisionSha(repo, dir, oidCache) };
  }
  const dirNames = await revisionDirNames(root, org, name);
  if (dirNames.length === 0) return 'RepoNotFound';
  if (SHA_PATTERN.test(revision)) {
    // `main` first: of several names of one commit, the branch is the one to report.
    const ordered = [...dirNames].sort((a, b) => (a === name ? -1 : b === name ? 1 : a < b ? -1 : 1));
    for (const dirName of ordered) {
      const dir = join(root, org, dirName);
      if ((await revisionSha(repo, dir, oidCache)) !== revision) continue;
      return {
        repo,
        revision: dirName === name ? MAIN_REVISION : dirName.slice(name.length + 1).replaceAll('--', '/'),
        dir,
        sha: revision,
      };
    }
  }
  return 'RevisionNotFound';
}

/** The {@link commitShaOf} of the files under `dir` (every visible file, recursively, links followed, loops not). */
async function revisionSha(repo: string, dir: string, oidCache: OidCache): Promise<string> {
  const files: { path: string; etag: string }[] = [];
  const visit = async (abs: string, prefix: string, ancestors: ReadonlySet<string>): Promise<void> => {
    await Promise.all(
      (await visibleChildren(abs, prefix, ancestors)).map(async ({ absPath, path, info }) => {
        if (info.isDirectory()) await visit(absPath, path, new Set([...ancestors, identity(info)]));
        else if (info.isFile()) {
          const oids = await oidCache.oids({ absPath, size: info.size, mtimeMs: info.mtimeMs, ino: info.ino });
          files.push({ path, etag: oids.etag });
        }
      }),
    );
  };
  const top = await stat(dir).catch(() => undefined);
  if (top?.isDirectory() === true) await visit(dir, '', new Set([identity(top)]));
  return commitShaOf(repo, files);
}

/** A directory's identity on this machine, whatever path (or link) reached it. */
function identity(info: Stats): string {
  return `${info.dev}:${info.ino}`;
}

/** A visible entry of a directory being walked, links followed. */
interface Child {
  readonly absPath: string;
  /** Repo-relative, `/`-separated. */
  readonly path: string;
  readonly info: Stats;
}

/**
 * The visible entries of `abs` (repo-relative `prefix`), in name order, stat'ed through links: without entries that
 * cannot be stat'ed, directories among `ancestors` (the identities of `abs` and every directory above it in the
 * walk, so a loop is cut where it closes), and anything deeper than {@link MAX_TREE_DEPTH}.
 */
async function visibleChildren(abs: string, prefix: string, ancestors: ReadonlySet<string>): Promise<Child[]> {
  const depth = prefix === '' ? 0 : prefix.split('/').length;
  if (depth >= MAX_TREE_DEPTH) return [];
  const names = (await readdir(abs).catch(() => [] as string[])).filter(isVisibleName).sort();
  const infos = await Promise.all(names.map((name) => stat(join(abs, name)).catch(() => undefined)));
  const children: Child[] = [];
  for (const [i, name] of names.entries()) {
    const info = infos[i];
    if (info === undefined || (info.isDirectory() && ancestors.has(identity(info)))) continue;
    children.push({ absPath: join(abs, name), path: prefix === '' ? name : `${prefix}/${name}`, info });
  }
  return children;
}

/** Where repo-relative `segments` lead in a revision, stat'ed, with the identities of the directories on the way. */
interface Resolved {
  readonly absPath: string;
  readonly info: Stats;
  /** The revision's directory and every directory of the path, the entry itself included when it is one. */
  readonly ancestors: ReadonlySet<string>;
}

/**
 * Follows `segments` from the revision's directory as a walk would reach them: `undefined` when one is missing, when
 * a directory on the way is one already passed (a looping link), or when there are more than {@link MAX_TREE_DEPTH}.
 */
async function resolvePath(location: RevisionLocation, segments: readonly string[]): Promise<Resolved | undefined> {
  if (segments.length > MAX_TREE_DEPTH) return undefined;
  let absPath = location.dir;
  let info = await stat(absPath).catch(() => undefined);
  if (info?.isDirectory() !== true) return undefined;
  const ancestors = new Set([identity(info)]);
  for (const segment of segments) {
    if (!info.isDirectory()) return undefined;
    absPath = join(absPath, segment);
    info = await stat(absPath).catch(() => undefined);
    if (info === undefined) return undefined;
    if (info.isDirectory()) {
      if (ancestors.has(identity(info))) return undefined;
      ancestors.add(identity(info));
    }
  }
  return { absPath, info, ancestors };
}

/** Directory names under `root/org` that hold a revision of `name`. */
async function revisionDirNames(root: string, org: string, name: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(join(root, org));
  } catch {
    return [];
  }
  const candidates = names.filter((entry) => entry === name || entry.startsWith(`${name}@`));
  const checks = await Promise.all(
    candidates.map(async (entry) => ((await isDirectory(join(root, org, entry))) ? entry : undefined)),
  );
  return checks.filter((entry): entry is string => entry !== undefined);
}

/** The regular file at repo-relative `path` in a revision, or `undefined` (missing, hidden, a directory, …). */
export async function statFile(location: RevisionLocation, path: string): Promise<FileInfo | undefined> {
  const segments = splitRepoPath(path);
  if (segments === undefined || segments.length === 0) return undefined;
  const found = await resolvePath(location, segments);
  if (found?.info.isFile() !== true) return undefined;
  const { absPath, info } = found;
  return { absPath, size: info.size, mtimeMs: info.mtimeMs, ino: info.ino };
}

/** Hub-like identifiers of a file's content. */
export interface FileOids {
  /** Git object id (40 hex) as listed in the tree. */
  readonly oid: string;
  /** The entity tag the Hub gives the file (unquoted): the git oid, or the LFS oid for LFS files. */
  readonly etag: string;
  readonly lfs?: LfsInfo;
}

/** Computes {@link FileOids}, remembering them per file identity (path, size, mtime, inode). */
export interface OidCache {
  oids(file: FileInfo): Promise<FileOids>;
}

/** Entries kept before the cache starts again (a bound, not a tuning knob). */
const OID_CACHE_LIMIT = 10_000;

/**
 * Create an {@link OidCache}. Files below `lfsThreshold` bytes get their git blob sha1, larger ones their sha256 and
 * an LFS pointer's identity, as on the Hub; either way each file version is read once, the first time it is asked.
 */
export function createOidCache(lfsThreshold: number = DEFAULT_LFS_THRESHOLD): OidCache {
  const cache = new Map<string, Promise<FileOids>>();
  return {
    oids(file) {
      const key = `${file.absPath}\0${file.size}\0${file.mtimeMs}\0${file.ino}`;
      let pending = cache.get(key);
      if (pending === undefined) {
        if (cache.size >= OID_CACHE_LIMIT) cache.clear();
        pending = file.size >= lfsThreshold ? lfsOids(file) : gitBlobOid(file).then((oid) => ({ oid, etag: oid }));
        cache.set(key, pending);
        // A failed read (file vanished) must not stick.
        pending.catch(() => cache.delete(key));
      }
      return pending;
    },
  };
}

async function lfsOids(file: FileInfo): Promise<FileOids> {
  const hash = createHash('sha256');
  if (file.size > 0) {
    for await (const chunk of createReadStream(file.absPath, { start: 0, end: file.size - 1 }))
      hash.update(chunk as Buffer);
  }
  const sha256 = hash.digest('hex');
  const pointer = `version https://git-lfs.github.com/spec/v1\noid sha256:${sha256}\nsize ${file.size}\n`;
  const pointerBytes = Buffer.from(pointer);
  const oid = createHash('sha1').update(`blob ${pointerBytes.length}\0`).update(pointerBytes).digest('hex');
  return { oid, etag: sha256, lfs: { oid: sha256, size: file.size, pointerSize: pointerBytes.length } };
}

async function gitBlobOid(file: FileInfo): Promise<string> {
  const hash = createHash('sha1').update(`blob ${file.size}\0`);
  if (file.size > 0) {
    // Bounded by the stat'ed size so the oid and the header agree even if the file is growing.
    for await (const chunk of createReadStream(file.absPath, { start: 0, end: file.size - 1 }))
      hash.update(chunk as Buffer);
  }
  return hash.digest('hex');
}

/**
 * The tree of a revision below repo-relative directory `path` ('' for the top), shaped as the Hub lists it: with
 * `recursive`, every directory entry is followed by its contents; names are in code-point order. `undefined` when
 * `path` is not a visible directory.
 */
export async function listTree(
  location: RevisionLocation,
  path: string,
  recursive: boolean,
  oidCache: OidCache,
): Promise<TreeEntry[] | undefined> {
  const segments = splitRepoPath(path);
  if (segments === undefined) return undefined;
  const found = await resolvePath(location, segments);
  if (found?.info.isDirectory() !== true) return undefined;
  const out: TreeEntry[] = [];
  await walk({ location, recursive, oidCache, out }, found.absPath, segments.join('/'), found.ancestors);
  return out;
}

/**
 * The tree entry of one repo-relative `path` (a file or a directory, as {@link listTree} would list it), for the Hub's
 * `paths-info`; `undefined` when it is missing or hidden.
 */
export async function pathInfo(
  location: RevisionLocation,
  path: string,
  oidCache: OidCache,
): Promise<TreeEntry | undefined> {
  const segments = splitRepoPath(path.replace(/\/+$/, ''));
  if (segments === undefined || segments.length === 0) return undefined;
  const normal = segments.join('/');
  const found = await resolvePath(location, segments);
  if (found === undefined) return undefined;
  const { absPath, info } = found;
  if (info.isDirectory()) return { type: 'directory', oid: directoryOid(location, normal), size: 0, path: normal };
  if (!info.isFile()) return undefined;
  const oids = await oidCache.oids({ absPath, size: info.size, mtimeMs: info.mtimeMs, ino: info.ino });
  return oids.lfs === undefined
    ? { type: 'file', oid: oids.oid, size: info.size, path: normal }
    : { type: 'file', oid: oids.oid, size: info.size, lfs: oids.lfs, path: normal };
}

function directoryOid(location: RevisionLocation, path: string): string {
  return createHash('sha1').update(`modeldeck-mirror\0tree\0${location.sha}\0${path}`).digest('hex');
}

/** What one listing's walk shares. */
interface TreeWalk {
  readonly location: RevisionLocation;
  readonly recursive: boolean;
  readonly oidCache: OidCache;
  readonly out: TreeEntry[];
}

async function walk(tree: TreeWalk, dir: string, prefix: string, ancestors: ReadonlySet<string>): Promise<void> {
  const { location, recursive, oidCache, out } = tree;
  // Stat'ed in parallel (links followed), then emitted in name order.
  for (const { absPath, path, info } of await visibleChildren(dir, prefix, ancestors)) {
    if (info.isDirectory()) {
      out.push({ type: 'directory', oid: directoryOid(location, path), size: 0, path });
      if (recursive) await walk(tree, absPath, path, new Set([...ancestors, identity(info)]));
    } else if (info.isFile()) {
      const oids = await oidCache.oids({ absPath, size: info.size, mtimeMs: info.mtimeMs, ino: info.ino });
      out.push(
        oids.lfs === undefined
          ? { type: 'file', oid: oids.oid, size: info.size, path }
          : { type: 'file', oid: oids.oid, size: info.size, lfs: oids.lfs, path },
      );
    }
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}
