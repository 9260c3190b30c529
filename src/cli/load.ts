/**
 * `modeldeck load`: the dashboard's subscription without the full screen, for scripts and CI. Plain progress lines
 * (on a terminal or not), or `--json` with each event's payload as received; the exit status says how it ended.
 */

import { createKindResolver, loadWithKind } from '../client/engine-adapter.js';
import { failureHint, loadEnding, type Failure } from '../client/failures.js';
import { formatBytes, formatDuration, percentDone } from '../client/format.js';
import { modelProblem, parseServerKind, unknownKindMessage } from '../client/server-kind.js';
import { DEFAULT_SERVER_URL, serviceRoot } from '../client/server-url.js';
import { subscribeLoad, type SubscribeLoadOptions } from '../client/load-subscription.js';
import { createWireTap } from '../client/wire-tap.js';
import type { LoadEvent } from '../protocol/events.js';
import { UsageError, parseCommand, parseDtypeFlag, parseHttpUrl } from './args.js';
import { helpFor } from './help-text.js';

export const LOAD_USAGE = `Usage: modeldeck load [--server URL] MODEL [--kind KIND] [--dtype LIST] [--json] [--api-key KEY]

Asks a server to load MODEL and follows its progress until the model is ready: POST /load_model on modeldeck
and \`transformers serve\`; a pull, then an empty generate on Ollama; POST /models/load and /models/sse on
llama.cpp's router; on vLLM and other OpenAI-compatible servers (which load no model on request) it waits for
GET /health and for MODEL in GET /v1/models.

Arguments:
  MODEL                org/name or org/name@revision; with --kind, the server's own name (qwen3:0.6b)

Options:
  --server URL         the server (default ${DEFAULT_SERVER_URL}); a URL ending in /v1 works too
  --dtype LIST         ONNX weights to load, in order of preference, e.g. q4,q8,fp32 (auto: the server's own
                       choice), sent as the request's "dtype": a modeldeck server loads the first the repository
                       has, or fails listing the variants there are. Default: none sent, the server chooses
  --kind KIND          modeldeck, transformers-serve, ollama, llamacpp or openai (vllm is openai); default:
                       detected from what the server answers
  --json               print each event's JSON payload as received, one per line, instead of progress lines
  --api-key KEY        sent as "Authorization: Bearer KEY" (default $MODELDECK_API_KEY)
  -h, --help           show this help

It asks once and does not reconnect: when the server cannot be reached, stops or closes the stream, it exits 1
with the reason and what to do on stderr. Running it again is always safe: a load already under way is joined, and
the files fetched are kept, so a download resumes.

Exit status: 0 when the model is ready; 1 when loading failed, the server could not be reached, or the stream
ended before ready (the message goes to stderr); 2 on a usage error; 3 when the load was cancelled on the server
(POST /unload_model or /reset, by any client; files already fetched are kept, so loading again resumes); 4 when the
server holds its --max-models models and none can be evicted to make room (MODELS_BUSY).`;

/** The exit status of each outcome a script may want to tell apart. */
export const LOAD_EXIT = { ready: 0, failed: 1, usage: 2, cancelled: 3, busy: 4 } as const;

/** Where `load` writes and what it reads; the process's own by default (tests pass their own). */
export interface LoadCommandIo {
  readonly stdout?: NodeJS.WritableStream;
  readonly stderr?: NodeJS.WritableStream;
  readonly env?: NodeJS.ProcessEnv;
  readonly fetch?: typeof fetch;
  /** Milliseconds since the epoch; injected for tests. */
  readonly now?: () => number;
}

/** Seconds between two progress lines of one stage (stage changes and completions are always printed), in ms. */
const PROGRESS_INTERVAL_MS = 1000;

/**
 * Decides which plain lines to print for a stream of events: every stage change, progress at most once a second per
 * stage plus the line where a stage completes, and the terminal event. Returns the line for `event`, or `null`.
 */
export function createProgressPrinter(now: () => number): (event: LoadEvent) => string | null {
  const started = now();
  let stage: string | null = null;
  let lastLineAt = 0;
  let lastLine = '';
  return (event) => {
    switch (event.status) {
      case 'loading': {
        const changed = event.stage !== stage;
        stage = event.stage;
        const p = event.progress;
        const complete = p !== undefined && p.total !== null && p.current >= p.total;
        const line = `${event.stage}${p ? ` ${progressText(event.stage, p)}` : ''}`;
        const due = now() - lastLineAt >= PROGRESS_INTERVAL_MS;
        if (line === lastLine || (!changed && !complete && !due)) return null;
        lastLineAt = now();
        lastLine = line;
        return line;
      }
      case 'ready':
        return event.cached
          ? `ready: ${event.model} (already in server memory)`
          : `ready: ${event.model} (in ${formatDuration(now() - started)})`;
      case 'error':
        return null;
      default: {
        const never: never = event;
        throw new TypeError(`unknown event ${JSON.stringify(never)}`);
      }
    }
  };
}

function progressText(stage: string, p: { current: number; total: number | null }): string {
  const percent = percentDone(p);
  const suffix = percent === null ? '' : ` (${percent}%)`;
  if (stage === 'download') {
    return p.total === null
      ? `${formatBytes(p.current)} (total unknown)`
      : `${formatBytes(p.current)} / ${formatBytes(p.total)}${suffix}`;
  }
  const unit = stage === 'weights' ? ' items' : '';
  return p.total === null ? `${p.current}${unit} (total unknown)` : `${p.current} / ${p.total}${unit}${suffix}`;
}

/** `modeldeck load`; resolves with the exit status (usage errors are thrown as {@link UsageError}, status 2). */
export function runLoadCommand(argv: readonly string[], io: LoadCommandIo = {}): Promise<number> {
  return runStreamCommand(argv, io, LOAD_COMMAND);
}

/** What tells `load` and `pull` apart: the name, the route, the words and the help. */
export interface StreamCommand {
  readonly name: 'load' | 'pull';
  readonly route: '/load_model' | '/pull_model';
  /** The line printed first (`loading`, `pulling`). */
  readonly doing: string;
  readonly usage: string;
}

/** The options `load` and `pull` take. */
const STREAM_OPTIONS = {
  server: { type: 'string' },
  json: { type: 'boolean' },
  'api-key': { type: 'string' },
  dtype: { type: 'string' },
  kind: { type: 'string' },
} as const;

const LOAD_COMMAND: StreamCommand = { name: 'load', route: '/load_model', doing: 'loading', usage: LOAD_USAGE };

/**
 * `load` or `pull`: POST the route, follow its event stream, and exit as it ended (usage errors are thrown as
 * {@link UsageError}, status 2).
 */
export async function runStreamCommand(
  argv: readonly string[],
  io: LoadCommandIo,
  command: StreamCommand,
): Promise<number> {
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  const env = io.env ?? process.env;
  const now = io.now ?? Date.now;
  const parsed = parseCommand(argv, STREAM_OPTIONS);
  if (parsed.help) {
    stdout.write(helpFor(command.usage, stdout));
    return 0;
  }
  const { values, positionals } = parsed;
  if (positionals.length !== 1) {
    throw new UsageError(
      positionals.length === 0
        ? `${command.name} needs a MODEL, like 'modeldeck ${command.name} --server ${DEFAULT_SERVER_URL} org/name'`
        : `${command.name} takes one MODEL, got ${positionals.length}: ${positionals.join(' ')}`,
    );
  }
  const model = positionals[0] as string;
  const kind = values.kind === undefined ? undefined : parseServerKind(values.kind);
  if (values.kind !== undefined && kind === undefined)
    throw new UsageError(`--kind: ${unknownKindMessage(values.kind)}`);
  const problem = modelProblem(model, kind);
  if (problem !== undefined) throw new UsageError(problem);
  const server = parseHttpUrl(values.server ?? DEFAULT_SERVER_URL, '--server');
  const apiKey = values['api-key'] ?? (env['MODELDECK_API_KEY'] || undefined);
  if (apiKey !== undefined && !/^[\x21-\x7e]+$/.test(apiKey)) {
    throw new UsageError('the API key must be printable ASCII without spaces (it travels in an HTTP header)');
  }
  const dtype = values.dtype === undefined ? undefined : parseDtypeFlag(values.dtype);
  const json = values.json ?? false;
  const printer = createProgressPrinter(now);

  if (!json) stdout.write(`${command.doing} ${model} on ${serviceRoot(server)}\n`);
  // The client's one way out, as in the dashboard; there is no journal here, so it records into nothing.
  const tapped = createWireTap(io.fetch ? { fetch: io.fetch } : {}).taggedFetch(command.name);
  const resolver = createKindResolver({
    server,
    apiKey,
    kind,
    fetch: tapped,
    // A server that speaks /load_model prints what it always did; another kind is named, so a script's log says
    // whose routes were used.
    onFrame: (frame) => {
      if (!json && !/^server kind: (modeldeck|transformers-serve) /.test(frame.raw)) stdout.write(`${frame.raw}\n`);
    },
  });
  const request: SubscribeLoadOptions = {
    server,
    model,
    route: command.route,
    apiKey,
    ...(dtype === undefined ? {} : { dtype }),
    fetch: tapped,
    onFrame: (frame) => {
      if (!json || frame.kind !== 'data') return;
      stdout.write(`${oneLine(frame.raw)}\n`);
    },
    onEvent: (event) => {
      if (json) return;
      const line = printer(event);
      // A pull's ready means the files are on disk, not that the model is in memory.
      const said = command.name === 'pull' && line?.startsWith('ready: ') ? `on disk: ${line.slice(7)}` : line;
      if (said !== null) stdout.write(`${said}\n`);
    },
  };
  // A pull (download only) is modeldeck's own route: other kinds of server are not asked it.
  const outcome = command.name === 'pull' ? await subscribeLoad(request) : await loadWithKind(resolver, request);
  if (outcome.ok) return LOAD_EXIT.ready;
  return reportFailure(outcome.failure, stderr);
}

/** Writes why the load failed, with advice for a shell (flags and exit statuses), and returns its exit status. */
function reportFailure(failure: Failure, stderr: NodeJS.WritableStream): number {
  // Never the dashboard's keys or its reconnecting: this tries once.
  const hint = failureHint(failure, 'shell');
  const ending = loadEnding(failure);
  stderr.write(`modeldeck: ${ending.words}: ${failure.message}${hint === '' ? '' : ` (${hint})`}\n`);
  return ending.status;
}

/** A payload on one line: multi-line JSON is re-serialised compactly; anything else has its line breaks escaped. */
function oneLine(raw: string): string {
  if (!/[\r\n]/.test(raw)) return raw;
  try {
    return JSON.stringify(JSON.parse(raw));
  } catch {
    return raw.replace(/\r?\n|\r/g, '\\n');
  }
}
