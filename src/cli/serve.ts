import { readFileSync } from 'node:fs';
import { homedir, totalmem } from 'node:os';
import { join } from 'node:path';
import { accessKeysOf, type GivenKey } from '../common/auth.js';
import { ListenError } from '../common/listen.js';
import { DEFAULT_DOWNLOAD_CONNECTIONS } from '../server/fetch/transfer.js';
import { defaultHubCacheDir } from '../server/fetch/model-cache.js';
import type { StartServerOptions } from '../server/start.js';
import type { ModelRef } from '../server/loader-types.js';
import { parseModelId } from '../protocol/model-id.js';
import { DEFAULT_HTTP_LIMITS } from '../server/http-limits.js';
import { DEFAULT_MAX_LOADS } from '../server/load-limiter.js';
import { DEFAULT_SHUTDOWN_GRACE_MS } from '../server/shutdown.js';
import { DEFAULT_GENERATION_TIMEOUT_MS, DEFAULT_MAX_QUEUE } from '../server/chat-routes.js';
import {
  UsageError,
  listenUsageError,
  parseCommand,
  parseBytes,
  parseCount,
  parseDtypeFlag,
  parseHttpUrl,
  parsePort,
  parseSeconds,
} from './args.js';
import { helpFor } from './help-text.js';

/** The public Hugging Face Hub, the default `--hub-url`. */
export const DEFAULT_HUB_URL = 'https://huggingface.co';

export const SERVE_USAGE = `Usage: modeldeck serve [options]

Runs the modeldeck server: POST /load_model streams loading progress as Server-Sent Events
(wire-compatible with \`transformers serve\`), GET /health answers {"status": "ok"} (liveness), GET /ready
answers 503 until every --preload and --pin model is resident, then 200 (readiness), GET /metrics
answers in the Prometheus text format.

Options:
  --host HOST          address to bind (default 127.0.0.1)
  --port PORT          port to listen on (default 8000; 0 picks a free port)
  --hub-url URL        Hugging Face Hub (or mirror) to download from
                       (default $HF_ENDPOINT, else ${DEFAULT_HUB_URL})
  --cache-dir DIR      the Hugging Face cache, shared with huggingface_hub and huggingface.js
                       (default $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub)
  --download-connections N
                       connections downloads use at once, over all files and models (default 8;
                       large files come in ranged parts over several of them)
  --offline            use only the local cache, never the hub (also HF_HUB_OFFLINE=1)
  --dtype LIST         ONNX weights variants to load, in order of preference, e.g. q4,q8,fp32: the first
                       a repository has wins; none there fails the load, unless the list ends with auto
                       (the default choice). Valid: fp32, fp16, q8, int8, uint8, q4, q4f16, bnb4, q2,
                       q2f16, q1, q1f16, auto. Default: the model's transformers.js_config.dtype, else the
                       first of q8, int8, uint8, q4, q4f16, bnb4, fp32, fp16 it has (skipping one 3 times
                       the size of another of its class). A load request's "dtype" replaces it
  --model-timeout SEC  unload a model after SEC seconds without use (default 300; 0 never); reading
                       /v1/models, /events or /metrics is not use. Each model's expires_at is in /v1/models
  --max-models N       keep at most N models in memory, loads under way included: a load beyond N
                       unloads the least recently used one that is not generating, else waits its turn
                       (stage "queued") while the others load or generate; it fails with MODELS_BUSY
                       when every model has been generating replies for 10 s, or when 32 loads already
                       wait (default 0: no limit)
  --api-key KEY        the full key: require "Authorization: Bearer KEY" on every route but /health
                       (default $MODELDECK_API_KEY; prefer the variable: flags show up in ps)
  --watch-key KEY      a key that may only read: GET /v1/models, /events, /metrics (and /health); every
                       other route answers it 403 PERMISSION_DENIED. Repeat for more keys; needs
                       --api-key (default $MODELDECK_WATCH_KEYS, comma-separated)
  --log-level LEVEL    fatal, error, warn, info, debug or silent (default info; logs go to stderr)
  --request-timeout SEC
                       a request's headers (within 10 s) and body must arrive within SEC seconds, else
                       408 and the connection is closed; a response once begun (a stream) is not limited
                       (default 30; 0 never)
  --keep-alive-timeout SEC
                       close a connection idle between requests after SEC seconds (default 5)
  --max-loads N        loads running at once; more wait their turn, first come first served, told
                       where they stand (stage "queued") (default 2; 0 no cap)
  --generation-timeout SEC
                       end a chat reply still running after SEC seconds (waiting for the model included)
                       with GENERATION_TIMEOUT (default 120; 0 never). A prompt whose tokens plus max_tokens
                       exceed the model's context is refused with 400 CONTEXT_LENGTH_EXCEEDED
  --max-queue N        chat requests of one model generating or waiting at once; replies are generated one
                       at a time, first come first served, and one more request gets 429 QUEUE_FULL
                       with Retry-After (default 16; 0 no cap)
  --shutdown-timeout SEC
                       on SIGINT/SIGTERM, replies under way get SEC seconds to finish (default 10); load
                       streams get their ABORTED event and waiting chats a 503 at once
  --max-connections N  connections open at once; past N the oldest connection doing nothing is closed to
                       make room, and when all N are busy a request gets 503 TOO_MANY_CONNECTIONS (but
                       /health and clients with the API key) and its connection is closed; past 2N new
                       connections are closed at once (default 1000; keep 2N under the descriptor limit,
                       ulimit -n; 0 no cap)
  --max-memory BYTES   the weights the resident models may hold together (e.g. 8G): a load is admitted
                       only if its weights (their files' sizes for the dtype chosen, known from the listing
                       before any download) fit beside them, evicting idle models first; otherwise it fails
                       with MEMORY_BUDGET_EXCEEDED before its first weight byte ({"force": true} loads
                       anyway) (default: half of this machine's memory, so that models loaded one after
                       another never swap it; 0 no budget)
  --preload ID         load model ID (org/name[@revision]) as soon as the server listens; GET /ready
                       answers 503 with Retry-After until it is resident (a failed load is tried again,
                       every 5 s doubling to 5 min). Repeat for more models
  --pin ID             as --preload, and never unload ID for idleness nor evict it for --max-models
                       (/unload_model and /reset still do). Repeat for more models
  -h, --help           show this help

Environment:
  HF_TOKEN             token sent to the hub for gated or private models
                       (else the token file $HF_HOME/token, as huggingface-cli writes it)
  HF_ENDPOINT, HF_HUB_CACHE, HF_HOME, HF_HUB_OFFLINE, MODELDECK_API_KEY, MODELDECK_WATCH_KEYS   as above

Without an API key the server should stay on loopback; binding another address without one prints a warning.
Keys are printable ASCII without spaces; an empty key, a watch key that is also the full key, or watch
keys without a full key are refused at start (exit 2). No key is ever logged or sent back.

On start it prints one line, "modeldeck server listening on http://HOST:PORT", which scripts can read.
SIGINT or SIGTERM stop it cleanly.`;

/** Everything `serve` needs, resolved from flags, then the environment, then defaults. */
export interface ServeConfig {
  readonly host: string;
  readonly port: number;
  readonly hubUrl: string;
  readonly cacheDir: string;
  /** Connections downloads use at once. */
  readonly downloadConnections: number;
  readonly offline: boolean;
  readonly token: string | undefined;
  /** Where the token came from: `HF_TOKEN` or `the token file PATH`; for error messages. */
  readonly tokenSource: string | undefined;
  /** The `--dtype` preference list. */
  readonly dtype: readonly string[] | undefined;
  readonly logLevel: string;
  /** Idle seconds before a resident model is unloaded; 0 never. */
  readonly modelTimeout: number;
  /** The most models resident at once; 0 no limit. */
  readonly maxModels: number;
  /** The full key (`--api-key`), which opens every route. */
  readonly apiKey: string | undefined;
  /** Keys that open only the reading routes (`--watch-key`); empty for none. */
  readonly watchKeys: readonly string[];
  /** Seconds for a request's headers and body to arrive; 0 never. */
  readonly requestTimeout: number;
  /** Seconds an idle keep-alive connection is kept. */
  readonly keepAliveTimeout: number;
  /** Connections open at once; 0 no cap. */
  readonly maxConnections: number;
  /** Loads running at once; 0 no cap. */
  readonly maxLoads: number;
  /** Seconds a chat reply may run; 0 never. */
  readonly generationTimeout: number;
  /** Chat requests of one model generating or waiting at once; 0 no cap. */
  readonly maxQueue: number;
  /** Seconds replies under way get to finish when the server stops. */
  readonly shutdownTimeout: number;
  /** Models loaded at start (`--preload`); `GET /ready` answers 503 until they are resident. */
  readonly preload: readonly ModelRef[];
  /** Models loaded at start and never unloaded for idleness nor evicted (`--pin`). */
  readonly pin: readonly ModelRef[];
  /** Bytes of weights the resident models may hold together (`--max-memory`); 0 none. */
  readonly maxMemory: number;
}

const LOG_LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/** The Hugging Face home: `$HF_HOME`, else `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`. */
export function hfHome(env: NodeJS.ProcessEnv): string {
  if (env['HF_HOME']) return env['HF_HOME'];
  return join(env['XDG_CACHE_HOME'] || join(homedir(), '.cache'), 'huggingface');
}

function truthy(value: string | undefined): boolean {
  return value !== undefined && /^(1|true|yes|on)$/i.test(value.trim());
}

/** The hub token: `HF_TOKEN`, else the token file huggingface-cli writes; with where it came from. */
function tokenOf(env: NodeJS.ProcessEnv, file: string): { token: string | undefined; tokenSource: string | undefined } {
  const fromEnv = env['HF_TOKEN'];
  if (fromEnv) return { token: fromEnv, tokenSource: 'HF_TOKEN' };
  const fromFile = readTokenFile(file);
  return { token: fromFile, tokenSource: fromFile === undefined ? undefined : `the token file ${file}` };
}

function readTokenFile(path: string): string | undefined {
  try {
    const token = readFileSync(path, 'utf8').trim();
    return token || undefined;
  } catch {
    return undefined;
  }
}

/** Parses `serve`'s argv against `env`. Throws {@link UsageError}; returns null when help was asked for. */
export function resolveServeConfig(argv: readonly string[], env: NodeJS.ProcessEnv): ServeConfig | null {
  const parsed = parseCommand(argv, {
    host: { type: 'string' },
    port: { type: 'string' },
    'hub-url': { type: 'string' },
    'cache-dir': { type: 'string' },
    'download-connections': { type: 'string' },
    offline: { type: 'boolean' },
    dtype: { type: 'string' },
    'log-level': { type: 'string' },
    'model-timeout': { type: 'string' },
    'max-models': { type: 'string' },
    'api-key': { type: 'string' },
    'watch-key': { type: 'string', multiple: true },
    'request-timeout': { type: 'string' },
    'keep-alive-timeout': { type: 'string' },
    'max-connections': { type: 'string' },
    'max-loads': { type: 'string' },
    'shutdown-timeout': { type: 'string' },
    'generation-timeout': { type: 'string' },
    'max-queue': { type: 'string' },
    preload: { type: 'string', multiple: true },
    pin: { type: 'string', multiple: true },
    'max-memory': { type: 'string' },
  });
  if (parsed.help) return null;
  const { values, positionals } = parsed;
  if (positionals.length > 0) throw new UsageError(`serve takes no arguments, got '${positionals.join(' ')}'`);
  const host = values.host ?? '127.0.0.1';
  if (host.trim() === '') throw new UsageError('--host must not be empty');
  const logLevel = values['log-level'] ?? 'info';
  if (!LOG_LEVELS.has(logLevel)) {
    throw new UsageError(`--log-level must be one of ${[...LOG_LEVELS].join(', ')}, got '${logLevel}'`);
  }
  const home = hfHome(env);
  const hubFlag = values['hub-url'] ?? (env['HF_ENDPOINT'] || undefined);
  return {
    host,
    port: parsePort(values.port ?? '8000'),
    hubUrl:
      hubFlag === undefined ? DEFAULT_HUB_URL : parseHttpUrl(hubFlag, values['hub-url'] ? '--hub-url' : 'HF_ENDPOINT'),
    cacheDir: values['cache-dir'] ?? defaultHubCacheDir(env),
    downloadConnections: parseConnections(values['download-connections'] ?? String(DEFAULT_DOWNLOAD_CONNECTIONS)),
    offline: values.offline ?? truthy(env['HF_HUB_OFFLINE']),
    ...tokenOf(env, join(home, 'token')),
    dtype: values.dtype === undefined ? undefined : parseDtypeFlag(values.dtype),
    logLevel,
    modelTimeout: parseSeconds(values['model-timeout'] ?? '300', '--model-timeout'),
    maxModels: parseMaxModels(values['max-models'] ?? '0'),
    ...keysOf(values['api-key'], values['watch-key'], env),
    requestTimeout: parseSeconds(
      values['request-timeout'] ?? String(DEFAULT_HTTP_LIMITS.requestTimeoutMs / 1000),
      '--request-timeout',
    ),
    keepAliveTimeout: parseSeconds(
      values['keep-alive-timeout'] ?? String(DEFAULT_HTTP_LIMITS.keepAliveTimeoutMs / 1000),
      '--keep-alive-timeout',
    ),
    maxConnections: parseCount(
      values['max-connections'] ?? String(DEFAULT_HTTP_LIMITS.maxConnections),
      '--max-connections',
    ),
    maxLoads: parseCount(values['max-loads'] ?? String(DEFAULT_MAX_LOADS), '--max-loads'),
    generationTimeout: parseSeconds(
      values['generation-timeout'] ?? String(DEFAULT_GENERATION_TIMEOUT_MS / 1000),
      '--generation-timeout',
    ),
    maxQueue: parseCount(values['max-queue'] ?? String(DEFAULT_MAX_QUEUE), '--max-queue'),
    shutdownTimeout: parseSeconds(
      values['shutdown-timeout'] ?? String(DEFAULT_SHUTDOWN_GRACE_MS / 1000),
      '--shutdown-timeout',
    ),
    preload: (values.preload ?? []).map((id) => parseModelFlag(id, '--preload')),
    pin: (values.pin ?? []).map((id) => parseModelFlag(id, '--pin')),
    maxMemory:
      values['max-memory'] === undefined ? defaultMaxMemory() : parseBytes(values['max-memory'], '--max-memory'),
  };
}

/** A `--preload` or `--pin` model id, checked as the wire checks it. */
function parseModelFlag(value: string, flag: string): ModelRef {
  const parsed = parseModelId(value);
  if (!parsed.ok) throw new UsageError(`${flag}: ${parsed.message}`);
  return parsed.ref;
}

function parseMaxModels(value: string): number {
  if (!/^\d{1,6}$/.test(value.trim())) {
    throw new UsageError(`--max-models must be a whole number of models (0 for no limit), got '${value}'`);
  }
  return Number(value.trim());
}

const MAX_DOWNLOAD_CONNECTIONS = 64;

function parseConnections(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > MAX_DOWNLOAD_CONNECTIONS) {
    throw new UsageError(
      `--download-connections must be a whole number from 1 to ${MAX_DOWNLOAD_CONNECTIONS}, got '${text}'`,
    );
  }
  return n;
}

/**
 * The full key (`--api-key`, else `MODELDECK_API_KEY`) and the watch keys (every `--watch-key`, else
 * `MODELDECK_WATCH_KEYS`, comma-separated), each checked. @throws KeyError naming where a bad key came from.
 */
function keysOf(
  apiKey: string | undefined,
  watchFlags: readonly string[] | undefined,
  env: NodeJS.ProcessEnv,
): Pick<ServeConfig, 'apiKey' | 'watchKeys'> {
  const full: GivenKey | undefined =
    apiKey !== undefined
      ? { key: apiKey, source: '--api-key' }
      : env['MODELDECK_API_KEY']
        ? { key: env['MODELDECK_API_KEY'], source: 'MODELDECK_API_KEY' }
        : undefined;
  const watch: GivenKey[] =
    watchFlags !== undefined && watchFlags.length > 0
      ? watchFlags.map((key, i) => ({ key, source: watchFlags.length === 1 ? '--watch-key' : `--watch-key #${i + 1}` }))
      : watchKeysOfEnv(env['MODELDECK_WATCH_KEYS']);
  const keys = accessKeysOf(full, watch);
  return { apiKey: keys?.full, watchKeys: keys?.watch ?? [] };
}

/** `MODELDECK_WATCH_KEYS`: keys separated by commas, spaces around them ignored; unset or blank is none. */
function watchKeysOfEnv(value: string | undefined): GivenKey[] {
  if (value === undefined || value.trim() === '') return [];
  const entries = value.split(',');
  return entries.map((entry, i) => ({
    key: entry.trim(),
    source: entries.length === 1 ? 'MODELDECK_WATCH_KEYS' : `MODELDECK_WATCH_KEYS entry ${i + 1} of ${entries.length}`,
  }));
}

/** True for addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** What {@link startServer} (src/server/start.ts) is given for a resolved `serve` config. */
export function serverOptions(config: ServeConfig): StartServerOptions {
  return {
    host: config.host,
    port: config.port,
    loader: {
      hubUrl: config.hubUrl,
      cacheDir: config.cacheDir,
      downloadConnections: config.downloadConnections,
      offline: config.offline,
      ...(config.token ? { token: config.token } : {}),
      ...(config.token && config.tokenSource ? { tokenSource: config.tokenSource } : {}),
      ...(config.dtype === undefined ? {} : { dtype: config.dtype }),
    },
    idleTimeoutMs: config.modelTimeout * 1000,
    maxLoads: config.maxLoads,
    shutdownGraceMs: Math.round(config.shutdownTimeout * 1000),
    generationTimeoutMs: Math.round(config.generationTimeout * 1000),
    maxQueue: config.maxQueue,
    ...(config.maxModels > 0 ? { maxModels: config.maxModels } : {}),
    limits: {
      requestTimeoutMs: Math.round(config.requestTimeout * 1000),
      keepAliveTimeoutMs: Math.round(config.keepAliveTimeout * 1000),
      maxConnections: config.maxConnections,
    },
    ...(config.apiKey !== undefined ? { apiKey: config.apiKey } : {}),
    ...(config.watchKeys.length > 0 ? { watchKeys: config.watchKeys } : {}),
    ...(config.preload.length > 0 ? { preload: config.preload } : {}),
    ...(config.pin.length > 0 ? { pin: config.pin } : {}),
    ...(config.maxMemory > 0 ? { maxMemoryBytes: config.maxMemory } : {}),
    logger: { level: config.logLevel, stream: process.stderr },
  };
}

/** `modeldeck serve`: runs until SIGINT/SIGTERM; resolves with the exit status. */
export async function runServeCommand(argv: readonly string[]): Promise<number> {
  const config = resolveServeConfig(argv, process.env);
  if (!config) {
    process.stdout.write(helpFor(SERVE_USAGE, process.stdout));
    return 0;
  }
  if (config.apiKey === undefined && !isLoopback(config.host)) {
    process.stderr.write(
      `modeldeck: warning: listening on ${config.host} without an API key: anyone who can reach it can load models ` +
        'and chat; set MODELDECK_API_KEY (or --api-key)\n',
    );
  }
  // transformers.js and fastify load only when a server is started, not for --help or a bad command line.
  const { startServer } = await import('../server/start.js');
  const server = await startServer(serverOptions(config)).catch((error: unknown) => {
    throw error instanceof ListenError ? listenUsageError(error.code, error.host, error.port) : error;
  });
  // Listening for the signals before the line that tells a script the server is up: a script that reads the line and
  // stops the server at once (a test, a supervisor) sent its SIGTERM, on a busy host, before the handler was there,
  // and the server died of it instead of closing.
  const signalled = waitForSignal();
  process.stdout.write(`modeldeck server listening on ${server.url}\n`);
  await signalled;
  await server.close();
  return 0;
}

/** Resolves on the first SIGINT or SIGTERM; a second one exits at once. */
export function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.once('SIGINT', () => process.exit(130));
      process.once('SIGTERM', () => process.exit(143));
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

/**
 * `--max-memory`'s default: half of the machine's memory, in whole MiB. Without any budget, models asked for one
 * after another stay resident until the machine swaps (53 small models took 1.84 GB in a test of it); half leaves the
 * rest to the process itself, its generations and the system.
 */
export function defaultMaxMemory(total = totalmem()): number {
  const mib = 1024 * 1024;
  return Math.floor(total / 2 / mib) * mib;
}
