/** Saving the event log: what the filter shows, as JSON Lines, to a new file (never over an existing one). */

import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { matchesFilter, redactSecrets, type LogEntry, type LogFilter } from './event-log.js';
import type { LogView } from './keys/types.js';
import { recordLine, type ReplayRecord } from './replay-log.js';
import type { Tone } from './view-model.js';

/** What Ctrl-S saves from: the log pane as it stands, and what the recorder holds. */
export interface SaveSource {
  /** The log pane's view. */
  readonly view: LogView;
  /** The log pane's lines as shown, each ending in LF. */
  readonly shownText: () => string;
  /** The event log's entries, oldest first. */
  readonly entries: () => readonly LogEntry[];
  /** The sessions' records kept beside the frames (see {@link saveReplayLog}). */
  readonly records: () => readonly ReplayRecord[];
  /** Where a relative path goes. */
  readonly cwd: string;
  readonly secrets: readonly string[];
}

/**
 * Saves the log to `path` as Ctrl-S does: the debug views always save the lines shown; the frames view does so for a
 * `.txt` path, and otherwise saves the whole filtered history as JSON Lines (what `modeldeck replay` reads).
 */
export async function saveLog(
  path: string,
  filter: LogFilter,
  source: SaveSource,
): Promise<{ text: string; tone: Tone }> {
  const { cwd, secrets } = source;
  if (source.view !== 'frames' || /\.txt$/i.test(path))
    return saveShownLines(source.shownText(), { path, cwd, secrets });
  return saveReplayLog(source.entries(), source.records(), { path, filter, cwd, secrets });
}

/**
 * Writes the entries that pass `filter` to `path` (relative to `cwd`) as JSON Lines, in time order with the session
 * records (`open`, `update`) of the sessions the filter's session lets through and every server's (`server`) (the text filter is for frames: a
 * replay needs every update); resolves with the notice that says how it went (counting the frames).
 */
async function saveReplayLog(
  entries: readonly LogEntry[],
  sessionRecords: readonly ReplayRecord[],
  options: { path: string; filter: LogFilter; cwd: string; secrets: readonly string[] },
): Promise<{ text: string; tone: Tone }> {
  const chosen = entries.filter((e) => matchesFilter(e, options.filter));
  const records: ReplayRecord[] = [
    // A server's records are every session's on it: kept whatever the session filter.
    ...sessionRecords.filter(
      (r) => r.kind === 'server' || options.filter.session === null || r.session === options.filter.session,
    ),
    ...chosen.map((e): ReplayRecord => ({ time: e.time, session: e.session, kind: e.kind, raw: e.raw })),
  ];
  // Stable: records of one time keep their order (an open before its first update, frames in arrival order).
  records.sort((a, b) => a.time - b.time);
  let text = '';
  for (const record of records) text += `${redactSecrets(recordLine(record), options.secrets)}\n`;
  return writeNew(resolve(options.cwd, options.path), text, chosen.length);
}

/**
 * Writes exactly the lines the log's debug view shows (`text`, one line each, secrets redacted again) to a new file
 * at `path` (relative to `cwd`).
 */
async function saveShownLines(
  text: string,
  options: { path: string; cwd: string; secrets: readonly string[] },
): Promise<{ text: string; tone: Tone }> {
  const lines = text === '' ? 0 : text.split('\n').length - 1;
  return writeNew(resolve(options.cwd, options.path), redactSecrets(text, options.secrets), lines);
}

async function writeNew(target: string, content: string, lines: number): Promise<{ text: string; tone: Tone }> {
  try {
    await writeFile(target, content, { flag: 'wx' });
    return { text: `saved ${lines} log lines to ${target}`, tone: 'ok' };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return {
      text:
        code === 'EEXIST'
          ? `not saved: ${target} exists (Ctrl-S again and pick another name)`
          : `not saved: ${target}: ${code ?? (error as Error).message}`,
      tone: 'error',
    };
  }
}
