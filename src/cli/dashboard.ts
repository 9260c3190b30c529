/**
 * `modeldeck` with no subcommand: the full-screen dashboard. Parses the sessions from flags and `--config`, refuses
 * to start without a terminal, starts the embedded demo stack when no server is given, and makes sure the terminal
 * is restored on every way out, including an uncaught error (which is then reported and exits non-zero).
 */

import type { DemoStack } from '../demo/stack.js';
import type { KeyOrigin, SessionSpec } from '../tui/config.js';
import type { Dashboard } from '../tui/dashboard.js';
import { UsageError, parseBytes, parseCommand, parseDtypeFlag, parseHttpUrl } from './args.js';
import { helpFor } from './help-text.js';

export const DASHBOARD_USAGE = `Usage: modeldeck [options]
       modeldeck --server URL --model ID [--model ID ...]
       modeldeck --config FILE

The full-screen dashboard: one pane per session (a server and a model) with its state, download and weights
gauges, time per stage and a chat; and the raw SSE event log of every session.

With no --server and no --config it starts everything in-process on 127.0.0.1: the demo models, a throttled
mirror serving them, and a modeldeck server, and opens a session on each demo model.

Options:
  --server URL         a server (a URL ending in /v1 works too): modeldeck, \`transformers serve\`, Ollama,
                       llama.cpp's llama-server, vLLM or another OpenAI-compatible server. Repeat it to pair
                       servers with --model in order, or give one for every --model
  --model ID           a model to load and chat with: org/name or org/name@revision, or the server's own
                       name with --kind (qwen3:0.6b for Ollama) (repeatable)
  --kind KIND          the kind of the --server servers: modeldeck, transformers-serve, ollama, llamacpp or
                       openai (vllm is openai). Default: detected from what each server answers (README)
  --config FILE        a JSON file listing sessions (format below); added to --server/--model sessions
  --api-key KEY        bearer key for the --server sessions (default $MODELDECK_API_KEY)
  --dtype LIST         ONNX weights the sessions ask for, in order of preference, e.g. q4,q8 (the load
                       request's "dtype"; a --config session's own "dtype" wins; default: none sent, the
                       server chooses)
  --read-only          watch only: no session unloads, cancels or loads a model itself (a session follows a load
                       under way or a loaded model, and chats); U and C say "read-only" instead. A config
                       session can be read-only alone with "readOnly": true
  --log-lines N        event log history kept, in lines (default 5000)
  --cache-dir DIR      embedded server's model cache (default: a new temporary directory each run)
  --throttle RATE      embedded mirror's bandwidth for all downloads together, like 4M or 500k bytes/s;
                       0 unlimited (default 4M)
  -h, --help           show this help

Config file:
  {"sessions": [
    {"name": "local", "server": "http://127.0.0.1:8000", "model": "org/name"},
    {"server": "https://host/v1", "model": "org/other@v2",
     "apiKeyEnv": "HOST_KEY"}]}
  "name" (optional) is the session's tag on screen and in the log instead of s1, s2, …: 1–12 letters, digits,
  ".", "_" or "-", unique. Each session takes "apiKey" (the key) or "apiKeyEnv" (an environment variable holding it). Keys are sent as
  "Authorization: Bearer" on every request of that session and never shown or logged. "dtype" (optional, "q4,q8"
  or a list) is the session's weights preference, as --dtype. "readOnly": true makes that session watch-only.
  "kind" (optional) names the session's kind of server, as --kind.
  Ctrl-S in the dashboard writes the open sessions back to the file (keys as "apiKeyEnv", never in the clear
  unless the file held them so); quitting offers to when they changed.

Keys: press ? in the dashboard. Letters never change anything on a server: U unloads, C cancels, X closes and
Q quits, each through a dialog that opens on Keep. Ctrl-C quits (asking first when something would be lost).

The dashboard needs a terminal. For scripts and CI use: modeldeck load --server URL MODEL [--json]`;

/** What the dashboard command runs with. */
export interface DashboardCommandConfig {
  /** Sessions from the flags and the config file; empty means the embedded demo stack. */
  readonly sessions: readonly SessionSpec[];
  readonly logLines: number;
  /** Key for sessions added later on a server without one. */
  readonly apiKey: string | undefined;
  /** Where {@link DashboardCommandConfig.apiKey} came from: `--api-key`, or `$MODELDECK_API_KEY`. */
  readonly apiKeyOrigin: KeyOrigin | undefined;
  /** `--read-only`. */
  readonly readOnly: boolean;
  /** The `--config` file and the sessions it holds (also in {@link DashboardCommandConfig.sessions}). */
  readonly config: { readonly path: string; readonly sessions: readonly SessionSpec[] } | undefined;
  readonly cacheDir: string | undefined;
  /** Embedded mirror bandwidth, bytes per second (0 = unlimited). */
  readonly throttle: number;
}

/** Parses the dashboard's argv. Returns null when help was asked for. @throws UsageError */
export async function resolveDashboardArgs(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
): Promise<DashboardCommandConfig | null> {
  const parsed = parseCommand(argv, {
    server: { type: 'string', multiple: true },
    model: { type: 'string', multiple: true },
    config: { type: 'string' },
    'read-only': { type: 'boolean' },
    'api-key': { type: 'string' },
    dtype: { type: 'string' },
    kind: { type: 'string' },
    'log-lines': { type: 'string' },
    'cache-dir': { type: 'string' },
    throttle: { type: 'string' },
  });
  if (parsed.help) return null;
  const { values, positionals } = parsed;
  if (positionals.length > 0) {
    throw new UsageError(`unexpected argument '${positionals[0]}' (models go after --model; see 'modeldeck --help')`);
  }
  const { apiKey, apiKeyOrigin } = defaultKey(values['api-key'], env);
  const servers = (values.server ?? []).map((s) => parseHttpUrl(s, '--server'));
  const models = values.model ?? [];
  const { modelProblem, parseServerKind, unknownKindMessage } = await import('../client/server-kind.js');
  const kind = values.kind === undefined ? undefined : parseServerKind(values.kind);
  if (values.kind !== undefined && kind === undefined)
    throw new UsageError(`--kind: ${unknownKindMessage(values.kind)}`);
  if (kind !== undefined && servers.length === 0)
    throw new UsageError("--kind needs a --server (it names that server's kind)");
  for (const model of models) {
    const problem = modelProblem(model, kind);
    if (problem !== undefined) throw new UsageError(`--model: ${problem}`);
  }
  let pairs: { server: string; model: string }[];
  if (servers.length === 0 && models.length === 0) pairs = [];
  else if (servers.length === 0)
    throw new UsageError('--model needs a --server (without either, the demo stack starts)');
  else if (models.length === 0) throw new UsageError('--server needs at least one --model to open');
  else if (servers.length === 1) pairs = models.map((model) => ({ server: servers[0] as string, model }));
  else if (servers.length === models.length)
    pairs = models.map((model, i) => ({ server: servers[i] as string, model }));
  else {
    throw new UsageError(
      `got ${servers.length} --server and ${models.length} --model: give one --server for all models, or one per --model`,
    );
  }
  const dtype = values.dtype === undefined ? undefined : parseDtypeFlag(values.dtype);
  const sessions: SessionSpec[] = pairs.map((p) => ({
    ...p,
    ...(kind !== undefined ? { kind } : {}),
    ...(apiKey ? { apiKey, ...(apiKeyOrigin !== undefined ? { keyOrigin: apiKeyOrigin } : {}) } : {}),
  }));
  const config = values.config === undefined ? undefined : await readConfig(values.config, env);
  sessions.push(...(config?.sessions ?? []));
  if (dtype !== undefined && sessions.length === 0) {
    throw new UsageError('--dtype needs --server or --config sessions (the demo models come in fp32 only)');
  }
  const logLinesText = values['log-lines'] ?? '5000';
  const logLines = Number(logLinesText);
  if (!/^\d+$/.test(logLinesText) || logLines < 1 || logLines > 10_000_000) {
    throw new UsageError(`--log-lines must be a whole number from 1 to 10000000, got '${logLinesText}'`);
  }
  const { DEFAULT_DEMO_THROTTLE } = await import('../demo/stack.js');
  return {
    sessions: dtype === undefined ? sessions : sessions.map((spec) => ({ ...spec, dtype: spec.dtype ?? dtype })),
    logLines,
    apiKey,
    apiKeyOrigin,
    readOnly: values['read-only'] === true,
    config,
    cacheDir: values['cache-dir'],
    throttle: values.throttle === undefined ? DEFAULT_DEMO_THROTTLE : parseBytes(values.throttle, '--throttle'),
  };
}

/** `--api-key`, else `$MODELDECK_API_KEY`, and which it was. @throws UsageError */
function defaultKey(
  flag: string | undefined,
  env: NodeJS.ProcessEnv,
): { apiKey: string | undefined; apiKeyOrigin: KeyOrigin | undefined } {
  const apiKey = flag ?? (env['MODELDECK_API_KEY'] || undefined);
  if (apiKey !== undefined && !/^[\x21-\x7e]+$/.test(apiKey)) {
    throw new UsageError('the API key must be printable ASCII without spaces (it travels in an HTTP header)');
  }
  if (apiKey === undefined) return { apiKey, apiKeyOrigin: undefined };
  return { apiKey, apiKeyOrigin: flag !== undefined ? { kind: 'flag' } : { kind: 'env', name: 'MODELDECK_API_KEY' } };
}

/** The `--config` file's sessions, with its path (Ctrl-S writes back to it). @throws UsageError */
async function readConfig(
  path: string,
  env: NodeJS.ProcessEnv,
): Promise<{ path: string; sessions: readonly SessionSpec[] }> {
  const { ConfigError, loadDashboardConfig } = await import('../tui/config.js');
  try {
    return { path, sessions: await loadDashboardConfig(path, env) };
  } catch (error) {
    if (error instanceof ConfigError) throw new UsageError(error.message);
    throw error;
  }
}

/** Where the dashboard command reads and writes; the process's own by default. */
export interface DashboardCommandIo {
  readonly input?: NodeJS.ReadableStream;
  readonly output?: NodeJS.WritableStream;
  readonly stderr?: NodeJS.WritableStream;
  readonly env?: NodeJS.ProcessEnv;
}

/** `modeldeck` (dashboard); resolves with the exit status once the user quits. @throws UsageError (status 2) */
export async function runDashboardCommand(argv: readonly string[], io: DashboardCommandIo = {}): Promise<number> {
  const output = io.output ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  const config = await resolveDashboardArgs(argv, io.env ?? process.env);
  if (config === null) {
    output.write(helpFor(DASHBOARD_USAGE, output));
    return 0;
  }
  if (!(output as NodeJS.WriteStream).isTTY) {
    stderr.write(
      'modeldeck: the dashboard needs a terminal, and stdout is not one. ' +
        'For scripts and CI use: modeldeck load --server URL MODEL [--json]\n',
    );
    return 1;
  }
  const { startDashboard } = await import('../tui/dashboard.js');
  const dashboard = startDashboard({
    sessions: config.sessions,
    logLines: config.logLines,
    ...(config.apiKey ? { defaultApiKey: config.apiKey } : {}),
    ...(config.apiKeyOrigin !== undefined ? { defaultKeyOrigin: config.apiKeyOrigin } : {}),
    readOnly: config.readOnly,
    ...(config.config !== undefined ? { config: config.config } : {}),
    ...(io.env !== undefined ? { env: io.env } : {}),
    ...(io.input ? { input: io.input } : {}),
    output,
  });

  let stack: DemoStack | undefined;
  let exitCode = 0;
  const fatal = (error: unknown): void => {
    // Restore the terminal first, so the report is readable; then report and exit non-zero, never swallow.
    dashboard.shutdown();
    // The terminal closed under the dashboard (its window or tmux pane gone, a hang-up): its writes fail with EIO.
    // That is an ordinary way to end, as q is; nothing is left to read a report.
    if (terminalGone(error, output)) return;
    stderr.write(
      `modeldeck: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    exitCode = 1;
    const exit = (): never => process.exit(1);
    setTimeout(exit, 2000).unref();
    void (stack?.close() ?? Promise.resolve()).finally(exit);
  };
  const unwatch = watchProcess(fatal, () => dashboard.shutdown());
  try {
    if (config.sessions.length === 0) {
      stack = await runOnDemoStack(dashboard, config, (started) => {
        stack = started;
      });
    } else {
      await dashboard.closed;
    }
  } finally {
    dashboard.shutdown();
    await stack?.close();
    unwatch();
  }
  // What Save & quit saved, said where the user reads it once the screen is gone.
  for (const line of dashboard.farewell()) output.write(`modeldeck: ${line}\n`);
  return exitCode;
}

/** Whether `error` is a write to a terminal that is gone: EIO, or a broken pipe once the output was destroyed. */
function terminalGone(error: unknown, output: NodeJS.WritableStream): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return code === 'EIO' || (code === 'EPIPE' && (output as { destroyed?: boolean }).destroyed === true);
}

/** The signals that end the dashboard as q does. */
const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGHUP', 'SIGINT'];

/**
 * Routes the process's uncaught errors to `fatal` and its stop signals to `stop` while the dashboard runs; returns
 * the undo.
 */
function watchProcess(fatal: (error: unknown) => void, stop: () => void): () => void {
  process.on('uncaughtException', fatal);
  process.on('unhandledRejection', fatal);
  for (const signal of STOP_SIGNALS) process.on(signal, stop);
  return () => {
    process.off('uncaughtException', fatal);
    process.off('unhandledRejection', fatal);
    for (const signal of STOP_SIGNALS) process.off(signal, stop);
  };
}

/**
 * Starts the demo stack behind the dashboard and opens a session on each demo model once it is up (handing the stack
 * to `onStarted` at once, so that a fatal error can close it); a stack that did not start is a notice. Resolves when
 * the user quits, after a start still under way has ended, with the stack if it started, so nothing is left listening.
 */
async function runOnDemoStack(
  dashboard: Dashboard,
  config: DashboardCommandConfig,
  onStarted: (stack: DemoStack) => void,
): Promise<DemoStack | undefined> {
  dashboard.setNotice('starting the demo stack (models, mirror, server) on 127.0.0.1…', 'accent');
  const { startDemoStack } = await import('../demo/stack.js');
  const starting = startDemoStack({
    throttle: config.throttle,
    ...(config.cacheDir !== undefined ? { cacheDir: config.cacheDir } : {}),
    onProgress: (line) => dashboard.setNotice(line, 'accent'),
  });
  starting.then(
    (started) => {
      onStarted(started);
      dashboard.setDefaultServer(started.serverUrl);
      for (const model of started.models) dashboard.addSession({ server: started.serverUrl, model });
      dashboard.setNotice(`demo stack on ${started.serverUrl}: watch the loads, then Enter to chat · ? for keys`, 'ok');
    },
    (error: unknown) =>
      dashboard.setNotice(
        `the demo stack did not start: ${error instanceof Error ? error.message : String(error)}; ` +
          'press Ctrl-N to add a session on another server',
        'error',
      ),
  );
  await dashboard.closed;
  // A quit during start-up: wait for it.
  return starting.catch(() => undefined);
}
