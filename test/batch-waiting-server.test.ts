// Test files with servers in the test's own process that spend much of their time waiting (throttled links, timeouts, a hostile hub): no child process.
// In one process (why: "exclude" in .taprc). `npx tap build/test/NAME.test.js` still runs one alone;
// test/batch-protocol.test.ts checks these against .taprc.
import t from 'tap';
import './cli-check.test.js';
import './mirror-xet.test.js';
import './server-hostile-hub.test.js';
import './server-load.test.js';
import './server-metrics.test.js';
import './server-ready.test.js';

// tap's timeout (.taprc) is per process: here it holds for the files together.
t.setTimeout(600_000);
