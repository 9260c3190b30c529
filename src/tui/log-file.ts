/** Saving the event log: what the filter shows, as JSON Lines, to a new file (never over an existing one). */

import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { matchesFilter, toJsonl, type LogEntry, type LogFilter } from './event-log.js';
import type { Tone } from './view-model.js';

/** Writes the entries that pass `filter` to `path` (relative to `cwd`); resolves with the notice that says how it went. */
export async function saveLogFile(
  entries: readonly LogEntry[],
  options: { path: string; filter: LogFilter; cwd: string; secrets: readonly string[] },
): Promise<{ text: string; tone: Tone }> {
  const chosen = entries.filter((e) => matchesFilter(e, options.filter));
  const target = resolve(options.cwd, options.path);
  try {
    await writeFile(target, toJsonl(chosen, options.secrets), { flag: 'wx' });
    return { text: `saved ${chosen.length} log lines to ${target}`, tone: 'ok' };
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
