/**
 * The daemon's log, `pb-node.log` in the data directory: one line per event, each prefixed with
 * its ISO time, also written to stderr. Writes after the log closed (the last lines of a stop)
 * go to stderr only.
 */
import * as fs from 'node:fs';

/** The log is kept below MAX_LOG_BYTES: a larger one moves to `pb-node.log.1` at start. */
export const MAX_LOG_BYTES = 16 * 1024 * 1024;

export function rotateLog(path: string): void {
  try {
    if (fs.statSync(path).size > MAX_LOG_BYTES) fs.renameSync(path, `${path}.1`);
  } catch {}
}

export function writeLog(fd: number, line: string): void {
  const text = `${new Date().toISOString()} ${line}\n`;
  process.stderr.write(text);
  try {
    fs.writeSync(fd, text);
  } catch {}
}
