// Dashboard test files that spend much of their time waiting (reconnects, liveness timeouts, throttled loads): no child process.
// In one process (why: "exclude" in .taprc). `npx tap build/test/NAME.test.js` still runs one alone;
// test/batch-protocol.test.ts checks these against .taprc.
import t from 'tap';
import './tui-control.test.js';
import './tui-dashboard.test.js';
import './tui-liveness.test.js';
import './tui-load-command.test.js';

// tap's timeout (.taprc) is per process: here it holds for the files together.
t.setTimeout(600_000);
