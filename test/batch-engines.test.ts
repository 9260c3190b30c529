// Test files that start no child process and load no model, in one process (why: "exclude" in .taprc).
// `npx tap build/test/NAME.test.js` still runs one alone; test/batch-protocol.test.ts checks these against .taprc.
import './cli-ps-kinds.test.js';
import './engines-kind.test.js';
import './engines-llamacpp.test.js';
import './engines-ollama.test.js';
import './engines-openai.test.js';
import './engines-transformers.test.js';
