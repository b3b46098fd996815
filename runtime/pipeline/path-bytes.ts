/**
 * Paths as bytes: a file name on Linux is any bytes but '/' and NUL, so pb keeps paths as Buffers
 * and shows them only through showPath. A module of its own because the chunk workers need
 * showPath too and must not load the scanner's imports (the index database, the tree codec and
 * the engine): loading those cost each worker tens of milliseconds at every backup and restore.
 */
const SLASH = Buffer.from('/');

export function joinPath(dir: Buffer, name: Buffer): Buffer {
  return dir.length > 0 && dir[dir.length - 1] === 0x2f
    ? Buffer.concat([dir, name])
    : Buffer.concat([dir, SLASH, name]);
}

/** A path for messages: read as UTF-8 (a byte that is not becomes U+FFFD), quotes and control characters escaped. */
export function showPath(path: Buffer): string {
  return JSON.stringify(path.toString('utf8')).slice(1, -1);
}
