/**
 * `modeldeck unload MODEL` (`POST /unload_model`: out of memory, or its load cancelled) and `modeldeck rm MODEL`
 * (`POST /delete_model`: out of a modeldeck server's disk cache, as `hf cache` deletes). One request each; the exit
 * status says how it went.
 */

import { failureHint } from '../client/failures.js';
import { formatBytes } from '../client/format.js';
import { deleteCachedModel, unloadModel } from '../client/model-admin.js';
import { serviceRoot } from '../client/server-url.js';
import { parseCommand } from './args.js';
import type { LoadCommandIo } from './load.js';
import { SERVER_OPTIONS, SERVER_OPTIONS_HELP, apiKeyOf, modelArgument, serverOf } from './server-args.js';
import { helpFor } from './help-text.js';

export const UNLOAD_USAGE = `Usage: modeldeck unload [--server URL] MODEL [--json] [--api-key KEY]

Asks a server to unload MODEL from memory (POST /unload_model); a model still loading has its load
cancelled. Its files stay on disk.

Options:
${SERVER_OPTIONS_HELP}

Exit status: 0 when unloaded (or cancelled); 1 when the server refused (not loaded, replies under way)
or could not be reached (the message goes to stderr); 2 on a usage error.`;

export const RM_USAGE = `Usage: modeldeck rm [--server URL] MODEL [--json] [--api-key KEY]

Asks a modeldeck server to delete MODEL (org/name[@revision]) from its disk cache (POST /delete_model), as
huggingface_hub's 'hf cache' deletes: the revision's snapshot, the refs naming its commit, then the files no
other revision uses. Refused while the model is in memory or loading: 'modeldeck unload' it first.

Options:
${SERVER_OPTIONS_HELP}

Exit status: 0 when deleted; 1 when the server refused (in use, not in the cache) or could not be
reached (the message goes to stderr); 2 on a usage error.`;

/** `modeldeck unload`; resolves with the exit status. */
export function runUnloadCommand(argv: readonly string[], io: LoadCommandIo = {}): Promise<number> {
  return runModelCommand(argv, io, 'unload');
}

/** `modeldeck rm`; resolves with the exit status. */
export function runRmCommand(argv: readonly string[], io: LoadCommandIo = {}): Promise<number> {
  return runModelCommand(argv, io, 'rm');
}

async function runModelCommand(argv: readonly string[], io: LoadCommandIo, name: 'unload' | 'rm'): Promise<number> {
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  const parsed = parseCommand(argv, SERVER_OPTIONS);
  if (parsed.help) {
    stdout.write(helpFor(name === 'rm' ? RM_USAGE : UNLOAD_USAGE, stdout));
    return 0;
  }
  const model = modelArgument(name, parsed.positionals);
  const server = serverOf(parsed.values.server);
  const apiKey = apiKeyOf(parsed.values['api-key'], io.env ?? process.env);
  const ask = name === 'rm' ? deleteCachedModel : unloadModel;
  const outcome = await ask({ server, model, apiKey, ...(io.fetch ? { fetch: io.fetch } : {}) });
  if (!outcome.ok) {
    const hint = failureHint(outcome.failure, 'shell');
    stderr.write(`modeldeck: ${name} ${model} failed: ${outcome.failure.message}${hint ? ` (${hint})` : ''}\n`);
    return 1;
  }
  if (parsed.values.json === true) {
    stdout.write(`${outcome.value.trim()}\n`);
    return 0;
  }
  stdout.write(`${sayDone(name, model, outcome.value)} on ${serviceRoot(server)}\n`);
  return 0;
}

/** The answer in words: `unloaded org/x`, `cancelled the load of org/x`, `deleted org/x (1.1 MB freed)`. */
function sayDone(name: 'unload' | 'rm', model: string, body: string): string {
  let answer: { status?: unknown; freed_bytes?: unknown; repo_removed?: unknown } = {};
  try {
    answer = JSON.parse(body) as typeof answer;
  } catch {
    // Another server's plain answer: the request succeeded, which is all the words need.
  }
  if (name === 'unload') return answer.status === 'cancelled' ? `cancelled the load of ${model}` : `unloaded ${model}`;
  const freed = typeof answer.freed_bytes === 'number' ? `, ${formatBytes(answer.freed_bytes)} freed` : '';
  return `deleted ${model} from the cache${freed}${answer.repo_removed === true ? ', the repository with it' : ''}`;
}
