// Dashboard test files on a fake terminal against servers in the test's own process, with no child process.
// In one process (why: "exclude" in .taprc). `npx tap build/test/NAME.test.js` still runs one alone;
// test/batch-protocol.test.ts checks these against .taprc.
import t from 'tap';
import './tui-first-frame.test.js';
import './tui-model-complete.test.js';
import './tui-render-damage.test.js';
import './tui-server-delete.test.js';
import './tui-session-edit.test.js';
import './tui-small-screen.test.js';
import './tui-server-drive.test.js';

// tap's timeout (.taprc) is per process: here it holds for the files together.
t.setTimeout(600_000);
