/**
 * Where a child process or worker thread starts, so that it runs on the same flavour as the module starting it:
 * compiled JavaScript from dist/ with plain node (the CLI, `npm start`, the images), or the TypeScript sources
 * through tsx (the tests, which import src/ directly). The flavour is read from the caller's own URL, so a
 * build never mixes with sources and production never needs tsx.
 */
import { fileURLToPath } from 'node:url';

export interface Entry {
  /** Absolute path of the entry module. */
  file: string;
  /** Node options the child or thread needs to load it: none for dist/, tsx's loader for src/. */
  execArgv: string[];
}

/**
 * The entry module `name` (a path without extension, relative to the caller, e.g. `'./processor-entry'` or
 * `'../upload-tasks-entry'`) in the caller's flavour: `.js` with no Node options when the caller is compiled
 * JavaScript, `.ts` with `--import <tsx>` when the caller runs from its TypeScript source.
 * @param callerUrl the caller's `import.meta.url`
 */
export function siblingEntry(callerUrl: string, name: string): Entry {
  const fromSource = callerUrl.endsWith('.ts');
  const file = fileURLToPath(new URL(`${name}${fromSource ? '.ts' : '.js'}`, callerUrl));
  // tsx by absolute URL: an `--import tsx` would be resolved from the child's working directory. Resolved only for
  // sources, so the compiled flavour never looks for tsx (a development dependency).
  return { file, execArgv: fromSource ? ['--import', import.meta.resolve('tsx')] : [] };
}
