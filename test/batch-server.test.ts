// Test files that start no child process and load no model, in one process (why: "exclude" in .taprc).
// `npx tap build/test/NAME.test.js` still runs one alone; test/batch-protocol.test.ts checks these against .taprc.
import './load-manager.test.js';
import './loader-download-progress.test.js';
import './loader-model-files.test.js';
import './loader-stop-filter.test.js';
import './loader-weights-reader.test.js';
import './server-admission.test.js';
import './server-event-feed.test.js';
import './server-feed-view.test.js';
import './server-keep-alive-table.test.js';
import './server-load-life.test.js';
import './server-progress-coalescer.test.js';
import './server-resident-table.test.js';
import './server-worker-calls.test.js';
