/** `modeldeck ps`: what each server holds: resident, loading, queued and cached models, sizes, expiries. */

import { failureHint } from '../client/failures.js';
import { formatBytes } from '../client/format.js';
import { readServerStatus, type ServerStatus, type StatusModel } from '../client/server-status.js';
import { DEFAULT_SERVER_URL } from '../client/server-url.js';
import { UsageError, parseCommand } from './args.js';
import type { LoadCommandIo } from './load.js';
import { apiKeyOf, serverOf } from './server-args.js';
import { helpFor } from './help-text.js';

export const PS_USAGE = `Usage: modeldeck ps [--server URL ...] [--json] [--api-key KEY]

Lists what each server holds: its models resident in memory, loading, queued, being pulled onto its disk
(modeldeck pull) and only on disk, with
their sizes and when each resident model will be unloaded, and the bytes its disk cache holds.
Reading the list is never use: no model stays in memory longer for it.

Options:
  --server URL         a server (default ${DEFAULT_SERVER_URL}); repeat for more servers
  --api-key KEY        sent as "Authorization: Bearer KEY" (default $MODELDECK_API_KEY); a watch key will do
  --json               print {"servers": [{server, kind, models: [{model, state, size_bytes, stage,
                       expires_at, active_requests}], cache_bytes}]} instead of tables
  -h, --help           show this help

Exit status: 0 when every server answered; 1 when one could not be reached or refused (the message goes
to stderr; the others are still listed); 2 on a usage error.`;

/** `modeldeck ps`; resolves with the exit status. */
export async function runPsCommand(argv: readonly string[], io: LoadCommandIo = {}): Promise<number> {
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  const now = io.now ?? Date.now;
  const parsed = parseCommand(argv, {
    server: { type: 'string', multiple: true },
    'api-key': { type: 'string' },
    json: { type: 'boolean' },
  });
  if (parsed.help) {
    stdout.write(helpFor(PS_USAGE, stdout));
    return 0;
  }
  if (parsed.positionals.length > 0)
    throw new UsageError(`ps takes no arguments, got '${parsed.positionals.join(' ')}'`);
  const servers = (parsed.values.server ?? [DEFAULT_SERVER_URL]).map(serverOf);
  const apiKey = apiKeyOf(parsed.values['api-key'], io.env ?? process.env);
  const answers = await Promise.all(
    servers.map((server) => readServerStatus({ server, apiKey, ...(io.fetch ? { fetch: io.fetch } : {}) })),
  );
  const listed: ServerStatus[] = [];
  let status = 0;
  answers.forEach((answer, i) => {
    if (answer.ok) return void listed.push(answer.value);
    const hint = failureHint(answer.failure, 'shell');
    stderr.write(`modeldeck: ps ${servers[i] ?? ''}: ${answer.failure.message}${hint ? ` (${hint})` : ''}\n`);
    status = 1;
  });
  if (parsed.values.json === true) stdout.write(`${JSON.stringify({ servers: listed })}\n`);
  else for (const server of listed) stdout.write(table(server, now()));
  return status;
}

const STATE_ORDER: Readonly<Record<StatusModel['state'], number>> = {
  resident: 0,
  loading: 1,
  queued: 2,
  pulling: 3,
  cached: 4,
  unknown: 5,
};

/** One server as a table a person reads. */
function table(server: ServerStatus, now: number): string {
  const cache = server.cache_bytes === null ? '' : ` (disk cache: ${formatBytes(server.cache_bytes)})`;
  const rows = [...server.models]
    .sort((a, b) => STATE_ORDER[a.state] - STATE_ORDER[b.state] || a.model.localeCompare(b.model))
    .map((m) => [
      m.model,
      m.stage !== undefined && (m.state === 'loading' || m.state === 'pulling') ? `${m.state} (${m.stage})` : m.state,
      m.size_bytes === null ? '-' : formatBytes(m.size_bytes),
      expires(m, now),
    ]);
  const all = [['MODEL', 'STATE', 'SIZE', 'UNLOADS'], ...rows];
  const widths = [0, 1, 2].map((c) => Math.max(...all.map((row) => (row[c] ?? '').length)));
  const lines = all.map((row) => row.map((cell, c) => (c < 3 ? cell.padEnd(widths[c] ?? 0) : cell)).join('  '));
  return `${server.server}${cache}\n${rows.length === 0 ? '  no models\n' : `${lines.map((l) => `  ${l}`).join('\n')}\n`}`;
}

/** `in 4m`, `never`, `while busy`, or `-` for a model not in memory. */
function expires(model: StatusModel, now: number): string {
  if (model.state !== 'resident') return '-';
  if (model.expires_at === undefined) return '?';
  if (model.expires_at === null) return (model.active_requests ?? 0) > 0 ? 'after its replies' : 'never';
  const ms = Date.parse(model.expires_at) - now;
  if (!(ms > 0)) return 'now';
  const minutes = Math.floor(ms / 60_000);
  if (minutes >= 60) return `in ${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
  return minutes > 0 ? `in ${minutes}m` : `in ${Math.ceil(ms / 1000)}s`;
}
