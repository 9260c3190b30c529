// Test files that start no child process and load no model, in one process (why: "exclude" in .taprc).
// `npx tap build/test/NAME.test.js` still runs one alone; test/batch-protocol.test.ts checks these against .taprc.
import './loader-download-parts.test.js';
import './loader-hub-client.test.js';
import './mirror-hub.test.js';
import './server-fetch-parts.test.js';
import './server-hasher.test.js';
