/** modeldeck's version, read once from package.json (the one place it is written). */

import { readFileSync } from 'node:fs';

// src/common and dist/common both sit two levels below the package root.
const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

/** The version in package.json, e.g. `0.1.0`. */
export const VERSION: string = manifest.version;
