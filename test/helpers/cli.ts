/**
 * The `hessian` CLI as tests start it: src/cli/main.ts through tsx, so a test always runs the current sources with
 * no build, and every child it starts (embedded worker, compute children, backend probe, upload threads) runs from
 * src/ too (src/runtime/entry.ts). `npm start` (acceptance.test.ts) and the images run the compiled dist/ through
 * bin/hessian.js instead.
 */
import { siblingEntry } from '../../src/runtime/entry.js';

const MAIN = siblingEntry(import.meta.url, '../../src/cli/main');

/** Arguments for `process.execPath` that run `hessian ...args`. */
export const cliArgs = (...args: string[]): string[] => [...MAIN.execArgv, MAIN.file, ...args];
