// Dashboard test files that spend much of their time waiting (model life, reconnects, typing under load): no child process.
// In one process (why: "exclude" in .taprc). `npx tap build/test/NAME.test.js` still runs one alone;
// test/batch-protocol.test.ts checks these against .taprc.
import t from 'tap';
import './tui-model-life.test.js';
import './tui-reconnect.test.js';
import './tui-server-view.test.js';
import './tui-typing.test.js';
import './tui-wire-log.test.js';

// tap's timeout (.taprc) is per process: here it holds for the files together.
t.setTimeout(600_000);
