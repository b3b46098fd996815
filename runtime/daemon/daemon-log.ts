/**
 * The daemon's log, `pb-node.log` in the data directory: one line per event, each prefixed with
 * its ISO time, also written to stderr while stderr takes them. Writes after the log closed (the
 * last lines of a stop) go to stderr only.
 */
import * as fs from 'node:fs';

/** The log is kept below MAX_LOG_BYTES: a larger one moves to `pb-node.log.1` at start. */
export const MAX_LOG_BYTES = 16 * 1024 * 1024;

export function rotateLog(path: string): void {
  try {
    if (fs.statSync(path).size > MAX_LOG_BYTES) fs.renameSync(path, `${path}.1`);
  } catch {}
}

/** False once a write to stderr failed: lines go to the log file alone from then on. */
let stderrOpen = true;

/**
 * A process goes on when its stdout or stderr goes away (the terminal closed, the reader of its
 * pipe died or had enough): a failed write is an 'error' event, and one without a listener ended
 * the process with a stack ("write EPIPE"), so a demo whose parent was killed took its five
 * daemons with it, and `pb-node find '*' | head` ended in a stack trace. What is written after
 * is lost, as the reader chose. Every command calls it (runtime/cli.ts); idempotent.
 */
export function surviveLostStdio(): void {
  if (process.stderr.listeners('error').includes(markStderrLost)) return;
  process.stderr.on('error', markStderrLost);
  process.stdout.on('error', ignoreLostStdout);
}

function markStderrLost(): void {
  stderrOpen = false;
}

function ignoreLostStdout(): void {}

export function writeLog(fd: number, line: string): void {
  const text = `${new Date().toISOString()} ${line}\n`;
  if (stderrOpen) process.stderr.write(text);
  try {
    fs.writeSync(fd, text);
  } catch {}
}
