/**
 * One server of the fleet benchmark, in its own process (a fleet's servers are other machines): the real modeldeck
 * server (`startServer`: `/load_model`, chat completions, `GET /events`, `/v1/models`) over a scripted loader, so the
 * dashboard meets the real wire at a fixed pace with no model behind it:
 *
 * - a load reports `processor`, `config`, then `download` progress every 100 ms (the server's coalescer passes 10 a
 *   second) for as long as the model's name says: `…-load{S}s-…` downloads for S seconds, then `weights`, then
 *   resident;
 * - a resident model streams one token every 50 ms (20 tokens/s) up to the request's `max_tokens`, and stops at
 *   once when the reply is cut.
 *
 * Prints nothing; answers `url` and `cpu` (ms used so far) over IPC (see `forkHelper`).
 */

import { startServer } from '../../dist/server/start.js';
import { serveParent, sleep } from './common.mjs';

const PROGRESS_MS = 100;
const TOKEN_MS = 50;
const BYTES = 500_000_000;

/** The scripted model: plain words, so a key the benchmark types is never among them. */
function scriptedModel(ref) {
  return {
    ref,
    weightBytes: BYTES,
    hasChatTemplate: true,
    async generate(_prompt, options, onText, signal) {
      let produced = 0;
      while (produced < options.maxTokens && signal?.aborted !== true) {
        await sleep(TOKEN_MS);
        if (signal?.aborted === true) break;
        onText(produced === 0 ? 'token' : ' token');
        produced += 1;
      }
      return {
        finishReason: produced >= options.maxTokens ? 'length' : 'stop',
        promptTokens: 8,
        completionTokens: produced,
      };
    },
    async measure() {
      return { promptTokens: 8, contextLength: 8192 };
    },
    dispose: async () => undefined,
  };
}

const loader = {
  async load(ref, onEvent, signal) {
    const seconds = Number(/-load(\d+(?:\.\d+)?)s/.exec(ref.id)?.[1] ?? 1);
    onEvent({ type: 'stage', stage: 'processor' });
    onEvent({ type: 'stage', stage: 'config' });
    onEvent({ type: 'stage', stage: 'download' });
    const steps = Math.max(1, Math.round((seconds * 1000) / PROGRESS_MS));
    for (let i = 0; i <= steps; i += 1) {
      if (signal?.aborted === true) throw new Error('aborted');
      onEvent({ type: 'progress', stage: 'download', current: Math.round((BYTES * i) / steps), total: BYTES });
      if (i < steps) await sleep(PROGRESS_MS);
    }
    onEvent({ type: 'stage', stage: 'weights' });
    onEvent({ type: 'progress', stage: 'weights', current: 1, total: 1 });
    return scriptedModel(ref);
  },
  listCached: async () => [],
};

// Every session of the benchmark loads at once: no queue, no eviction, no idle unload while it measures.
const server = await startServer({
  loader,
  logger: false,
  maxLoads: 1000,
  maxModels: 1000,
  idleTimeoutMs: 3_600_000,
});

serveParent({
  url: () => ({ url: server.url }),
  // CPU ms this process has used, so the benchmark can say how much of the host the servers took beside the dashboard.
  cpu: () => {
    const used = process.cpuUsage();
    return { ms: (used.user + used.system) / 1000 };
  },
});
process.on('disconnect', () => process.exit(0));
