// A modeldeck server in its own process, for benchmarks that kill it (SIGKILL), read its memory from /proc, or must
// not share an event loop with the client that measures it. argv: HUB_URL CACHE_DIR. Over IPC it answers `url`.
import { serveParent, startServer } from './common.mjs';

const [hubUrl, cacheDir] = process.argv.slice(2);
if (hubUrl === undefined || cacheDir === undefined) throw new Error('usage: server-child.mjs HUB_URL CACHE_DIR');
const server = await startServer({ hubUrl, cacheDir });
serveParent({ url: () => ({ url: server.url }) });
process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
process.on('disconnect', () => void server.close().then(() => process.exit(0)));
