/** Small durable-file helper shared by the pipeline and the daemon. */
import * as fs from 'node:fs';

/** Write `bytes` to `path` atomically and durably: temp file (0600), fsync, rename. */
export function writeFileAtomic(path: string, bytes: Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, 'w', 0o600);
  try {
    fs.writeSync(fd, bytes);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, path);
}
