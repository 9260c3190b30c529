// A mirror (the project's Hub stand-in) of argv[2], unthrottled, in its own process; answers `url` over IPC.
import { startMirror } from '../../dist/mirror/mirror.js';
import { serveParent } from './common.mjs';

const root = process.argv[2];
if (root === undefined) throw new Error('usage: mirror-child.mjs ROOT');
const mirror = await startMirror({ root, host: '127.0.0.1', port: 0 });
serveParent({ url: () => ({ url: mirror.url }) });
process.on('SIGTERM', () => void mirror.close().then(() => process.exit(0)));
process.on('disconnect', () => void mirror.close().then(() => process.exit(0)));
