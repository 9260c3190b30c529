// Test files that start servers in the test's own process (health, limits, queues, model life), with no child process.
// In one process (why: "exclude" in .taprc). `npx tap build/test/NAME.test.js` still runs one alone;
// test/batch-protocol.test.ts checks these against .taprc.
import t from 'tap';
import './server-generation-bounds.test.js';
import './server-health.test.js';
import './server-keep-alive.test.js';
import './server-limits.test.js';
import './server-load-limit.test.js';
import './server-model-life.test.js';
import './server-queue.test.js';
import './server-request-id.test.js';

// tap's timeout (.taprc) is per process: here it holds for the files together.
t.setTimeout(600_000);
