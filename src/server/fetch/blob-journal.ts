/**
 * The journal of a partial download: a small JSON file beside `{blob}.modeldeck.incomplete` that says which byte
 * ranges of it hold the file's bytes, so that a download stopped any way (cancelled, failed, killed with SIGKILL, the
 * machine losing power) resumes with only the holes fetched.
 *
 * It keeps two sets. `written`: every range whose write returned, which the page cache holds even when the process
 * dies, so it is believed while the machine has not restarted since (the same boot id). `synced`: the ranges written
 * before the last `fdatasync` of the data file, which survive a power cut too; after a restart only they are believed.
 * The journal is replaced atomically (a temporary file renamed over it) and never claims more than the data file had
 * when it was written.
 *
 * A journal is believed only when it is whole and agrees with the file it describes: its etag and size are the
 * blob's, its ranges are sorted and within the size, and the data file is at least as long as its last range. Anything
 * else (no journal, a torn one, one of another blob, a data file truncated under it) is discarded, never trusted: the
 * download starts from nothing. Whatever is believed is still checked by the blob's checksum before it becomes one.
 */

import { readFileSync } from 'node:fs';
import { readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { uptime } from 'node:os';
import { basename, dirname, join } from 'node:path';

import { parseSpans, spansEnd, type ByteSpan } from './byte-spans.js';

/** The data file of a partial download of `blob` (not huggingface_hub's `{blob}.incomplete`: it holds holes). */
export function partialDataPath(blob: string): string {
  return `${blob}.modeldeck.incomplete`;
}

/** The journal of a partial download of `blob`. */
export function journalPath(blob: string): string {
  return `${blob}.modeldeck.journal`;
}

/** What a journal says of the partial file of one blob. */
export interface JournalState {
  /** The blob's name (its etag), which the partial file is of. */
  readonly etag: string;
  /** The file's size in bytes. */
  readonly size: number;
  /** Ranges written (in the page cache at least). */
  readonly written: readonly ByteSpan[];
  /** Ranges written before the last `fdatasync`: on the disk. */
  readonly synced: readonly ByteSpan[];
}

/** The version written into journals; another version is discarded. */
const VERSION = 1;

let bootId: string | undefined;

/**
 * This boot of the machine: the kernel's boot id on Linux; elsewhere the boot time to the minute (a journal whose
 * minute differs is taken for another boot, which only believes less).
 */
export function currentBoot(): string {
  if (bootId !== undefined) return bootId;
  try {
    bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    bootId = '';
  }
  if (bootId === '') bootId = `booted-${Math.round((Date.now() - uptime() * 1000) / 60_000)}`;
  return bootId;
}

/** Writes the journal of `blob` atomically (a temporary file renamed over it). */
export async function writeJournal(blob: string, state: JournalState): Promise<void> {
  const path = journalPath(blob);
  const temp = `${path}.${process.pid}.tmp`;
  const body = { version: VERSION, boot: currentBoot(), ...state };
  try {
    await writeFile(temp, JSON.stringify(body));
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
}

/** What of a partial file may be believed. */
export interface BelievedPartial {
  /** The ranges believed held, and of them those on the disk (`synced`). */
  readonly state: JournalState;
  /** Why nothing is believed, when that is so (for the log and tests): `undefined` when the journal was believed. */
  readonly discarded?: string;
}

/**
 * Reads the journal of `blob` (a file of `size` bytes named `etag`) and checks it against its data file. Resolves with
 * the ranges to believe: the written ones in this boot, the synced ones after a restart, nothing when the journal is
 * missing, torn, or disagrees with the blob or the data file.
 */
export async function readJournal(blob: string, etag: string, size: number): Promise<BelievedPartial> {
  const none = (why: string): BelievedPartial => ({ state: { etag, size, written: [], synced: [] }, discarded: why });
  const text = await readFile(journalPath(blob), 'utf8').catch(() => undefined);
  if (text === undefined) return none('no journal');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return none('the journal is not JSON');
  }
  if (typeof value !== 'object' || value === null) return none('the journal is not an object');
  const journal = value as Record<string, unknown>;
  if (journal['version'] !== VERSION) return none('the journal is of another version');
  if (journal['etag'] !== etag) return none(`the journal is of another blob (${String(journal['etag'])})`);
  if (journal['size'] !== size) return none(`the journal is of a file of ${String(journal['size'])} bytes`);
  const written = parseSpans(journal['written'], size);
  const synced = parseSpans(journal['synced'], size);
  if (written === undefined || synced === undefined) return none('the journal ranges are not valid');
  const sameBoot = journal['boot'] === currentBoot();
  const believed = sameBoot ? written : synced;
  const data = await stat(partialDataPath(blob)).catch(() => undefined);
  if (data?.isFile() !== true) return none('the data file is missing');
  if (data.size < spansEnd(believed) || data.size > size) {
    return none(`the data file is ${data.size} bytes, the journal says ${spansEnd(believed)}`);
  }
  return { state: { etag, size, written: believed, synced } };
}

/** Removes the partial file of `blob` and its journal; resolves with the bytes the data file took. */
export async function removePartial(blob: string): Promise<number> {
  const data = await stat(partialDataPath(blob)).catch(() => undefined);
  await Promise.all([unlink(partialDataPath(blob)), removeJournal(blob)].map((p) => p.catch(() => undefined)));
  return data === undefined ? 0 : data.blocks * 512;
}

/** Removes the journal of `blob` and what {@link removeJournalLeftovers} removes. */
export async function removeJournal(blob: string): Promise<void> {
  await Promise.all([unlink(journalPath(blob)).catch(() => undefined), removeJournalLeftovers(blob)]);
}

/**
 * Removes the temporary files of journals of `blob` that a process killed while writing one left
 * (`{journal}.{pid}.tmp`). Only under the blob's lock: no other process writes them then.
 */
export async function removeJournalLeftovers(blob: string): Promise<void> {
  const journal = journalPath(blob);
  const prefix = `${basename(journal)}.`;
  const names = await readdir(dirname(journal)).catch(() => [] as string[]);
  const leftovers = names.filter((name) => name.startsWith(prefix) && name.endsWith('.tmp'));
  await Promise.all(leftovers.map((name) => unlink(join(dirname(journal), name)).catch(() => undefined)));
}
