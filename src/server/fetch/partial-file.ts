/**
 * The partial file of one blob while it downloads: bytes are written where they belong as they arrive (positional
 * writes, from any number of parts at once), and the journal (`blob-journal.ts`) is kept up with them: rewritten at
 * most every {@link PartialFilePolicy.journalMs} while bytes arrive, and after every
 * {@link PartialFilePolicy.syncBytes} written, the data file is `fdatasync`ed and the journal then says those bytes
 * are on the disk. A journal never claims a byte before its write returned (nor one on the disk before the sync
 * that put it there returned), so whatever stops the download loses at most the bytes of the last interval.
 */

import { open, unlink, type FileHandle } from 'node:fs/promises';

import { addSpan, prefixEnd, spanBytes, type ByteSpan } from './byte-spans.js';
import {
  journalPath,
  partialDataPath,
  readJournal,
  removeJournalLeftovers,
  writeJournal,
  type JournalState,
} from './blob-journal.js';
import { errorCodeOf } from './error-code.js';

/** When the journal is written and the data synced. */
export interface PartialFilePolicy {
  /** The journal is rewritten at most this often while bytes arrive, in milliseconds. */
  readonly journalMs: number;
  /** The data file is synced to the disk after this many bytes written since the last sync. */
  readonly syncBytes: number;
}

/** The partial file of one blob, open for writing. */
export interface PartialFile {
  /** The data file's path. */
  readonly path: string;
  /** The ranges held (written). */
  readonly spans: readonly ByteSpan[];
  /** Bytes held. */
  readonly held: number;
  /** Where the bytes held from offset 0 on end. */
  readonly prefix: number;
  /** Why what was on the disk was not believed (`no journal` for a new file); `undefined` when the journal was. */
  readonly discarded: string | undefined;
  /**
   * Writes `chunks`, contiguous, at `offset`; resolves once they are written (and counted as held). Rejects with the
   * file system's error, or with an earlier failure to write the journal or sync.
   */
  write(offset: number, chunks: readonly Buffer[]): Promise<void>;
  /** Empties the file and forgets every range (a hub that cannot resume starts from the first byte). */
  reset(): Promise<void>;
  /**
   * Ends writing: syncs the data to the disk, then writes the journal (`keep`: to be resumed) or lets it be
   * (`complete`: the caller renames the data file into the blob, then removes the journal, so a crash in between
   * leaves a journal of a missing file, which is discarded). Safe to call more than once.
   */
  close(how: 'keep' | 'complete'): Promise<void>;
}

/**
 * Opens the partial file of `blob` (a file of `size` bytes named `etag`), resuming what its journal says it holds when
 * the journal is believed; otherwise the data file starts empty. `onPrefix` hears every advance of {@link
 * PartialFile.prefix}, the first with what was resumed.
 */
export async function openPartialFile(
  blob: string,
  etag: string,
  size: number,
  policy: PartialFilePolicy,
  onPrefix: (prefix: number) => void,
): Promise<PartialFile> {
  const believed = await readJournal(blob, etag, size);
  const path = partialDataPath(blob);
  let handle: FileHandle;
  if (believed.discarded === undefined) {
    handle = await open(path, 'r+');
  } else {
    // The journal goes first: a data file emptied under a journal that still claims its bytes would be a lie.
    await unlink(journalPath(blob)).catch((error: unknown) => {
      if (errorCodeOf(error) !== 'ENOENT') throw error;
    });
    handle = await open(path, 'w+');
  }
  // What a process killed while writing the journal left behind.
  await removeJournalLeftovers(blob);
  return createPartialFile(blob, handle, believed.state, policy, onPrefix, believed.discarded);
}

/** What a {@link PartialFile} keeps. */
interface Partial {
  readonly blob: string;
  readonly handle: FileHandle;
  readonly etag: string;
  readonly size: number;
  readonly policy: PartialFilePolicy;
  written: ByteSpan[];
  synced: ByteSpan[];
  /** Bytes written since the last sync began. */
  unsynced: number;
  /** The first failure to write the journal or sync, which the next write rejects with. */
  failure: { readonly error: unknown } | undefined;
  closed: boolean;
  journalTimer: NodeJS.Timeout | undefined;
  /** The journal writes, one after the other. */
  journaling: Promise<void>;
  /** The syncs, one after the other. */
  syncing: Promise<void>;
}

function createPartialFile(
  blob: string,
  handle: FileHandle,
  initial: JournalState,
  policy: PartialFilePolicy,
  onPrefix: (prefix: number) => void,
  discarded: string | undefined,
): PartialFile {
  const state: Partial = {
    blob,
    handle,
    etag: initial.etag,
    size: initial.size,
    policy,
    written: [...initial.written],
    synced: [...initial.synced],
    unsynced: 0,
    failure: undefined,
    closed: false,
    journalTimer: undefined,
    journaling: Promise.resolve(),
    syncing: Promise.resolve(),
  };
  let held = spanBytes(state.written);
  let prefix = prefixEnd(state.written);
  onPrefix(prefix);
  return {
    path: partialDataPath(blob),
    get spans() {
      return state.written;
    },
    get held() {
      return held;
    },
    get prefix() {
      return prefix;
    },
    discarded,
    async write(offset, chunks) {
      if (state.failure !== undefined) throw state.failure.error;
      const bytes = await writeAt(state, offset, chunks);
      held += bytes;
      state.unsynced += bytes;
      if (state.unsynced >= policy.syncBytes) void sync(state).then(() => journalNow(state));
      else journalSoon(state);
      const next = prefixEnd(state.written);
      if (next !== prefix) {
        prefix = next;
        onPrefix(prefix);
      }
    },
    async reset() {
      await handle.truncate(0);
      state.written = [];
      state.synced = [];
      held = 0;
      prefix = 0;
      await journalNow(state);
    },
    close: (how) => close(state, how),
  };
}

/** Writes `chunks` at `offset` (all of them, over as many calls as it takes); resolves with the bytes written. */
async function writeAt(state: Partial, offset: number, chunks: readonly Buffer[]): Promise<number> {
  let at = offset;
  let pending = [...chunks];
  while (pending.length > 0) {
    const { bytesWritten } = await state.handle.writev(pending, at);
    state.written = addSpan(state.written, at, at + bytesWritten);
    at += bytesWritten;
    pending = dropBytes(pending, bytesWritten);
  }
  return at - offset;
}

function fail(state: Partial, error: unknown): void {
  state.failure ??= { error };
}

/** Writes the journal now (after the one under way), with the ranges as they are now. */
function journalNow(state: Partial): Promise<void> {
  if (state.journalTimer !== undefined) clearTimeout(state.journalTimer);
  state.journalTimer = undefined;
  const journal = { etag: state.etag, size: state.size, written: [...state.written], synced: [...state.synced] };
  state.journaling = state.journaling
    .then(() => writeJournal(state.blob, journal))
    .catch((error: unknown) => fail(state, error));
  return state.journaling;
}

/** Writes the journal within the policy's interval, unless a write is planned already. */
function journalSoon(state: Partial): void {
  if (state.journalTimer !== undefined || state.closed) return;
  state.journalTimer = setTimeout(() => void journalNow(state), state.policy.journalMs);
  state.journalTimer.unref();
}

/** Syncs the data file (after the sync under way); the ranges written before it began are then on the disk. */
function sync(state: Partial): Promise<void> {
  const covered = [...state.written];
  state.unsynced = 0;
  state.syncing = state.syncing
    .then(() => state.handle.datasync())
    .then(() => {
      state.synced = covered;
    })
    .catch((error: unknown) => fail(state, error));
  return state.syncing;
}

async function close(state: Partial, how: 'keep' | 'complete'): Promise<void> {
  if (state.closed) return;
  state.closed = true;
  try {
    await sync(state);
    if (how === 'keep') await journalNow(state);
    else {
      if (state.journalTimer !== undefined) clearTimeout(state.journalTimer);
      await state.journaling;
    }
  } finally {
    if (state.journalTimer !== undefined) clearTimeout(state.journalTimer);
    await state.handle.close().catch(() => undefined);
  }
  if (state.failure !== undefined) throw state.failure.error;
}

/** `chunks` without their first `bytes` bytes. */
function dropBytes(chunks: readonly Buffer[], bytes: number): Buffer[] {
  const rest: Buffer[] = [];
  let skip = bytes;
  for (const chunk of chunks) {
    if (skip >= chunk.length) {
      skip -= chunk.length;
      continue;
    }
    rest.push(skip > 0 ? chunk.subarray(skip) : chunk);
    skip = 0;
  }
  return rest;
}
