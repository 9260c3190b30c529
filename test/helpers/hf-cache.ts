import { readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Mirror } from '../../src/mirror/mirror.js';
import { readJournal } from '../../src/server/fetch/blob-journal.js';
import { prefixEnd, spanBytes } from '../../src/server/fetch/byte-spans.js';

/** The commit a revision names on a hub (its `/api/models/{id}/revision/{revision}` sha), asked with `token` if given. */
export async function commitOf(hubUrl: string, id: string, revision = 'main', token?: string): Promise<string> {
  const response = await fetch(`${hubUrl}/api/models/${id}/revision/${encodeURIComponent(revision)}`, {
    headers: token === undefined ? {} : { Authorization: `Bearer ${token}` },
  });
  const { sha } = (await response.json()) as { sha: string };
  return sha;
}

/** Every file and symbolic link below `dir`, relative, sorted ([] when `dir` does not exist). */
export async function cacheTree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isFile() || e.isSymbolicLink())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();
}

/** The mirror's GETs of `/resolve/` files, as repo-relative paths, with their `Range` and bytes sent. */
export function fileGets(mirror: Mirror): { path: string; range: string | undefined; bytes: number }[] {
  return mirror.requests
    .filter((r) => r.method === 'GET' && r.url.includes('/resolve/'))
    .map((r) => ({ path: r.url.replace(/^.*\/resolve\/[^/]+\//, ''), range: r.range, bytes: r.bytesSent }));
}

/** The GETs the mirror's CDN origin answered (large files the hub redirected there, with their ranged parts). */
export function cdnGets(mirror: Mirror): Mirror['requests'] {
  return mirror.requests.filter((r) => r.cdn === true && r.method === 'GET');
}

/** Body bytes the mirror sent for `path` over all its GETs. */
export function bytesSentFor(mirror: Mirror, path: string): number {
  return fileGets(mirror)
    .filter((get) => get.path === path)
    .reduce((sum, get) => sum + get.bytes, 0);
}

/**
 * What the partial download of `blob` (a file of `size` bytes) holds, as its journal says and the downloader would
 * believe it: the ranges, their bytes, and where the bytes from offset 0 on end.
 */
export async function partialOf(
  blob: string,
  size: number,
): Promise<{ spans: readonly (readonly [number, number])[]; held: number; prefix: number; discarded?: string }> {
  const believed = await readJournal(blob, basename(blob), size);
  const spans = believed.state.written;
  return {
    spans,
    held: spanBytes(spans),
    prefix: prefixEnd(spans),
    ...(believed.discarded === undefined ? {} : { discarded: believed.discarded }),
  };
}
