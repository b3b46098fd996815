/**
 * Reading a file that holds a secret (the recovery secret, the SMTP password): refused when the
 * group or others may read or write it, with the command that fixes it. The check is made on the
 * open file (fstat), so the file read is the file checked. Only regular files are checked: a pipe
 * or a terminal (`--secret-file /dev/stdin`) has no mode that could leak a copy.
 */
import * as fs from 'node:fs';

/** Permission bits that let anyone but the owner near the file. */
const NOT_OWNER_BITS = 0o077;

export class PrivateFileError extends Error {
  readonly code: 'not-private' | 'unreadable' | 'too-large';
  constructor(code: 'not-private' | 'unreadable' | 'too-large', message: string) {
    super(message);
    this.name = 'PrivateFileError';
    this.code = code;
  }
}

/** The mode as `0644`. */
const octal = (mode: number): string => `0${(mode & 0o777).toString(8).padStart(3, '0')}`;

/** Why `stat` is not private enough for a secret (with the fix), or null when it is. */
export function privateModeProblem(stat: fs.Stats, path: string, what: string): string | null {
  if (!stat.isFile() || (stat.mode & NOT_OWNER_BITS) === 0) return null;
  return `${what} ${path} can be read or changed by other users (mode ${octal(stat.mode)}); refusing to use it: run \`chmod 600 ${path}\``;
}

/** The text of a secret file, at most `maxBytes`; throws PrivateFileError. */
export function readPrivateFile(path: string, what: string, maxBytes: number): string {
  let fd: number;
  try {
    fd = fs.openSync(path, 'r');
  } catch (error) {
    throw new PrivateFileError('unreadable', `cannot read ${what} ${path}: ${(error as Error).message}`);
  }
  try {
    const problem = privateModeProblem(fs.fstatSync(fd), path, what);
    if (problem !== null) throw new PrivateFileError('not-private', problem);
    const buffer = Buffer.alloc(maxBytes + 1);
    let length = 0;
    for (;;) {
      const n = fs.readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) break;
      length += n;
      if (length > maxBytes)
        throw new PrivateFileError('too-large', `${what} ${path} is over ${maxBytes} bytes`);
    }
    return buffer.subarray(0, length).toString('utf8');
  } finally {
    fs.closeSync(fd);
  }
}
