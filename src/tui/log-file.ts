/** Saving the event log: what the filter shows, as JSON Lines, to a new file (never over an existing one). */

import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { matchesFilter, redactSecrets, toJsonl, type LogEntry, type LogFilter } from './event-log.js';
import type { Tone } from './view-model.js';

/** Writes the entries that pass `filter` to `path` (relative to `cwd`); resolves with the notice that says how it went. */
export async function saveLogFile(
  entries: readonly LogEntry[],
  options: { path: string; filter: LogFilter; cwd: string; secrets: readonly string[] },
): Promise<{ text: string; tone: Tone }> {
  const chosen = entries.filter((e) => matchesFilter(e, options.filter));
  return writeNew(resolve(options.cwd, options.path), toJsonl(chosen, options.secrets), chosen.length);
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
