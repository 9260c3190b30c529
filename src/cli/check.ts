/**
 * `modeldeck check`: a conformance run against a `/load_model` server. The runner lives in src/client/check; this
 * file reads the command line and prints.
 */

import { formatCapabilities, runCapabilities } from '../client/check/capabilities.js';
import { runAccessCheck, runConformance } from '../client/check/conformance.js';
import { speaksLoadModel } from '../client/engine-adapter.js';
import { detectServerKind, modelProblem, parseServerKind, unknownKindMessage } from '../client/server-kind.js';
import { formatCheckJson, formatCheckTable } from '../client/check/report.js';
import { createWireTap } from '../client/wire-tap.js';
import { checkKey } from '../common/auth.js';
import { parseModelId } from '../protocol/model-id.js';
import { UsageError, parseCommand, parseHttpUrl, parseSeconds } from './args.js';
import { helpFor } from './help-text.js';

export const CHECK_USAGE = `Usage: modeldeck check URL --model MODEL [--api-key KEY] [--json] [--strict] [--unload]
       modeldeck check URL --access-only [--api-key KEY] [--json]
       modeldeck check URL [--model MODEL] [--kind KIND]     (Ollama, llama.cpp, vLLM / OpenAI-compatible)

Runs a conformance check against the /load_model server at URL (modeldeck, \`transformers serve\` or
another), with MODEL one it can load: a load (fresh when possible) read by the protocol lint, two
concurrent subscribers and a late joiner, a second load (cached: true), an unknown model (an error
event), bad requests (a 4xx with a JSON body), heartbeats, a streamed chat, /health and /v1/models.
Prints a table of pass / fail / n/a with the reason for each, then the lint's findings on each
stream, each rule once with how many times it fired.

A server that cannot be reached is one failing line (health), and nothing else is tried.

Then it asks which routes the key may use: each route with a GET, which changes nothing (a route
that takes POST answers 405 to a key that may use it, 403 to a watch key, 401 without a key the
server takes). With --api-key the report lists every route and whether the key may use it; the
checks a key may not run (a watch key cannot load) are n/a. A server that needs a key when none
was given, or that does not take the one given, fails in one line (access), never a pass, and
nothing else is tried.

If MODEL is already in server memory, check leaves it there: the load answers one frame and the
concurrency checks are n/a. With --unload it unloads it first (POST /unload_model) to watch a real
load, which unloads it for every client of the server; the report says so when it did.

A server that does not claim /load_model (its kind detected as the dashboard does, or named with
--kind: ollama, llamacpp, openai) gets a capabilities report instead: what the dashboard can do there
(load progress, chat, server view, unload, cancel, delete) and through which route, and what its
read-only routes answer now, with MODEL listed or not. Nothing is loaded, unloaded or chatted with.
Exit 1 when its routes do not answer, or MODEL is not there on a server that cannot load it.

Arguments:
  URL                  the server's base URL (a URL ending in /v1 works too)

Options:
  --model MODEL        org/name or org/name@revision (required)
  --api-key KEY        sent as "Authorization: Bearer KEY" (default $MODELDECK_API_KEY)
  --access-only        only ask which routes the key may use: no model is loaded, unloaded or
                       chatted with, and --model is not needed
  --json               print the report as JSON instead of a table
  --strict             hold the server to modeldeck's own promises too (a fixed download total,
                       heartbeats, the late joiner's state, [DONE]); by default upstream's known
                       differences are notes or n/a
  --heartbeat SEC      the heartbeat interval the server promises (default 5)
  --timeout SEC        longest wait for one answer (default 300: a first load may download)
  --unload             when MODEL is already in server memory, unload it first to watch a real
                       load (for every client of the server: ask its other users first)
  --keep-resident      leave MODEL in server memory (the default; kept for older scripts)
  --kind KIND          the server's kind, instead of detecting it: modeldeck, transformers-serve,
                       ollama, llamacpp or openai (vllm is openai)
  -h, --help           show this help

Exit status: 0 when no check failed; 1 when one did (or the server could not be reached); 2 on a
usage error.`;

/** Where `check` writes and what it reads; the process's own by default (tests pass their own). */
export interface CheckCommandIo {
  readonly stdout?: NodeJS.WritableStream;
  readonly env?: NodeJS.ProcessEnv;
}

/** `modeldeck check`; resolves with the exit status (usage errors are thrown as {@link UsageError}, status 2). */
export async function runCheckCommand(argv: readonly string[], io: CheckCommandIo = {}): Promise<number> {
  const stdout = io.stdout ?? process.stdout;
  const env = io.env ?? process.env;
  const parsed = parseCommand(argv, {
    model: { type: 'string' },
    'api-key': { type: 'string' },
    json: { type: 'boolean' },
    strict: { type: 'boolean' },
    heartbeat: { type: 'string' },
    timeout: { type: 'string' },
    'keep-resident': { type: 'boolean' },
    unload: { type: 'boolean' },
    'access-only': { type: 'boolean' },
    kind: { type: 'string' },
  });
  if (parsed.help) {
    stdout.write(helpFor(CHECK_USAGE, stdout));
    return 0;
  }
  const { values, positionals } = parsed;
  if (positionals.length !== 1) {
    throw new UsageError(
      positionals.length === 0
        ? "check needs a URL, like 'modeldeck check http://127.0.0.1:8000 --model org/name'"
        : `check takes one URL, got ${positionals.length}: ${positionals.join(' ')}`,
    );
  }
  const server = parseHttpUrl(positionals[0] as string, 'URL');
  const apiKey = apiKeyOf(values['api-key'], env);
  // The client's one way out, as in the dashboard; there is no journal here, so it records into nothing.
  const tapped = createWireTap().taggedFetch('check');
  const timeout = values.timeout === undefined ? 300 : parseSeconds(values.timeout, '--timeout');
  if (timeout === 0) throw new UsageError('--timeout must be more than 0 seconds');
  if (values.unload && values['keep-resident']) {
    throw new UsageError('--unload and --keep-resident contradict each other: give one (keeping is the default)');
  }
  if (values['access-only']) {
    if (values.model !== undefined) throw new UsageError('--access-only loads no model: leave out --model');
    if (values.unload) throw new UsageError('--access-only unloads nothing: leave out --unload');
    const report = await runAccessCheck({ server, apiKey, timeoutMs: timeout * 1000, fetch: tapped });
    stdout.write(values.json ? formatCheckJson(report) : formatCheckTable(report));
    return report.ok ? 0 : 1;
  }
  const kind = values.kind === undefined ? undefined : parseServerKind(values.kind);
  if (values.kind !== undefined && kind === undefined)
    throw new UsageError(`--kind: ${unknownKindMessage(values.kind)}`);
  const found =
    kind === undefined
      ? await detectServerKind({ server, apiKey, fetch: tapped })
      : { ok: true as const, kind, because: 'as given' };
  if (found.ok && !speaksLoadModel(found.kind)) {
    const problem = values.model === undefined ? undefined : modelProblem(values.model, found.kind);
    if (problem !== undefined) throw new UsageError(`--model: ${problem}`);
    const report = await runCapabilities({
      server,
      kind: found.kind as Exclude<typeof found.kind, 'modeldeck' | 'transformers-serve'>,
      because: found.because,
      model: values.model,
      apiKey,
      fetch: tapped,
    });
    stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : formatCapabilities(report));
    return report.ok ? 0 : 1;
  }
  if (values.model === undefined) {
    throw new UsageError('check needs --model MODEL, a model the server can load (or --access-only)');
  }
  const checked = parseModelId(values.model);
  if (!checked.ok) throw new UsageError(`--model: ${checked.message}`);
  const heartbeat = values.heartbeat === undefined ? 5 : parseSeconds(values.heartbeat, '--heartbeat');
  if (heartbeat === 0) throw new UsageError('--heartbeat must be more than 0 seconds');

  const report = await runConformance({
    server,
    model: values.model,
    apiKey,
    strict: values.strict ?? false,
    heartbeatMs: heartbeat * 1000,
    timeoutMs: timeout * 1000,
    unload: values.unload ?? false,
    fetch: tapped,
  });
  stdout.write(values.json ? formatCheckJson(report) : formatCheckTable(report));
  return report.ok ? 0 : 1;
}

/** The key to send: `--api-key`, else `MODELDECK_API_KEY` (an empty variable is none), checked as the server checks its own. */
function apiKeyOf(flag: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  if (flag !== undefined) return checkKey({ key: flag, source: '--api-key' });
  const fromEnv = env['MODELDECK_API_KEY'];
  return fromEnv ? checkKey({ key: fromEnv, source: 'MODELDECK_API_KEY' }) : undefined;
}
