// A mirror (the project's Hub stand-in) of argv[2] in its own process; `--redirect` makes it the Hub as it is today
// (large files a 302 to a signed CDN URL: the Xet bridge). Over IPC it answers `url` (and `cdnUrl`), and takes `shape`
// (per-response and link throttles, faults, capped CDN edges, the signed URLs' lifetime), `clear`, `bytes` (body
// bytes sent for a file since the last clear, from the hub and the CDN) and `settled` (resolves once no request is
// in flight: after a client was killed, its responses have stopped counting).
import { startMirror } from '../../dist/mirror/mirror.js';
import { serveParent, sleep } from './common.mjs';

const [root, ...flags] = process.argv.slice(2);
if (root === undefined) throw new Error('usage: mirror-child.mjs ROOT [--redirect]');
const redirect = flags.includes('--redirect');
const mirror = await startMirror({ root, host: '127.0.0.1', port: 0, ...(redirect ? { redirectLarge: true } : {}) });
const pathOf = (url) => new URL(url, 'http://mirror.invalid').pathname;
serveParent({
  url: () => ({ url: mirror.url, cdnUrl: mirror.cdnUrl }),
  shape: ({ throttle = 0, linkThrottle = 0, faults = [], edgeCap, urlTtl = 3600 }) => {
    mirror.setThrottle(throttle);
    mirror.setLinkThrottle(linkThrottle);
    mirror.setFaults(faults);
    mirror.setEdgeCap(edgeCap);
    mirror.setUrlTtl(urlTtl);
    return {};
  },
  clear: () => {
    mirror.clearRequests();
    return {};
  },
  bytes: ({ path }) => ({
    bytes: mirror.requests
      .filter((r) => r.method === 'GET' && /\/(resolve|lfs)\//.test(r.url) && pathOf(r.url).endsWith(`/${path}`))
      .reduce((sum, r) => sum + r.bytesSent, 0),
  }),
  settled: async ({ timeoutMs = 10_000 }) => {
    const end = Date.now() + timeoutMs;
    while (mirror.requests.some((r) => !r.done)) {
      if (Date.now() > end) throw new Error('requests still in flight');
      await sleep(20);
    }
    return {};
  },
});
process.on('SIGTERM', () => void mirror.close().then(() => process.exit(0)));
process.on('disconnect', () => void mirror.close().then(() => process.exit(0)));
