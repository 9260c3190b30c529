/**
 * `modeldeck mirror DIR`: the command-line face of {@link startMirror}.
 */
import { resolve } from 'node:path';
import { listenErrorReason } from '../common/listen.js';
import { FAULT_SPEC_SYNTAX, FaultSpecError, parseFaultSpec, type MirrorFault } from '../mirror/faults.js';
import { MirrorError, startMirror, type EdgeCap, type MirrorAuth, type MirrorOptions } from '../mirror/mirror.js';
import { MAX_URL_TTL_SECONDS } from '../mirror/signed-url.js';
import { UsageError, listenUsageError, parseBytes, parseCommand, parsePort } from './args.js';
import { helpFor } from './help-text.js';

/** `modeldeck mirror --help`. */
export const MIRROR_USAGE = `Usage: modeldeck mirror DIR [options]

Serves DIR over HTTP in the Hugging Face Hub's URL layout, so Hub clients (transformers.js, huggingface_hub,
modeldeck serve --hub-url) can download from it instead of huggingface.co.

Layout of DIR:
  ORG/NAME/...            revision "main" of repository ORG/NAME
  ORG/NAME@REV/...        revision REV; write each "/" in REV as "--" (refs/pr/1 -> NAME@refs--pr--1)
  Names starting with "." are never listed or served.

Endpoints:
  GET|HEAD /ORG/NAME/resolve/REV/PATH                    a file (byte ranges, ETag, X-Repo-Commit)
  GET /api/models/ORG/NAME/tree/REV[/PATH][?recursive=true] the file listing (recursive=True and =1 too)
  GET /api/models/ORG/NAME[/revision/REV]                model info with sha and siblings
  POST /api/models/ORG/NAME/paths-info/REV               entries of the paths named in a form or JSON body
                                                         (paths, expand), as huggingface.js asks before a download

Options:
  --host HOST             address to bind (default 127.0.0.1)
  --port PORT             port to listen on (default 8001; 0 picks a free port)
  --throttle RATE         limit each response to RATE bytes per second: 500k, 5M, 1.5MiB, 2000000
                          (k/M/G are powers of 1000, KiB/MiB/GiB of 1024; default unlimited)
  --link-throttle RATE    limit all responses together to RATE bytes per second, as a link or a CDN
                          does (with --throttle 4M --link-throttle 32M: 4 MB/s a connection, 32 in all)
  --page-size N           list trees N entries a page, the rest behind Link: <...&cursor=...>; rel="next",
                          as the Hub does with 1000 a page (default: one page)
  --redirect-large        answer large (LFS) files with a 302 to a second origin, as the Hub's Xet bridge
                          redirects to its CDN: only the 302 carries X-Repo-Commit, X-Linked-Etag,
                          X-Linked-Size and X-Xet-Hash; its Location is signed and expires
                          (?Expires=...&Signature=...). The CDN answers the bytes (byte ranges too), 403 to an
                          expired, tampered or unsigned URL, 400 to a request that sends Authorization
  --cdn-port PORT         port of that second origin (default 0, a free port; printed on start)
  --xet-url-ttl SECONDS   lifetime of the signed CDN URLs, whole seconds from 1 to 604800 (default 3600, as
                          the Hub's); a short one makes a URL expire in the middle of a slow download
  --xet-edge-cap RATE     some CDN edges are slow, as some of the Hub's are: every response on one CDN
                          connection in N (--xet-edge-every) is limited to RATE bytes per second (500k, 1M)
  --xet-edge-every N      which connections land on a capped edge: the Nth, 2Nth, ... the CDN accepts
                          (default 4; 1 caps them all; needs --xet-edge-cap)
  --token TOKEN           require "Authorization: Bearer TOKEN" (401 without it, 403 with another)
  --user-token TOKEN[:REPO,...]
                          answer tokens as the Hub does (repeatable; not with --token): TOKEN is valid, and
                          may read the gated repositories REPO (globs; none named: every one). Any other token
                          is a 401 "Invalid credentials"; a missing repository is a 401 RepoNotFound without a
                          token, a 404 with a valid one
  --gated REPO            REPO (ORG/NAME, globs allowed; repeatable) is gated: 401 GatedRepo without a token,
                          403 GatedRepo with a valid one not granted to it
  --fault SPEC            inject a fault; repeatable. SPEC is ${FAULT_SPEC_SYNTAX}:
                            status:CODE:PATTERN      answer with HTTP status CODE (GET and HEAD)
                            reset:N:PATTERN          send N body bytes, then reset the connection
                            truncate:N:PATTERN       send N body bytes of a longer Content-Length, then close
                            stall:N:PATTERN          send N body bytes, then nothing, connection left open
                            flip:N:PATTERN           send the whole body with byte N inverted (corruption)
                          N of reset, truncate, stall and flip is an offset in the file: a ranged request
                          is hit only when its range holds it. A 429 sends Retry-After: 1 and RateLimit.
                          PATTERN is a repo-relative file path or glob (onnx/*, **/*.json; no ":"), or a
                          URL path glob starting with "/" (/api/models/**). REPO (ORG/NAME) limits it to one
                          repository; xTIMES fires it for the first TIMES matching requests only.
                          Examples: status:503:onnx/*:x2   reset:1000:org/tiny:onnx/model.onnx
  --quiet                 do not log each request to stderr
  -h, --help              show this help

On start it prints one line, "modeldeck mirror listening on http://HOST:PORT (serving DIR)", which scripts can
read (with --redirect-large a second: "modeldeck mirror redirects large files to http://HOST:PORT"). SIGINT or SIGTERM stop it cleanly.`;

/** Where the command writes, and what else may stop it besides SIGINT/SIGTERM; for tests and embedding. */
export interface MirrorCommandIo {
  readonly stdout?: { write(text: string): unknown };
  readonly stderr?: { write(text: string): unknown };
  /** Aborting it stops the mirror like a signal does. */
  readonly signal?: AbortSignal;
}

/** Default port of `modeldeck mirror` (the modeldeck server defaults to 8000). */
export const DEFAULT_MIRROR_PORT = 8001;

/** The options `modeldeck mirror` takes. */
const MIRROR_OPTIONS = {
  host: { type: 'string' },
  port: { type: 'string' },
  throttle: { type: 'string' },
  'link-throttle': { type: 'string' },
  token: { type: 'string' },
  'page-size': { type: 'string' },
  'user-token': { type: 'string', multiple: true },
  gated: { type: 'string', multiple: true },
  'redirect-large': { type: 'boolean' },
  'cdn-port': { type: 'string' },
  'xet-url-ttl': { type: 'string' },
  'xet-edge-cap': { type: 'string' },
  'xet-edge-every': { type: 'string' },
  fault: { type: 'string', multiple: true },
  quiet: { type: 'boolean' },
} as const;

/**
 * `modeldeck mirror DIR [options]`, `argv` being the arguments after `mirror`. Runs until SIGINT, SIGTERM or
 * `io.signal`, then resolves with 0; resolves with 2 (after a message on stderr) for a bad command line, a missing
 * DIR or a port that cannot be bound.
 */
export async function runMirrorCommand(argv: readonly string[], io: MirrorCommandIo = {}): Promise<number> {
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  try {
    const parsed = parseCommand(argv, MIRROR_OPTIONS);
    if (parsed.help) {
      stdout.write(helpFor(MIRROR_USAGE, stdout));
      return 0;
    }
    const { values, positionals } = parsed;
    if (positionals.length === 0) throw new UsageError('missing DIR, the directory to serve (see --help)');
    if (positionals.length > 1)
      throw new UsageError(`mirror serves one DIR, got ${positionals.length}: ${positionals.join(' ')}`);
    const dir = resolve(positionals[0] as string);
    const host = values.host ?? '127.0.0.1';
    if (host.trim() === '') throw new UsageError('--host must not be empty');
    if (values.token !== undefined && values.token === '') throw new UsageError('--token must not be empty');
    const auth = authOf(values['user-token'] ?? [], values.gated ?? []);
    if (auth !== undefined && values.token !== undefined)
      throw new UsageError('--token and --user-token/--gated do not mix: use --user-token TOKEN');
    for (const flag of ['cdn-port', 'xet-url-ttl', 'xet-edge-cap'] as const) {
      if (values[flag] !== undefined && values['redirect-large'] !== true)
        throw new UsageError(`--${flag} needs --redirect-large`);
    }
    const bridge = bridgeOf(values['xet-url-ttl'], values['xet-edge-cap'], values['xet-edge-every']);
    const faults: MirrorFault[] = [];
    for (const spec of values.fault ?? []) {
      try {
        faults.push(parseFaultSpec(spec));
      } catch (error) {
        if (error instanceof FaultSpecError) throw new UsageError(error.message);
        throw error;
      }
    }

    const mirror = await startMirror({
      root: dir,
      host,
      port: parsePort(values.port ?? String(DEFAULT_MIRROR_PORT)),
      throttle: values.throttle === undefined ? 0 : parseBytes(values.throttle, '--throttle'),
      linkThrottle: values['link-throttle'] === undefined ? 0 : parseBytes(values['link-throttle'], '--link-throttle'),
      faults,
      ...(values['redirect-large'] === true
        ? { redirectLarge: { port: parsePort(values['cdn-port'] ?? '0', '--cdn-port') }, ...bridge }
        : {}),
      ...(values['page-size'] === undefined ? {} : { pageSize: parsePageSize(values['page-size']) }),
      ...(values.token === undefined ? {} : { requireToken: values.token }),
      ...(auth === undefined ? {} : { auth }),
      ...(values.quiet === true ? {} : { log: (line: string) => stderr.write(`${line}\n`) }),
    }).catch((error: unknown) => {
      throw asUsageError(error, host, values.port ?? String(DEFAULT_MIRROR_PORT), positionals[0] as string) ?? error;
    });
    // Listening for the signals before the lines a script waits for (see `serve`).
    const stopped = stopRequested(io.signal);
    stdout.write(`modeldeck mirror listening on ${mirror.url} (serving ${dir})\n`);
    if (mirror.cdnUrl !== undefined) stdout.write(`modeldeck mirror redirects large files to ${mirror.cdnUrl}\n`);
    await stopped;
    await mirror.close();
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      stderr.write(`modeldeck mirror: ${error.message}\n`);
      return error.exitStatus;
    }
    throw error;
  }
}

function authOf(userTokens: readonly string[], gated: readonly string[]): MirrorAuth | undefined {
  if (userTokens.length === 0 && gated.length === 0) return undefined;
  const tokens = userTokens.map((spec) => {
    const colon = spec.indexOf(':');
    const token = colon < 0 ? spec : spec.slice(0, colon);
    if (!/^[\x21-\x7e]+$/.test(token))
      throw new UsageError(`--user-token needs a token of printable characters, got '${spec}'`);
    if (colon < 0) return token;
    const grants = spec
      .slice(colon + 1)
      .split(',')
      .map((repo) => repo.trim());
    if (grants.some((repo) => !/^[^/\s]+\/[^/\s]+$/.test(repo)))
      throw new UsageError(`--user-token ${token}:… names repositories as ORG/NAME, got '${spec.slice(colon + 1)}'`);
    return { token, grants };
  });
  for (const repo of gated) {
    if (!/^[^/\s]+\/[^/\s]+$/.test(repo)) throw new UsageError(`--gated takes a repository ORG/NAME, got '${repo}'`);
  }
  return { tokens, gated };
}

/** The Xet bridge's flags: the signed URLs' lifetime and the capped edges. */
function bridgeOf(
  ttl: string | undefined,
  cap: string | undefined,
  every: string | undefined,
): Pick<MirrorOptions, 'urlTtl' | 'edgeCap'> {
  if (every !== undefined && cap === undefined) throw new UsageError('--xet-edge-every needs --xet-edge-cap');
  const bridge: { urlTtl?: number; edgeCap?: EdgeCap } = {};
  if (ttl !== undefined) {
    if (!/^\d{1,9}$/.test(ttl.trim()) || Number(ttl) < 1 || Number(ttl) > MAX_URL_TTL_SECONDS)
      throw new UsageError(
        `--xet-url-ttl must be a whole number of seconds from 1 to ${MAX_URL_TTL_SECONDS} (7 days), got '${ttl}'`,
      );
    bridge.urlTtl = Number(ttl);
  }
  if (cap !== undefined) {
    const bytesPerSecond = parseBytes(cap, '--xet-edge-cap');
    if (bytesPerSecond <= 0) throw new UsageError(`--xet-edge-cap must be more than 0 bytes per second, got '${cap}'`);
    if (every !== undefined && (!/^\d{1,9}$/.test(every.trim()) || Number(every) < 1))
      throw new UsageError(`--xet-edge-every must be a whole number of connections >= 1, got '${every}'`);
    bridge.edgeCap = { bytesPerSecond, ...(every === undefined ? {} : { every: Number(every) }) };
  }
  return bridge;
}

function parsePageSize(text: string): number {
  if (!/^\d{1,9}$/.test(text) || Number(text) < 1)
    throw new UsageError(`--page-size must be a whole number of entries >= 1, got '${text}'`);
  return Number(text);
}

/** Errors from starting that the user fixes on the command line. */
function asUsageError(error: unknown, host: string, port: string, dir: string): UsageError | undefined {
  if (error instanceof MirrorError && error.code === 'MD_MIRROR_ROOT')
    return new UsageError(`DIR '${dir}' is not a directory`);
  const reason = listenErrorReason(error);
  return reason === undefined ? undefined : listenUsageError(reason, host, port);
}

/** Resolves on the first SIGINT or SIGTERM, or when `signal` aborts; removes its listeners either way. */
function stopRequested(signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolveStop) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      signal?.removeEventListener('abort', stop);
      resolveStop();
    };
    if (signal?.aborted === true) {
      resolveStop();
      return;
    }
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    signal?.addEventListener('abort', stop);
  });
}
