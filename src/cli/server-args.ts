/** The options `ps`, `pull`, `rm` and `unload` share: which server, with which key, as JSON or not. */

import { DEFAULT_SERVER_URL } from '../client/server-url.js';
import { parseModelId } from '../protocol/model-id.js';
import { UsageError, parseHttpUrl } from './args.js';

/** The `parseCommand` options every admin command takes. */
export const SERVER_OPTIONS = {
  server: { type: 'string' },
  'api-key': { type: 'string' },
  json: { type: 'boolean' },
} as const;

/** The `--help` lines of {@link SERVER_OPTIONS}. */
export const SERVER_OPTIONS_HELP = `  --server URL         the server (default ${DEFAULT_SERVER_URL}); a URL ending in /v1 works too
  --api-key KEY        sent as "Authorization: Bearer KEY" (default $MODELDECK_API_KEY)
  --json               print the server's answer as JSON instead of words
  -h, --help           show this help`;

/** The server's URL, checked. */
export function serverOf(value: string | undefined): string {
  return parseHttpUrl(value ?? DEFAULT_SERVER_URL, '--server');
}

/** `--api-key`, else `MODELDECK_API_KEY`; refused when it could not travel in a header. */
export function apiKeyOf(value: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  const apiKey = value ?? (env['MODELDECK_API_KEY'] || undefined);
  if (apiKey !== undefined && !/^[\x21-\x7e]+$/.test(apiKey)) {
    throw new UsageError('the API key must be printable ASCII without spaces (it travels in an HTTP header)');
  }
  return apiKey;
}

/** The one MODEL argument of `name`, checked as the wire checks it. */
export function modelArgument(name: string, positionals: readonly string[]): string {
  if (positionals.length !== 1) {
    throw new UsageError(
      positionals.length === 0
        ? `${name} needs a MODEL, like 'modeldeck ${name} org/name'`
        : `${name} takes one MODEL, got ${positionals.length}: ${positionals.join(' ')}`,
    );
  }
  const model = positionals[0] as string;
  const checked = parseModelId(model);
  if (!checked.ok) throw new UsageError(checked.message);
  return model;
}
