// Test files that start no child process and load no model, in one process (why: "exclude" in .taprc).
// `npx tap build/test/NAME.test.js` still runs one alone; test/batch-protocol.test.ts checks these against .taprc.
import './architecture-doc.test.js';
import './function-length.test.js';
import './lint-layers.test.js';
