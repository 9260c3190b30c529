/** `modeldeck pull`: a model's files onto a server's disk, without loading it (`POST /pull_model`). */

import { DEFAULT_SERVER_URL } from '../client/server-url.js';
import { runStreamCommand, type LoadCommandIo } from './load.js';

export const PULL_USAGE = `Usage: modeldeck pull [--server URL] MODEL [--dtype LIST] [--json] [--api-key KEY]

Asks a modeldeck server to download MODEL into its disk cache without loading it into memory
(POST /pull_model) and follows the download's progress, as 'modeldeck load' follows a load.

Arguments:
  MODEL                org/name or org/name@revision

Options:
  --server URL         the server (default ${DEFAULT_SERVER_URL}); a URL ending in /v1 works too
  --dtype LIST         ONNX weights to fetch, in order of preference, e.g. q4,q8,fp32 (as load's --dtype)
  --json               print each event's JSON payload as received, one per line, instead of progress lines
  --api-key KEY        sent as "Authorization: Bearer KEY" (default $MODELDECK_API_KEY)
  -h, --help           show this help

Exit status: 0 when the files are on disk; 1 when the pull failed, the server could not be reached, or the
stream ended early (the message goes to stderr); 2 on a usage error.`;

/** `modeldeck pull`; resolves with the exit status. */
export function runPullCommand(argv: readonly string[], io: LoadCommandIo = {}): Promise<number> {
  return runStreamCommand(argv, io, { name: 'pull', route: '/pull_model', doing: 'pulling', usage: PULL_USAGE });
}
