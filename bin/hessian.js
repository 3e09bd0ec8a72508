#!/usr/bin/env node
// The `hessian` command: runs the compiled CLI in dist/ (`npm run build`; `npm start` builds first). Plain node, no
// TypeScript at run time. The tests run src/cli/main.ts through tsx instead (test/helpers/cli.ts).
import { existsSync } from 'node:fs';

const main = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  console.error('hessian: dist/ is missing; run `npm run build` first');
  process.exit(1);
}
await import(main.href);
