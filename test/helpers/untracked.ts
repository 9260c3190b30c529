/**
 * How a test starts a child that runs node: without tap's per-process hook when coverage is off.
 *
 * tap starts each test file with `--import @tapjs/processinfo/import`, and puts the same flag into the NODE_OPTIONS
 * of every process a test spawns (it wraps child_process, so an `env` option cannot leave it out). The hook records
 * which files each process loads, for the coverage report; on Node 20 it is an off-thread module loader, and it costs
 * every node process about half a CPU second before its first line runs, in every process the child starts too (the
 * benchmarks' smoke run starts dozens). Under `npm test` (`tap --disable-coverage`) nothing reads what it records, so
 * a test's children start without it; under `npm run coverage` they keep it and are covered as before.
 */

/** One NODE_OPTIONS word: quoted (as tap writes its own, `"--import=file:///…"`) or bare. */
const WORD = /"(?:[^"\\]|\\.)*"|'[^']*'|\S+/g;

/** Flags whose value may be the next word. */
const LOADER_FLAGS = new Set(['--import', '--loader', '--experimental-loader']);

/**
 * `[command, args]` for spawn or execFile that run `command args` as they are, but with NODE_OPTIONS free of tap's
 * hook when coverage is off: the child is started through `env`, which sets NODE_OPTIONS and then runs the command
 * in its own place (the same process: its pid, signals and exit status are the command's).
 */
export function untracked(command: string, args: readonly string[]): [string, string[]] {
  if (process.env['TAP_DISABLE_COVERAGE'] !== '1') return [command, [...args]];
  const words = (process.env['NODE_OPTIONS'] ?? '').match(WORD) ?? [];
  const kept = words.filter(
    (word, i) =>
      !word.includes('@tapjs/processinfo') && !(LOADER_FLAGS.has(word) && words[i + 1]?.includes('@tapjs/processinfo')),
  );
  return ['env', [`NODE_OPTIONS=${kept.join(' ')}`, command, ...args]];
}
