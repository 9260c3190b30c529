/**
 * Measures `GET /health` latency from its own process (a prober in the server's process would be stalled together
 * with the server and would not see the stall). One request at a time over one keep-alive connection, a short gap
 * between requests. Requests: `start {url, gapMs}`, `stop` → `{samples: [[startedAt, latencyMs], …]}` with
 * `startedAt` on the shared monotonic clock (`monoMs`).
 */

import http from 'node:http';
import { monoMs, serveParent, sleep } from './common.mjs';

let running = false;
let loop;
const samples = [];

async function probe(url, gapMs) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  while (running) {
    const started = monoMs();
    await new Promise((resolve, reject) => {
      http
        .get(`${url}/health`, { agent }, (res) => {
          res.resume();
          res.on('end', resolve);
          res.on('error', reject);
          if (res.statusCode !== 200) reject(new Error(`/health answered ${res.statusCode}`));
        })
        .on('error', reject);
    });
    samples.push([started, monoMs() - started]);
    await sleep(gapMs);
  }
  agent.destroy();
}

serveParent({
  start({ url, gapMs }) {
    running = true;
    samples.length = 0;
    loop = probe(url, gapMs);
    return {};
  },
  async stop() {
    running = false;
    await loop;
    return { samples };
  },
});
process.on('disconnect', () => process.exit(0));
