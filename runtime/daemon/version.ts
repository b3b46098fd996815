/**
 * The installed package: its root (the folder of the package.json that declares the pb-node bin)
 * and its version. Found by walking up from this module: runtime/daemon/ in a checkout, dist/ in
 * the installed package.
 */
import * as fs from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** How many folders up the package.json may be (dist/ is one, runtime/daemon/ two). */
const MAX_LEVELS = 4;

interface PackageInfo {
  root: string;
  version: string;
}

let cached: PackageInfo | null = null;

export function packageInfo(): PackageInfo {
  if (cached !== null) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i <= MAX_LEVELS; i++) {
    const file = join(dir, 'package.json');
    if (fs.existsSync(file)) {
      const pkg = JSON.parse(fs.readFileSync(file, 'utf8')) as {
        version?: unknown;
        bin?: Record<string, unknown>;
      };
      if (pkg.bin !== undefined && Object.hasOwn(pkg.bin, 'pb-node') && typeof pkg.version === 'string') {
        cached = { root: dir, version: pkg.version };
        return cached;
      }
    }
    dir = dirname(dir);
  }
  throw new Error(`no package.json declaring pb-node above ${fileURLToPath(import.meta.url)}`);
}

export const packageVersion = (): string => packageInfo().version;
