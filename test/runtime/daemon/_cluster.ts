/** Real pb-node processes on 127.0.0.1 in temporary directories, for the daemon tests. */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { paths } from '../../../runtime/daemon/config/config.ts';
import { callDaemon } from '../../../runtime/daemon/control/control.ts';

const execFileAsync = promisify(execFile);
export const BIN = resolve(import.meta.dirname, '../../../runtime/bin/pb-node.mjs');

/**
 * Writes a new identity for a standalone relay to `keyFile` (`pb-node relay --key-file`) and
 * returns its peer id: members name the relay in their config before the group, and so the
 * relay (which serves one group: `--group <id>`), exists.
 */
export async function newRelayKey(keyFile: string): Promise<string> {
  const seed = randomBytes(32);
  fs.writeFileSync(keyFile, seed.toString('hex'), { mode: 0o600 });
  return peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', seed)).toString();
}

/**
 * A command prefix a process runs under, e.g. `['ip', 'netns', 'exec', ns]` for a network
 * namespace (test/nat); [] runs it here.
 */
export type Wrap = readonly string[];

/** The program and arguments of `node BIN ...args` under `wrap`. */
export function wrapped(wrap: Wrap, args: string[]): [string, string[]] {
  const [first, ...rest] = wrap;
  return first === undefined
    ? [process.execPath, [BIN, ...args]]
    : [first, [...rest, process.execPath, BIN, ...args]];
}

/** Runs the CLI as its own process; returns stdout, stderr and the exit code. */
export async function cli(
  args: string[],
  wrap: Wrap = [],
): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const [file, argv] = wrapped(wrap, args);
    const { stdout, stderr } = await execFileAsync(file, argv, { timeout: 120_000 });
    return { stdout, stderr, code: 0 };
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; code?: number };
    return { stdout: e.stdout ?? '', stderr: e.stderr ?? '', code: typeof e.code === 'number' ? e.code : 1 };
  }
}

export class Proc {
  child: ChildProcess | null = null;
  stderr = '';
  constructor(
    readonly dir: string,
    readonly wrap: Wrap = [],
  ) {}

  async start(): Promise<void> {
    const socket = paths(this.dir).socket;
    const [file, argv] = wrapped(this.wrap, ['start', '--dir', this.dir]);
    this.child = spawn(file, argv, {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.child.stderr?.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-20_000);
    });
    // Generous: returns as soon as the daemon answers (a loaded machine starts it slowly).
    const deadline = Date.now() + 90_000;
    while (Date.now() < deadline) {
      if (fs.existsSync(socket)) {
        try {
          await callDaemon(socket, 'status');
          return;
        } catch {}
      }
      if (this.child.exitCode !== null) throw new Error(`pb-node start exited: ${this.stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`pb-node in ${this.dir} did not start: ${this.stderr}`);
  }

  call(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    return callDaemon(paths(this.dir).socket, method, params);
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child === null || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
    this.child = null;
  }
}

/** `pb-node init` for tests (loopback, 1 s sync); the process and its 17 secret words. */
export async function initNodeWithWords(
  root: string,
  name: string,
  extra: string[] = [],
  wrap: Wrap = [],
): Promise<{ proc: Proc; words: string }> {
  const dir = join(root, name);
  const r = await cli([
    'init',
    '--dir',
    dir,
    '--name',
    name,
    '--test-network',
    '--sync-interval',
    '1s',
    '--json',
    ...extra,
  ]);
  if (r.code !== 0) throw new Error(`init ${name} failed: ${r.stderr}`);
  const { words } = JSON.parse(r.stdout) as { words: string };
  if (words.split('-').length !== 17) throw new Error('expected 17 secret words');
  return { proc: new Proc(dir, wrap), words };
}

export async function initNode(
  root: string,
  name: string,
  extra: string[] = [],
  wrap: Wrap = [],
): Promise<Proc> {
  return (await initNodeWithWords(root, name, extra, wrap)).proc;
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | null | false>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined && v !== null && v !== false) return v;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

export interface MemberRow {
  id: string;
  name: string;
}

export async function memberNames(p: Proc): Promise<string[]> {
  const rows = (await p.call('members')) as MemberRow[];
  return rows.map((m) => m.name).sort();
}
