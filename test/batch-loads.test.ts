// Test files that load models in the test's own process through a mirror, with no child process: hub and loader.
// In one process (why: "exclude" in .taprc). `npx tap build/test/NAME.test.js` still runs one alone;
// test/batch-protocol.test.ts checks these against .taprc.
import t from 'tap';
import './hub-credentials.test.js';
import './hub-errors.test.js';
import './hub-js-cache.test.js';
import './loader-errors.test.js';
import './loader-external-data.test.js';
import './loader-load.test.js';
import './mirror-cdn.test.js';
import './server-cache-links.test.js';

// tap's timeout (.taprc) is per process: here it holds for the files together.
t.setTimeout(600_000);
