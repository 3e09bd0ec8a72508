import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Every package imported by `file` and the local files it imports, transitively. */
function packagesImportedBy(
  file: string,
  seen = new Set<string>(),
  packages = new Set<string>(),
): Set<string> {
  if (seen.has(file)) return packages;
  seen.add(file);
  const source = readFileSync(file, 'utf8');
  const pattern = /(?:import|export)[^'"]*?from\s+'([^']+)'|import\s+'([^']+)'/g;
  for (const [, fromSpecifier, bareSpecifier] of source.matchAll(pattern)) {
    const specifier = fromSpecifier ?? bareSpecifier;
    if (specifier.startsWith('.')) {
      packagesImportedBy(resolve(dirname(file), specifier.replace(/\.js$/, '.ts')), seen, packages);
    } else {
      packages.add(specifier);
    }
  }
  return packages;
}

describe('the data layer', () => {
  it('does not import TF.js, so the HTTP API can validate uploads without loading it', () => {
    const index = fileURLToPath(new URL('../../../src/engine/data/index.ts', import.meta.url));
    const packages = [...packagesImportedBy(index)];
    assert.ok(packages.includes('node:zlib'), 'the walk follows imports');
    assert.deepEqual(
      packages.filter((p) => p.startsWith('@tensorflow')),
      [],
    );
  });
});
