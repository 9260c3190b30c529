/**
 * Step three of fetching a snapshot: the files it lacks, all at once (the transfer shares its connections fairly
 * between loads and between these files), each into its blob and then linked into the snapshot, with one progress over
 * all of them (`download-progress.ts`: the total is fixed here, before the first byte). The disk is checked for the
 * room that total needs before the first byte too (`disk-space.ts`).
 */

import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';

import { setMaxListeners } from 'node:events';

import type { ModelRef } from '../loader-types.js';
import { readJournal } from './blob-journal.js';
import { spanBytes } from './byte-spans.js';
import { claimDiskSpace, type HeldClaim } from './disk-space.js';
import type { DownloadProgress, PlannedFile } from './download-progress.js';
import { downloadBlob } from './downloader.js';
import { LISTENERS } from './file-parts.js';
import { etagOf, type HubClient, type HubFile } from './hub-client.js';
import { blobFile, presentFiles } from './model-cache.js';
import { linkBlob } from './snapshot-link.js';
import { notCached } from './snapshot-resolve.js';
import type { Transfer } from './transfer.js';

/** Options of {@link downloadFiles}. */
export interface DownloadFilesOptions {
  readonly hub: HubClient;
  readonly ref: ModelRef;
  readonly commit: string;
  readonly cacheDir: string;
  /** The snapshot directory of the commit. */
  readonly snapshot: string;
  readonly files: readonly HubFile[];
  readonly transfer: Transfer;
  /** The load's flow: its downloads share the transfer's connections fairly with other loads'. */
  readonly flow: string;
  /** False when the hub is not to be (or cannot be) asked: a file that must be fetched is OFFLINE_NOT_CACHED. */
  readonly online: boolean;
  readonly signal?: AbortSignal | undefined;
  /** The load's `download` stage, begun when anything must be fetched; none for the files fetched silently. */
  readonly progress?: DownloadProgress | undefined;
}

/**
 * Makes every file of `files` present in the snapshot. Resolves false when all were there already, true when
 * something was fetched or linked. Rejects with DISK_FULL before the first byte when the disk has not the room the
 * missing bytes need, and with the first failure, once every other download has stopped.
 */
export async function downloadFiles(options: DownloadFilesOptions): Promise<boolean> {
  const { files, snapshot } = options;
  const present = await presentFiles(snapshot, files);
  const missing = files.filter((file) => !present.has(file.path));
  if (missing.length === 0) return false;
  const plans = await Promise.all(missing.map((file) => planFile(options, file)));
  const needed = plans.reduce((sum, plan) => sum + plan.share, 0);
  let claim: HeldClaim | undefined;
  let unweigh: (() => void) | undefined;
  if (needed > 0) {
    if (!options.online) throw notCached(options.ref, options.cacheDir, files.map((file) => file.path).join(', '));
    // What this load still has to write: its total less what its files reported so far.
    const written = new Map<string, number>();
    const remaining = (): number => needed - [...written.values()].reduce((sum, bytes) => sum + bytes, 0);
    const what = `${options.ref.key} (${missingNames(plans)})`;
    claim = await claimDiskSpace(options.transfer, options.cacheDir, blobsDir(plans), needed, remaining, what);
    // The load with the fewest bytes left gets the larger share of the connections (`fair-share.ts`).
    unweigh = options.transfer.connections.weigh(options.flow, remaining);
    options.progress?.begin(plans);
    options = { ...options, progress: countWritten(options.progress, plans, written) };
  }
  try {
    await fetchAll(options, plans);
  } finally {
    unweigh?.();
    claim?.release();
  }
  options.progress?.end();
  return true;
}

/** A missing file of the snapshot: its blob, and what of it the disk has already. */
interface Plan extends PlannedFile {
  readonly file: HubFile;
  readonly blob: string;
}

async function planFile(options: DownloadFilesOptions, file: HubFile): Promise<Plan> {
  const { path } = file;
  const etag = etagOf(file) ?? unlistedEtag(options.commit, file);
  const blob = blobFile(options.cacheDir, options.ref, etag);
  const done = await stat(blob).catch(() => undefined);
  if (done?.isFile() === true && done.size === file.size) return { path, file, blob, have: file.size, share: 0 };
  // What the partial file's journal is believed for; the download reads it again under the blob's lock.
  const partial = await readJournal(blob, etag, file.size);
  const have = spanBytes(partial.state.written);
  return { path, file, blob, have, share: file.size - have };
}

/** The blobs folder of the plans' repository (the disk they are written to). */
function blobsDir(plans: readonly Plan[]): string | undefined {
  const first = plans[0];
  return first === undefined ? undefined : dirname(first.blob);
}

/** The files of `plans` that have bytes to fetch, for messages: `onnx/model.onnx_data, tokenizer.json`. */
function missingNames(plans: readonly Plan[]): string {
  const names = plans.filter((plan) => plan.share > 0).map((plan) => plan.path);
  return names.length <= 3 ? names.join(', ') : `${names.slice(0, 3).join(', ')} and ${names.length - 3} more`;
}

/** `progress`, also recording into `written` the bytes each planned file has fetched (for the disk claim). */
function countWritten(
  progress: DownloadProgress | undefined,
  plans: readonly Plan[],
  written: Map<string, number>,
): DownloadProgress | undefined {
  const have = new Map(plans.map((plan) => [plan.path, plan.have]));
  return {
    begin: (files) => progress?.begin(files),
    end: () => progress?.end(),
    report(path, bytes) {
      written.set(path, Math.max(written.get(path) ?? 0, bytes - (have.get(path) ?? 0)));
      progress?.report(path, bytes);
    },
  };
}

/** Downloads and links every planned file; the first failure aborts the others and is the rejection. */
async function fetchAll(options: DownloadFilesOptions, plans: readonly Plan[]): Promise<void> {
  let firstFailure: { error: unknown } | undefined;
  const controller = new AbortController();
  setMaxListeners(LISTENERS, controller.signal);
  const onAbort = (): void => controller.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    // Smallest first: a tokenizer or a config should not wait behind gigabytes for a connection.
    const ordered = [...plans].sort((a, b) => a.file.size - b.file.size);
    const results = await Promise.allSettled(
      ordered.map(async (plan) => {
        await downloadBlob({
          hub: options.hub,
          ref: { id: options.ref.id, revision: options.commit },
          file: plan.file,
          blob: plan.blob,
          transfer: options.transfer,
          flow: options.flow,
          signal: controller.signal,
          progress: options.progress,
        }).catch((error: unknown) => {
          firstFailure ??= { error };
          controller.abort(error);
          throw error;
        });
        await linkBlob(options.snapshot, plan.file.path, plan.blob);
      }),
    );
    const failed = results.find((result) => result.status === 'rejected');
    // The first failure is the one that aborted the others; theirs only say they were aborted.
    if (failed !== undefined) throw (firstFailure as { error: unknown } | undefined)?.error ?? failed.reason;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
}

/** A stable blob name for a file the listing gave no digest for (such a file cannot be verified). */
function unlistedEtag(commit: string, file: HubFile): string {
  return `unlisted-${createHash('sha1').update(`${commit}\0${file.path}`).digest('hex')}`;
}
