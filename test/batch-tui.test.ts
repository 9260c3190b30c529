// Test files that start no child process and load no model, in one process (why: "exclude" in .taprc).
// `npx tap build/test/NAME.test.js` still runs one alone; test/batch-protocol.test.ts checks these against .taprc.
import './tui-chat-settings.test.js';
import './tui-config-writer.test.js';
import './tui-dashboard-model.test.js';
import './tui-effect-runner.test.js';
import './tui-event-log.test.js';
import './tui-figures.test.js';
import './tui-key-bindings.test.js';
import './tui-keys.test.js';
import './tui-line-edit.test.js';
import './tui-model-news.test.js';
import './tui-quiet-log.test.js';
import './tui-recorder.test.js';
import './tui-render-blessed.test.js';
import './tui-render-scheduler.test.js';
import './tui-server-cursor.test.js';
import './tui-server-memory.test.js';
import './tui-server-table.test.js';
import './tui-session-state.test.js';
import './tui-stream-batch.test.js';
import './tui-text-wrap.test.js';
import './tui-view-model.test.js';
