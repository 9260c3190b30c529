/**
 * How modeldeck starts its own worker threads (a model's, the checksum's): without the module hooks of the process
 * that starts them.
 *
 * A worker inherits its parent's `execArgv`, and Node reads `NODE_OPTIONS` again for every worker. A hook given there
 * with `--import`, `--require` or `--loader` (a coverage tracker, an APM agent) was meant for the server; a worker
 * that ran it would load it again and pass every module of transformers.js and ONNX Runtime through it. On Node 20 a
 * `--import` hook runs its own loader thread per worker: under tap's process tracker, each model load paid 0.3 CPU s
 * more for it (0.5 instead of 0.2), several hundred times over in `npm test`. The workers' modules are modeldeck's own
 * and transformers.js; they need none of it, and make no network request an agent could trace.
 *
 * Every other flag is kept (`--enable-source-maps`, `--no-warnings`, …). A worker file that is TypeScript source
 * (modeldeck run through a TypeScript loader) needs the hooks to load at all, and keeps them.
 *
 * A worker given `execArgv` refuses V8 and process-wide flags (`--expose-gc`, `--max-old-space-size`, …), which it
 * would have inherited silently: they are in effect for every thread of the process anyway. {@link startOwnThread}
 * leaves out the ones Node names in its refusal, and if it cannot tell which, starts the worker as Node would.
 */

import { Worker, type WorkerOptions } from 'node:worker_threads';

/** The flags that load a module before the program: they take their module as the next word or after `=`. */
const HOOK_FLAGS = new Set(['--import', '--require', '-r', '--loader', '--experimental-loader']);

/** `argv` without its module hooks (`--import x`, `--import=x`, `-r x`, …). */
export function withoutModuleHooks(argv: readonly string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i] ?? '';
    const flag = word.startsWith('--') ? word.split('=', 1)[0] : word;
    if (flag === undefined || !HOOK_FLAGS.has(flag)) kept.push(word);
    else if (!word.includes('=')) i += 1; // its module is the next word
  }
  return kept;
}

/** One `NODE_OPTIONS` word: quoted (as some tools write `"--import=file:///…"`) or bare. */
const NODE_OPTIONS_WORD = /"(?:[^"\\]|\\.)*"|\S+/g;

function unquote(word: string): string {
  return word.startsWith('"') ? word.slice(1, -1).replace(/\\(.)/g, '$1') : word;
}

/**
 * The `execArgv` and `env` for a worker of modeldeck's own, whose file is `workerUrl`: the parent's, without
 * module hooks (see above); the parent's unchanged when the worker file is TypeScript source.
 */
function ownThreadOptions(workerUrl: URL): Pick<WorkerOptions, 'execArgv' | 'env'> {
  if (workerUrl.pathname.endsWith('.ts')) return {};
  const nodeOptions = process.env['NODE_OPTIONS'];
  const options = nodeOptions?.match(NODE_OPTIONS_WORD) ?? [];
  const kept = withoutModuleHooks(options.map(unquote));
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (nodeOptions !== undefined) {
    if (kept.length === 0) delete env['NODE_OPTIONS'];
    else env['NODE_OPTIONS'] = kept.map((w) => (/\s|"/.test(w) ? JSON.stringify(w) : w)).join(' ');
  }
  return { execArgv: withoutModuleHooks(process.execArgv), env };
}

/**
 * Starts the worker thread `file` of modeldeck with `options` and {@link ownThreadOptions}: without the process's
 * module hooks, its other flags kept; V8 and process-wide flags (in effect in every thread already) left to the
 * process.
 */
export function startOwnThread(file: URL, options: WorkerOptions = {}): Worker {
  const own = ownThreadOptions(file);
  try {
    return new Worker(file, { ...options, ...own });
  } catch (error) {
    if (!refusedFlags(error)) throw error;
    const execArgv = withoutRefused(own.execArgv ?? [], error as Error);
    if (execArgv !== undefined) {
      try {
        return new Worker(file, { ...options, ...own, execArgv });
      } catch (again) {
        if (!refusedFlags(again)) throw again;
      }
    }
    return new Worker(file, options); // as Node would start it, hooks and all
  }
}

function refusedFlags(error: unknown): boolean {
  return (error as { code?: unknown }).code === 'ERR_WORKER_INVALID_EXEC_ARGV';
}

/**
 * `argv` without the flags Node's refusal names ("Initiated Worker with invalid execArgv flags: --expose-gc,
 * --title"), and the value after a refused flag given as two words (`--title x`); undefined if it names none of them.
 */
function withoutRefused(argv: readonly string[], error: Error): string[] | undefined {
  const refused = new Set((error.message.split(': ')[1] ?? '').split(', '));
  const kept: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i] ?? '';
    if (!refused.has(word)) kept.push(word);
    else if (!word.includes('=') && argv[i + 1]?.startsWith('-') === false) i += 1;
  }
  return kept.length < argv.length ? kept : undefined;
}
