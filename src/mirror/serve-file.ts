/**
 * Serving one file of a revision, on the hub's origin or the CDN's: its headers, conditional and ranged requests, and
 * the hub's 302 to the CDN for large files.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { sendError, sendNotFound, writeHead, type Exchange } from './exchange.js';
import type { FaultSubject } from './faults.js';
import { decideRange } from './http-range.js';
import { statFile, type RevisionLocation } from './repo-fs.js';
import { sendBody } from './send-body.js';

/** Where the hub's 302 sends a large file: its commit and path on the CDN origin, signed for the URL's lifetime. */
function cdnLocation(x: Exchange, cdnUrl: string, location: RevisionLocation, path: string): string {
  const encoded = [...location.repo.split('/'), location.sha, ...path.split('/')].map(encodeURIComponent).join('/');
  const pathname = `/lfs/${encoded}`;
  return `${cdnUrl}${pathname}?${x.context.signer.sign(pathname)}`;
}

/**
 * The `X-Xet-Hash` of a file: 64 hex digits, as the Hub's, derived from its sha256. A stand-in of the same shape: the
 * real one is the Merkle hash of the file's Xet chunks, which only a Xet client can use (and the mirror speaks no Xet).
 */
function xetHashOf(sha256: string): string {
  return createHash('sha256').update(`modeldeck-mirror xet\0${sha256}`).digest('hex');
}

/**
 * A file of a revision: on the hub's origin, a 302 to the CDN for a large one when the mirror has a CDN; else its
 * bytes, with `ETag`, `If-None-Match` and single `Range`s. `onCdn`: answered on the CDN origin, as a CDN answers.
 */
export async function serveFile(
  x: Exchange,
  location: RevisionLocation,
  path: string,
  subject: FaultSubject,
  onCdn = false,
): Promise<void> {
  const file = await statFile(location, path);
  if (file === undefined) {
    if (onCdn) sendError(x, 404, 'NoSuchKey', 'The specified key does not exist.');
    else sendNotFound(x, 'EntryNotFound', undefined, { 'X-Repo-Commit': location.sha });
    return;
  }
  const oids = await x.context.oidCache.oids(file);
  const etag = `"${oids.etag}"`;
  const { cdnUrl } = x.context;
  if (!onCdn && cdnUrl !== undefined && oids.lfs !== undefined) {
    // As the Hub: only this 302 names the commit, the content's sha256, size and Xet hash; the CDN's answer does not.
    // Without the Hub's `Link: rel="xet-auth"` (or X-Xet-Refresh-Route): given one, a client that speaks Xet
    // (huggingface_hub with hf_xet) would ask the mirror for a CAS token it cannot give, instead of following the 302.
    writeHead(x, 302, {
      Location: cdnLocation(x, cdnUrl, location, path),
      'X-Repo-Commit': location.sha,
      'X-Linked-Etag': etag,
      'X-Linked-Size': file.size,
      'X-Xet-Hash': xetHashOf(oids.lfs.oid),
      'Content-Length': 0,
    });
    x.res.end();
    return;
  }
  const headers: Record<string, string | number> = {
    'Content-Type': contentTypeOf(path),
    'Accept-Ranges': 'bytes',
    ETag: etag,
    'Last-Modified': new Date(file.mtimeMs).toUTCString(),
  };
  if (!onCdn) headers['X-Repo-Commit'] = location.sha;
  if (oids.lfs !== undefined && !onCdn) {
    headers['X-Linked-Size'] = file.size;
    headers['X-Linked-Etag'] = etag;
  }
  if (etagMatches(x.req.headers['if-none-match'], oids.etag)) {
    writeHead(x, 304, headers);
    x.res.end();
    return;
  }
  const ifRange = x.req.headers['if-range'];
  const rangeHeader = ifRange === undefined || ifRange === etag ? x.req.headers.range : undefined;
  const range = decideRange(rangeHeader, file.size);
  switch (range.kind) {
    case 'unsatisfiable':
      writeHead(x, 416, { ...headers, 'Content-Range': `bytes */${file.size}`, 'Content-Length': 0 });
      x.res.end();
      return;
    case 'full':
    case 'partial': {
      const start = range.kind === 'partial' ? range.start : 0;
      const end = range.kind === 'partial' ? range.end : file.size - 1;
      const length = end - start + 1;
      if (range.kind === 'partial') headers['Content-Range'] = `bytes ${start}-${end}/${file.size}`;
      headers['Content-Length'] = length;
      writeHead(x, range.kind === 'partial' ? 206 : 200, headers);
      await sendBody(x, subject, length, (bytes) => createReadStream(file.absPath, { start, end: start + bytes - 1 }), {
        start,
        ranged: range.kind === 'partial',
      });
      return;
    }
    default: {
      const unreachable: never = range;
      throw new Error(`unhandled range ${JSON.stringify(unreachable)}`);
    }
  }
}

function etagMatches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header.split(',').some((candidate) => {
    const tag = candidate.trim().replace(/^W\//, '');
    return tag === '*' || tag === `"${etag}"`;
  });
}

const CONTENT_TYPES: Record<string, string> = {
  json: 'application/json; charset=utf-8',
  txt: 'text/plain; charset=utf-8',
  md: 'text/markdown; charset=utf-8',
  jinja: 'text/plain; charset=utf-8',
  model: 'application/octet-stream',
};

function contentTypeOf(path: string): string {
  const dot = path.lastIndexOf('.');
  const extension = dot < 0 ? '' : path.slice(dot + 1).toLowerCase();
  return CONTENT_TYPES[extension] ?? 'application/octet-stream';
}
