/**
 * Step three of fetching a snapshot: the files it lacks, all at once (the transfer bounds connections and memory),
 * each into its blob and then linked into the snapshot, with one progress over all of them (`download-progress.ts`:
 * the total is fixed here, before the first byte).
 */

import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';

import { setMaxListeners } from 'node:events';

import type { ModelRef } from '../loader-types.js';
import type { DownloadProgress, PlannedFile } from './download-progress.js';
import { downloadBlob, incompletePath, LISTENERS } from './downloader.js';
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
  /** False when the hub is not to be (or cannot be) asked: a file that must be fetched is OFFLINE_NOT_CACHED. */
  readonly online: boolean;
  readonly signal?: AbortSignal | undefined;
  /** The load's `download` stage, begun when anything must be fetched; none for the files fetched silently. */
  readonly progress?: DownloadProgress | undefined;
}

/**
 * Makes every file of `files` present in the snapshot. Resolves false when all were there already, true when
 * something was fetched or linked. Rejects with the first failure, once every other download has stopped.
 */
export async function downloadFiles(options: DownloadFilesOptions): Promise<boolean> {
  const { files, snapshot } = options;
  const present = await presentFiles(snapshot, files);
  const missing = files.filter((file) => !present.has(file.path));
  if (missing.length === 0) return false;
  const plans = await Promise.all(missing.map((file) => planFile(options, file)));
  if (plans.some((plan) => plan.share > 0)) {
    if (!options.online) throw notCached(options.ref, options.cacheDir, files.map((file) => file.path).join(', '));
    options.progress?.begin(plans);
  }
  await fetchAll(options, plans);
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
  const blob = blobFile(options.cacheDir, options.ref, etagOf(file) ?? unlistedEtag(options.commit, file));
  const done = await stat(blob).catch(() => undefined);
  if (done?.isFile() === true && done.size === file.size) return { path, file, blob, have: file.size, share: 0 };
  const partial = await stat(incompletePath(blob)).catch(() => undefined);
  const have = partial !== undefined && partial.size <= file.size ? partial.size : 0;
  return { path, file, blob, have, share: file.size - have };
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
