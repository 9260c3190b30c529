/**
 * The server's own client of a Hugging Face Hub (the real one, a mirror, or modeldeck's test mirror): lists a
 * repository's files and opens file downloads, and turns every failure into a `LoadError` whose message says
 * what to do. It knows nothing about caches or transformers.js.
 */

import type { Readable } from 'node:stream';

import type { ModelRef } from '../loader-types.js';
import { listFiles } from './hub-list-files.js';
import { fileUrl, openFile } from './hub-open-file.js';
import { createHubContext } from './hub-request.js';
import { resolveCommit } from './hub-resolve-commit.js';

/** The part of a {@link ModelRef} the hub needs. */
export type RepoRef = Pick<ModelRef, 'id' | 'revision'>;

/** One file of a repository listing. */
export interface HubFile {
  /** Path inside the repository, `/`-separated, e.g. `onnx/model.onnx_data`. */
  readonly path: string;
  /** Size in bytes of the file's content (for LFS files, the LFS object's size, not the pointer's). */
  readonly size: number;
  /** The git blob sha1 (40 hex) the listing gives; for an LFS file, that of its pointer. */
  readonly oid?: string;
  /** For LFS files: the sha256 (64 hex) of the content, the listing's `lfs.oid`. */
  readonly sha256?: string;
}

/**
 * The name huggingface_hub gives a file's blob in its cache (its etag): the sha256 for LFS files, the git blob sha1
 * otherwise; `undefined` when the listing gave neither.
 */
export function etagOf(file: HubFile): string | undefined {
  return file.sha256 ?? file.oid;
}

/** A byte range of a file, both ends included. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

/** An answer's headers by name, as `Headers.get` gives them (`null` when absent). */
export interface HeaderReader {
  get(name: string): string | null;
}

/**
 * A file download's answer (`200` or `206`) once its headers arrived: the body is a Node stream of `Buffer`s, still
 * unread. File bodies come over `node:http`/`node:https` rather than `fetch`: on a fast link, fetch's web-stream body
 * costs the server a promise and a wrapper per chunk and their garbage, on the thread that reads every socket.
 */
export interface FileResponse {
  readonly status: number;
  readonly headers: HeaderReader;
  readonly body: Readable;
  /**
   * The URL that answered: the hub's own, or where it redirected (a CDN's signed URL), which later requests of the
   * same file may ask directly ({@link HubClient.openFile}'s `at`).
   */
  readonly url: string;
  /** Stops reading the body and closes its connection; safe to call more than once. */
  cancel(): void;
}

/** Options of {@link createHubClient}. */
export interface HubClientOptions {
  /** Base URL of the hub, e.g. `https://huggingface.co` (a trailing `/` is ignored). */
  readonly hubUrl: string;
  /** Access token sent as `Authorization: Bearer`, for gated and private repositories. */
  readonly token?: string | undefined;
  /**
   * Where the token came from, for messages: `HF_TOKEN`, `the token file /home/me/.cache/huggingface/token`, …
   * Default `HF_TOKEN`.
   */
  readonly tokenSource?: string | undefined;
  /**
   * The fetch listing and revision requests use; defaults to the global one. File downloads ({@link
   * HubClient.openFile}) use `node:http`/`node:https` whatever it is.
   */
  readonly fetch?: typeof fetch | undefined;
  /**
   * How long to wait for a listing request to answer at all, in milliseconds (default 30000). File downloads have
   * their own stall detection in the downloader.
   */
  readonly requestTimeoutMs?: number | undefined;
}

/** A hub, as the loader uses it. */
export interface HubClient {
  /** The base URL, without a trailing `/`. */
  readonly hubUrl: string;
  /**
   * Lists every file of `ref` (recursively, following `Link: rel="next"` pagination) via
   * `GET {hubUrl}/api/models/{id}/tree/{revision}?recursive=true`.
   */
  listFiles(ref: RepoRef, signal?: AbortSignal): Promise<HubFile[]>;
  /**
   * The commit (40 hex) `ref.revision` names now, via `GET {hubUrl}/api/models/{id}/revision/{revision}` (its `sha`),
   * as huggingface_hub's `snapshot_download` pins it before listing.
   */
  resolveCommit(ref: RepoRef, signal?: AbortSignal): Promise<string>;
  /** `{hubUrl}/{id}/resolve/{revision}/{path}`, with the revision and each path segment URL-encoded. */
  fileUrl(ref: RepoRef, path: string): string;
  /**
   * Starts downloading one file (only `range` of it, when given) and resolves with the `200` or `206` answer once
   * its headers arrived (the body is still unread). A hub that ignores `Range` answers `200` with the whole file.
   * Aborting `signal` rejects with its reason when that is a `LoadError`, and destroys a body being read; 5xx, 408
   * and 429 reject with a `busy` `TransientError`, no answer with an `unreachable` one (`transient-error.ts`).
   *
   * With `at` (the {@link FileResponse.url} of an earlier answer for this file, on another origin than the hub's),
   * that URL is asked directly instead of the hub; a `403` or `410` from it rejects with a `LinkExpired` error
   * (`hub-open-file.ts`): its signature expired, ask the hub again.
   */
  openFile(ref: RepoRef, path: string, signal?: AbortSignal, range?: ByteRange, at?: string): Promise<FileResponse>;
}

/**
 * Creates a {@link HubClient}: each verb is a file of its own (`hub-list-files.ts`, `hub-resolve-commit.ts`,
 * `hub-open-file.ts`) over one `request()` (`hub-request.ts`), failures mapped in `hub-errors.ts`.
 */
export function createHubClient(options: HubClientOptions): HubClient {
  const hub = createHubContext(options);
  return {
    hubUrl: hub.hubUrl,
    fileUrl: (ref, path) => fileUrl(hub.hubUrl, ref, path),
    listFiles: (ref, signal) => listFiles(hub, ref, signal),
    resolveCommit: (ref, signal) => resolveCommit(hub, ref, signal),
    openFile: (ref, path, signal, range, at) => openFile(hub, ref, path, signal, range, at),
  };
}
