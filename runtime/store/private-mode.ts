/**
 * Modes inside a data directory (docs/formats.md): directories 0700, files 0600, whatever the
 * umask. New entries are created so; entries an older pb-node left open (0755, 0644) are closed
 * when the directory or file is next opened.
 */
import * as fs from 'node:fs';

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** Creates `dir` (and missing parents) 0700, and makes an existing `dir` 0700. */
export function ensurePrivateDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  fs.chmodSync(dir, PRIVATE_DIR_MODE);
}

/** Async `ensurePrivateDir`. */
export async function ensurePrivateDirAsync(dir: string): Promise<void> {
  await fs.promises.mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  await fs.promises.chmod(dir, PRIVATE_DIR_MODE);
}

/** Makes an existing file 0600; an absent one is left absent. */
export function closeFileMode(path: string): void {
  try {
    if ((fs.statSync(path).mode & 0o077) !== 0) fs.chmodSync(path, PRIVATE_FILE_MODE);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

/**
 * Before SQLite opens `path`: the database file exists and is 0600, and so are its -wal, -shm
 * and -journal if present. SQLite gives the files it creates next to a database the database
 * file's own mode, so they follow.
 */
export function prepareSqliteFile(path: string): void {
  fs.closeSync(fs.openSync(path, 'a', PRIVATE_FILE_MODE));
  for (const suffix of ['', '-wal', '-shm', '-journal']) closeFileMode(`${path}${suffix}`);
}
