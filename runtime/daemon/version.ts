/**
 * pb-node's version: the `version` of the package it runs from. Found by walking up from this
 * module (runtime/daemon/ in a checkout, dist/ in the installed package) to the package.json that
 * declares the pb-node bin.
 */
import * as fs from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** How many folders up the package.json may be (dist/ is one, runtime/daemon/ two). */
const MAX_LEVELS = 4;

export function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i <= MAX_LEVELS; i++) {
    const file = join(dir, 'package.json');
    if (fs.existsSync(file)) {
      const pkg = JSON.parse(fs.readFileSync(file, 'utf8')) as {
        version?: unknown;
        bin?: Record<string, unknown>;
      };
      if (pkg.bin !== undefined && Object.hasOwn(pkg.bin, 'pb-node') && typeof pkg.version === 'string')
        return pkg.version;
    }
    dir = dirname(dir);
  }
  throw new Error(`no package.json declaring pb-node above ${fileURLToPath(import.meta.url)}`);
}
