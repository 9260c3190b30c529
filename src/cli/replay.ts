/**
 * `modeldeck replay FILE`: opens the dashboard on a log saved with Ctrl-S (JSON Lines), playing it at its original
 * timing. The parsing and the playing live in src/tui/replay-log.ts; this file reads the command line and the file.
 */

import { readFile } from 'node:fs/promises';
import { LOCAL_ERRORS } from '../common/local-errors.js';
import { UsageError, parseCommand } from './args.js';
import type { DashboardCommandIo } from './dashboard.js';
import { helpFor } from './help-text.js';

export const REPLAY_USAGE = `Usage: modeldeck replay FILE [--speed X]

Opens the dashboard on a saved event log (the JSON Lines file that Ctrl-S writes in the log's
frames view, or the quit dialog's Save log & quit) and plays it with its original timing: the
sessions open, load and chat as they did, the log fills with the frames as they arrived. Nothing
goes to the network.

Keys (also behind ?): space pauses and resumes the replay, . plays the next saved line (pausing
first), Q quits; the rest is the dashboard's (l focuses the log, where space follows or pauses it).

Arguments:
  FILE                 a log saved with Ctrl-S (in the log) as .jsonl

Options:
  --speed X            play X times as fast (0.5 is half speed; default 1)
  -h, --help           show this help

Exit status: 0 after the user quits; 2 on a usage error or a file that is missing or not a
saved log (the error names the line); 1 without a terminal.`;

/** Where `replay` reads and writes, as the dashboard command does (it reads no environment). */
type ReplayCommandIo = Omit<DashboardCommandIo, 'env'>;

/** `modeldeck replay`; resolves with the exit status once the user quits (2 for a bad command line or file). */
export async function runReplayCommand(argv: readonly string[], io: ReplayCommandIo = {}): Promise<number> {
  const output = io.output ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  const fail = (message: string): number => {
    stderr.write(`modeldeck replay: ${message}\n`);
    return LOCAL_ERRORS.MD_USAGE.exit;
  };
  let parsed;
  try {
    parsed = parseCommand(argv, { speed: { type: 'string' } });
  } catch (error) {
    if (error instanceof UsageError) return fail(error.message);
    throw error;
  }
  if (parsed.help) {
    output.write(helpFor(REPLAY_USAGE, output));
    return 0;
  }
  const [file, ...extra] = parsed.positionals;
  if (file === undefined) return fail('give the saved log to replay: modeldeck replay FILE (see --help)');
  if (extra.length > 0) return fail(`one file at a time, got also '${extra.join("', '")}'`);
  const speedText = parsed.values.speed;
  const speed = speedText === undefined ? 1 : Number(speedText);
  if (speedText !== undefined && (speedText.trim() === '' || !Number.isFinite(speed) || speed <= 0)) {
    return fail(`--speed must be a positive number (2 plays twice as fast), got '${speedText}'`);
  }
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return fail(
      code === 'ENOENT'
        ? `${file}: no such file`
        : code === 'EISDIR'
          ? `${file} is a directory, not a saved log`
          : `${file}: cannot read it (${code ?? (error as Error).message})`,
    );
  }
  const { parseReplayLog } = await import('../tui/replay-log.js');
  const log = parseReplayLog(text);
  if (!log.ok) return fail(`${file}: ${log.message}`);
  if (!(output as NodeJS.WriteStream).isTTY) {
    stderr.write('modeldeck replay: the dashboard needs a terminal, and stdout is not one\n');
    return 1;
  }
  const { startDashboard } = await import('../tui/dashboard.js');
  const dashboard = startDashboard({
    replay: { records: log.records, speed },
    ...(io.input ? { input: io.input } : {}),
    output,
  });
  const onSignal = (): void => dashboard.shutdown();
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    await dashboard.closed;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
  return 0;
}
