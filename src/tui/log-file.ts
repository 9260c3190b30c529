/** Saving the event log: what the filter shows, as JSON Lines, to a new file (never over an existing one). */

import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { matchesFilter, redactSecrets, type LogEntry, type LogFilter } from './event-log.js';
import { recordLine, type ReplayRecord } from './replay-log.js';
import type { Tone } from './view-model.js';

/**
 * Writes the entries that pass `filter` to `path` (relative to `cwd`) as JSON Lines, in time order with the session
 * records (`open`, `update`) of the sessions the filter's session lets through (the text filter is for frames: a
 * replay needs every update); resolves with the notice that says how it went (counting the frames).
 */
export async function saveReplayLog(
  entries: readonly LogEntry[],
  sessionRecords: readonly ReplayRecord[],
  options: { path: string; filter: LogFilter; cwd: string; secrets: readonly string[] },
): Promise<{ text: string; tone: Tone }> {
  const chosen = entries.filter((e) => matchesFilter(e, options.filter));
  const records: ReplayRecord[] = [
    ...sessionRecords.filter((r) => options.filter.session === null || r.session === options.filter.session),
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
export async function saveShownLines(
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
          ? `not saved: ${target} exists (w again and pick another name)`
          : `not saved: ${target}: ${code ?? (error as Error).message}`,
      tone: 'error',
    };
  }
}
