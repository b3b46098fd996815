/**
 * The data directory's lock: `daemon.pid` holds the running daemon's pid (decimal, nothing else;
 * docs/formats.md). It is created atomically (O_EXCL), so of two daemons starting at once on one
 * directory exactly one gets it; the other is refused with the holder's pid. A lock whose pid is
 * dead (a crash, SIGKILL) is taken over under a second exclusive file, `daemon.pid.takeover`, so
 * two starters cannot both take the same stale lock. The lock is released only when the process
 * exits (an 'exit' hook removes it if it still holds this pid), never while the process lingers.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { ControlError } from './control/control.ts';

export const PID_FILE = 'daemon.pid';
const TAKEOVER_FILE = 'daemon.pid.takeover';
/** A takeover file older than this belongs to a starter that died mid-takeover. */
const STALE_TAKEOVER_MS = 10_000;
/** Rounds of create / inspect / take over before giving up (each round changes the state). */
const MAX_LOCK_ROUNDS = 8;
/** Pause between rounds while the lock is unreadable (synchronous: start-up only). */
const ROUND_PAUSE_MS = 50;

export interface PidLock {
  readonly file: string;
  /** Removes the lock now if it still holds this pid (the exit hook does the same). */
  release(): void;
}

/** Whether `pid` names a live process (EPERM: alive, owned by someone else). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The pid a lock file holds, or null when it is missing, empty or not a pid. */
export function readPid(file: string): number | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8').trim();
  } catch {
    return null;
  }
  if (!/^[0-9]{1,10}$/.test(text)) return null;
  const pid = Number(text);
  return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
}

function createExclusive(file: string, pid: number): boolean {
  let fd: number;
  try {
    fd = fs.openSync(file, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  try {
    fs.writeSync(fd, String(pid));
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return true;
}

/** How old a file is, or null when it is gone. */
function ageMs(file: string): number | null {
  try {
    return Date.now() - fs.statSync(file).mtimeMs;
  } catch {
    return null;
  }
}

/**
 * Removes a stale lock under the takeover file: only one starter at a time re-reads the lock and
 * removes it, and only if it still names a dead pid (or nothing readable and is old enough that
 * its writer is gone). Returns whether the caller should try to create the lock again.
 */
function takeOverStale(dir: string, file: string, stalePid: number | null): boolean {
  const takeover = join(dir, TAKEOVER_FILE);
  if (!createExclusive(takeover, process.pid)) {
    const age = ageMs(takeover);
    if (age !== null && age > STALE_TAKEOVER_MS) fs.rmSync(takeover, { force: true });
    return true; // another starter is taking over: look again
  }
  try {
    const now = readPid(file);
    if (now !== stalePid) return true; // it changed under us: look again
    if (now === null && (ageMs(file) ?? STALE_TAKEOVER_MS + 1) < STALE_TAKEOVER_MS) return true;
    fs.rmSync(file, { force: true });
    return true;
  } finally {
    fs.rmSync(takeover, { force: true });
  }
}

/**
 * Takes the lock of `dir` for this process or throws ControlError('already-running') naming the
 * pid that holds it. Installs the exit hook that releases it.
 */
export function acquirePidLock(dir: string, pid: number = process.pid): PidLock {
  const file = join(dir, PID_FILE);
  for (let round = 0; round < MAX_LOCK_ROUNDS; round++) {
    if (createExclusive(file, pid)) return holdUntilExit(file, pid);
    const holder = readPid(file);
    if (holder === pid) return holdUntilExit(file, pid);
    if (holder !== null && pidAlive(holder))
      throw new ControlError(
        'already-running',
        `a pb-node daemon (pid ${holder}) already runs on ${dir}; stop it first (pb-node stop --dir ${dir})`,
      );
    if (!takeOverStale(dir, file, holder)) break;
    // An empty lock is a starter between creating and writing it: give it a moment.
    if (holder === null) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ROUND_PAUSE_MS);
  }
  const holder = readPid(file);
  throw new ControlError(
    'already-running',
    `could not take the lock ${file} (held by ${holder === null ? 'an unreadable pid' : `pid ${holder}`}); is another pb-node starting on ${dir}?`,
  );
}

function holdUntilExit(file: string, pid: number): PidLock {
  const release = (): void => {
    if (readPid(file) === pid) fs.rmSync(file, { force: true });
  };
  process.once('exit', release);
  return {
    file,
    release: () => {
      process.removeListener('exit', release);
      release();
    },
  };
}
