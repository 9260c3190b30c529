#!/usr/bin/env node
// The one executable: the compiled CLI lives in dist/ (built by `npm ci`/`npm install` through the prepare script).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write("modeldeck: dist/ is missing; run 'npm install' (or 'npm run build') in the project first\n");
  process.exit(1);
}
const { main } = await import(entry.href);
const code = await main(process.argv.slice(2));
process.exitCode = code;
// A command that finished must not be held open by a handle a library forgot; stdout still drains first.
setTimeout(() => process.exit(code), 2000).unref();
