/**
 * A daemon whose stderr goes away (the terminal closed, the reader of its pipe died) keeps running
 * and logging to its file: a failed write to stderr once ended the process ("write EPIPE"), and a
 * demo whose parent was killed took its five daemons with it. A command whose reader goes away
 * (`pb-node find '*' | head`) finishes with its own exit code instead of a stack trace.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { paths } from '../../../runtime/daemon/config/config.ts';
import { tempDir } from '../helpers.ts';
import { BIN, cli, initNode, type Proc } from './_cluster.ts';

const procs: Proc[] = [];
afterAll(async () => {
  for (const p of procs) await p.stop();
});

describe('a daemon without its stderr', () => {
  it('keeps answering and logging to its file, and stops cleanly', async () => {
    const root = tempDir('stderr-gone');
    const proc = await initNode(root, 'solo');
    procs.push(proc);
    await proc.start();
    const child = proc.child!;
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    // The reader goes: every write to the daemon's stderr now fails with EPIPE.
    child.stderr!.destroy();
    // Log lines while stderr is gone: founding a group, then a stop.
    const created = await cli(['create', '--dir', proc.dir, '--ratio', '1.5', '--tolerance', '1']);
    expect(created.code, created.stderr).toBe(0);
    expect(await proc.call('status')).toMatchObject({ member: true });
    const stopped = await cli(['stop', '--dir', proc.dir]);
    expect(stopped.code, stopped.stderr).toBe(0);
    expect(await exited).toBe(0);
    const log = fs.readFileSync(paths(proc.dir).log, 'utf8');
    expect(log).not.toMatch(/fatal|EPIPE/);
    expect(log).toMatch(/pb-node stopped/);
    expect(fs.existsSync(join(proc.dir, 'daemon.pid'))).toBe(false);
  }, 120_000);

  it('a command whose reader went away finishes with its exit code, without a stack trace', async () => {
    // The man page (13 kB) into a pipe whose reader is gone before the command writes.
    const child = spawn(process.execPath, [BIN, 'man'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    expect(stderr).toBe('');
    expect(code).toBe(0);
  }, 60_000);
});
