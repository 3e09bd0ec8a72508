// Loaded with `node --import`: makes every @tensorflow/* package unavailable to the process, as on an API host
// that never installs TF.js. Used by test/unit/boundary.test.ts.
import { register } from 'node:module';

register(
  'data:text/javascript,' +
    encodeURIComponent(`
      export async function resolve(specifier, context, next) {
        if (specifier.startsWith('@tensorflow/')) throw new Error('TF.js is unavailable here: ' + specifier);
        return next(specifier, context);
      }
    `),
);
