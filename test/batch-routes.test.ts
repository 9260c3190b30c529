// Test files that start servers in the test's own process (models, feeds, chat), with no child process.
// In one process (why: "exclude" in .taprc). `npx tap build/test/NAME.test.js` still runs one alone;
// test/batch-protocol.test.ts checks these against .taprc.
import t from 'tap';
import './cli-model-commands.test.js';
import './client-server-feed.test.js';
import './engines-one-console.test.js';
import './server-access.test.js';
import './server-chat-queue.test.js';
import './server-chat-template-layouts.test.js';
import './server-completions.test.js';
import './server-connection.test.js';
import './server-feed-slices.test.js';
import './server-feed.test.js';

// tap's timeout (.taprc) is per process: here it holds for the files together.
t.setTimeout(600_000);
