/**
 * `pnpm demo` end to end (the README's first command after the install): five members, a backup,
 * a dead disk, a restore from the secret and one address, verified files, the alert mails, and a
 * clean temporary directory afterwards. Ctrl-C in the middle stops every daemon and removes it too.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');

function startDemo(): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn('pnpm', ['demo'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: false });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((r) =>
    child.once('exit', (code, signal) => r(code ?? (signal ? 128 : null))),
  );
  return { child, output: () => out, exited };
}

const demoDir = (out: string): string => {
  const m = /Working in DEMO=(\S+) /.exec(out);
  if (m === null) throw new Error(`no DEMO= line in:\n${out.slice(0, 2000)}`);
  return m[1]!;
};

/** pb-node processes whose command line names `dir` (none must outlive the demo). */
function processesUnder(dir: string): number[] {
  const out: number[] = [];
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmd.includes(dir)) out.push(Number(pid));
    } catch {}
  }
  return out;
}

/** The program a process runs ('' once it is gone). */
function exeOf(pid: number): string {
  try {
    return fs.readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return '';
  }
}

/** The parent pid from /proc/<pid>/stat (the field after the command name in parentheses). */
function parentOf(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return -1;
  }
}

describe('pnpm demo', () => {
  it('runs the whole story and exits 0, leaving nothing behind', async () => {
    const demo = startDemo();
    const code = await demo.exited;
    const out = demo.output();
    expect(code, out.slice(-4000)).toBe(0);
    for (const part of [
      '[pb] ann: bob asks to join the group',
      '[pb] ann: resolved: erin asks to join the group',
      '[pb] ann: backup refused: the backed-up directories are empty',
      'pb-node status --dir $DEMO/ann',
      'saved on 4 members',
      '26 of 26 files and links identical',
      'Demo finished in',
    ])
      expect(out).toContain(part);
    expect(out).toMatch(/Dashboard/);
    const dir = demoDir(out);
    expect(fs.existsSync(dir)).toBe(false);
    expect(processesUnder(dir)).toEqual([]);
  }, 420_000);

  it('Ctrl-C in the middle stops the daemons and removes the temporary directory', async () => {
    const demo = startDemo();
    try {
      await interruptDemo(demo);
    } finally {
      // A failed check leaves nothing running: the demo, its daemons and its directory go.
      if (demo.child.exitCode === null) {
        const dir = /Working in DEMO=(\S+) /.exec(demo.output())?.[1];
        for (const pid of [...processesUnder('runtime/demo/demo.ts'), ...(dir ? processesUnder(dir) : [])])
          try {
            process.kill(pid, 'SIGKILL');
          } catch {} // gone already
        if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
      }
    }
  }, 240_000);
});

/** Waits for the group's founding, sends the demo a Ctrl-C and checks that it cleaned up. */
async function interruptDemo(demo: ReturnType<typeof startDemo>): Promise<void> {
  const deadline = Date.now() + 180_000;
  while (!demo.output().includes('founds the group') && Date.now() < deadline) {
    if (demo.child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  expect(demo.output()).toContain('founds the group');
  const dir = demoDir(demo.output());
  expect(fs.existsSync(dir)).toBe(true);
  // pnpm runs the demo as its child: signal the demo itself, as a terminal's Ctrl-C would.
  const pids = processesUnder('runtime/demo/demo.ts').filter((pid) => {
    try {
      return fs.readlinkSync(`/proc/${pid}/cwd`) === ROOT;
    } catch {
      return false;
    }
  });
  // One Node process (besides pnpm's shell): a relaying parent (the `tsx` command) SIGKILLs a
  // child that does not answer its Ctrl-C within about 60 ms, before the child cleaned up.
  // A child the demo is spawning shows the demo's command line until it execs: not counted.
  const nodes = pids.filter((pid) => exeOf(pid) === process.execPath);
  const outer = nodes.filter((pid) => !nodes.includes(parentOf(pid)));
  expect(outer.length, `node processes ${nodes.join(', ')}`).toBe(1);
  for (const pid of pids.filter((p) => !nodes.includes(parentOf(p)))) process.kill(pid, 'SIGINT');
  const code = await demo.exited;
  expect(code).not.toBe(0);
  expect(demo.output()).toContain('SIGINT: stopping the daemons');
  expect(fs.existsSync(dir)).toBe(false);
  expect(processesUnder(dir)).toEqual([]);
}
