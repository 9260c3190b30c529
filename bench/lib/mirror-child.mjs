// A mirror (the project's Hub stand-in) of argv[2] in its own process; over IPC it answers `url`, and takes `shape`
// (per-response and link throttles, faults), `clear` and `bytes` (body bytes sent for a file since the last clear).
import { startMirror } from '../../dist/mirror/mirror.js';
import { serveParent } from './common.mjs';

const root = process.argv[2];
if (root === undefined) throw new Error('usage: mirror-child.mjs ROOT');
const mirror = await startMirror({ root, host: '127.0.0.1', port: 0 });
serveParent({
  url: () => ({ url: mirror.url }),
  shape: ({ throttle = 0, linkThrottle = 0, faults = [] }) => {
    mirror.setThrottle(throttle);
    mirror.setLinkThrottle(linkThrottle);
    mirror.setFaults(faults);
    return {};
  },
  clear: () => {
    mirror.clearRequests();
    return {};
  },
  bytes: ({ path }) => ({
    bytes: mirror.requests
      .filter((r) => r.method === 'GET' && r.url.includes('/resolve/') && r.url.endsWith(`/${path}`))
      .reduce((sum, r) => sum + r.bytesSent, 0),
  }),
});
process.on('SIGTERM', () => void mirror.close().then(() => process.exit(0)));
process.on('disconnect', () => void mirror.close().then(() => process.exit(0)));
