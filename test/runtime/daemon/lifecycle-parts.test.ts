/**
 * The daemon's lifecycle parts on their own: the data-directory lock (pid-lock.ts) and the
 * bounded exit (shutdown.ts). The same behaviour on real processes: test/faults/lifecycle.test.ts.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { acquirePidLock, PID_FILE } from '../../../runtime/daemon/pid-lock.ts';
import { exitWhenStopped, type StoppableDaemon } from '../../../runtime/daemon/shutdown.ts';

/** A pid that surely names no process now: a child that already exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(r.stdout.toString());
}

describe('the data-directory lock', () => {
  const dirs: string[] = [];
  const dir = (): string => {
    const d = fs.mkdtempSync(join(tmpdir(), 'pb-pidlock-'));
    dirs.push(d);
    return d;
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });

  it('is created with this pid; another live process is refused by name, and it goes on release', () => {
    const d = dir();
    const lock = acquirePidLock(d);
    expect(fs.readFileSync(join(d, PID_FILE), 'utf8')).toBe(String(process.pid));
    expect(fs.statSync(join(d, PID_FILE)).mode & 0o777).toBe(0o600);
    expect(() => acquirePidLock(d, process.ppid)).toThrow(
      new RegExp(`a pb-node daemon \\(pid ${process.pid}\\) already runs on ${d}`),
    );
    expect(fs.readFileSync(join(d, PID_FILE), 'utf8')).toBe(String(process.pid));
    lock.release();
    expect(fs.existsSync(join(d, PID_FILE))).toBe(false);
  });

  it("a dead pid's lock is taken over; a garbled old one too; release keeps another's lock", () => {
    const d = dir();
    fs.writeFileSync(join(d, PID_FILE), String(deadPid()));
    const lock = acquirePidLock(d);
    expect(fs.readFileSync(join(d, PID_FILE), 'utf8')).toBe(String(process.pid));
    lock.release();
    fs.writeFileSync(join(d, PID_FILE), 'not a pid');
    const old = new Date(Date.now() - 60_000);
    fs.utimesSync(join(d, PID_FILE), old, old);
    const again = acquirePidLock(d);
    expect(fs.readFileSync(join(d, PID_FILE), 'utf8')).toBe(String(process.pid));
    fs.writeFileSync(join(d, PID_FILE), '1'); // someone else's now: release must leave it
    again.release();
    expect(fs.readFileSync(join(d, PID_FILE), 'utf8')).toBe('1');
    expect(fs.existsSync(join(d, 'daemon.pid.takeover'))).toBe(false);
  });

  it('a fresh unreadable lock (a starter between create and write) is not taken', () => {
    const d = dir();
    fs.writeFileSync(join(d, PID_FILE), '');
    expect(() => acquirePidLock(d)).toThrow(/could not take the lock .* is another pb-node starting/);
  });
});

function fakeDaemon(stopMs: number | null): StoppableDaemon & { lines: string[] } {
  let requested!: () => void;
  let stopped!: () => void;
  const lines: string[] = [];
  const d = {
    lines,
    stopRequested: new Promise<void>((r) => {
      requested = r;
    }),
    stoppedPromise: new Promise<void>((r) => {
      stopped = r;
    }),
    log: (l: string) => lines.push(l),
    stop: async () => {
      requested();
      if (stopMs !== null) setTimeout(stopped, stopMs);
    },
  };
  return d;
}

describe('the bounded exit', () => {
  it('exits as soon as the orderly stop ends', async () => {
    const d = fakeDaemon(50);
    const codes: number[] = [];
    const done = exitWhenStopped(d, { exit: (c) => codes.push(c), signals: ['SIGUSR2'] });
    process.emit('SIGUSR2', 'SIGUSR2');
    expect(await done).toBe(0);
    expect(codes).toEqual([0]);
    expect(d.lines[0]).toMatch(/SIGUSR2: stopping/);
  });

  it('exits at the deadline when the stop hangs, and at once on a second signal', async () => {
    const hung = fakeDaemon(null);
    const codes: number[] = [];
    const started = Date.now();
    const done = exitWhenStopped(hung, { exit: (c) => codes.push(c), deadlineMs: 300, signals: ['SIGUSR2'] });
    void hung.stop(); // the control socket's path: no signal
    expect(await done).toBe(0);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(hung.lines.join('\n')).toMatch(/did not finish within 300 ms: exiting anyway/);
    const twice = fakeDaemon(null);
    const again = exitWhenStopped(twice, {
      exit: (c) => codes.push(c),
      deadlineMs: 60_000,
      signals: ['SIGUSR2'],
    });
    process.emit('SIGUSR2', 'SIGUSR2');
    process.emit('SIGUSR2', 'SIGUSR2');
    expect(await again).toBe(1);
    expect(codes).toEqual([0, 1]);
    expect(process.listenerCount('SIGUSR2')).toBe(0);
  });
});
