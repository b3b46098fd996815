/**
 * Daemon lifecycle and transport faults on real pb-node processes (127.0.0.1). Four members
 * listen on no TCP port: they reach each other through a standalone `pb-node relay` process and
 * over WebRTC links signalled through it (ICE bound to loopback).
 * - `pb-node stop` mid-backup, and SIGTERM mid-backup (the owner) and with WebRTC links open (a
 *   holder): each process is gone within 10 s and its lock with it; it starts again at once.
 * - The relay is SIGKILLed mid-backup: every daemon stays alive (no uncaught transport error
 *   ends one), the backup finishes or fails with a clear error that never says "undefined",
 *   and once the relay is back the next backup succeeds.
 * - Two `pb-node start`s at once on one data directory: exactly one runs; the other exits
 *   non-zero naming the running pid. A lock left by a dead pid is taken over.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedPort } from '../_ports.ts';
import { BIN, cli, initNode, newRelayKey, type Proc, waitFor } from '../runtime/daemon/_cluster.ts';
import { detBytes } from '../runtime/helpers.ts';

const MiB = 1024 * 1024;
/** What the tests allow a stop: the bound. */
const STOP_WITHIN_MS = 10_000;

/** Ms until `child` exits (rejects after `boundMs`, the child still running). */
function exitWithin(child: ChildProcess, boundMs: number): Promise<number> {
  const started = Date.now();
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(0);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`pid ${child.pid} still runs after ${boundMs} ms`)),
      boundMs,
    );
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(Date.now() - started);
    });
  });
}

function logOf(p: Proc): string {
  const file = join(p.dir, 'pb-node.log');
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
}

function describeDaemons(procs: readonly Proc[]): string {
  return procs
    .map((p) => {
      const state =
        p.child === null
          ? 'no process'
          : p.child.exitCode === null
            ? 'running'
            : `exited ${p.child.exitCode}`;
      return `== ${basename(p.dir)} (${state})\n${logOf(p).split('\n').slice(-20).join('\n')}`;
    })
    .join('\n');
}

class Relay {
  child: ChildProcess | null = null;
  /** The group it serves, known once the group is founded (`start` needs it). */
  groupId = '';
  constructor(
    readonly port: number,
    readonly keyFile: string,
    readonly address: string,
  ) {}

  async start(): Promise<void> {
    let out = '';
    const child = spawn(
      process.execPath,
      [
        BIN,
        'relay',
        '--listen',
        `/ip4/127.0.0.1/tcp/${this.port}`,
        '--key-file',
        this.keyFile,
        '--group',
        this.groupId,
      ],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
    this.child = child;
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    await waitFor('the relay address', async () => out.includes(this.address), 60_000);
  }

  async kill(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (child === null || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await exited;
    this.child = null;
  }
}

describe('daemon lifecycle with WebRTC links and a relay', () => {
  let root: string;
  let relay: Relay;
  let src: string;
  let owner: Proc;
  let holders: Proc[];
  let procs: Proc[];

  beforeAll(async () => {
    root = fs.mkdtempSync(join(tmpdir(), 'pb-lifecycle-'));
    src = join(root, 'src');
    fs.mkdirSync(src);
    // The relay serves this group only: it starts once the group is founded, under the
    // identity the members were told.
    const relayPort = await fixedPort();
    const relayKey = join(root, 'relay.key');
    const relayAddr = `/ip4/127.0.0.1/tcp/${relayPort}/p2p/${await newRelayKey(relayKey)}`;
    relay = new Relay(relayPort, relayKey, relayAddr);
    procs = await Promise.all(
      ['owner', 'h1', 'h2', 'h3'].map((n) =>
        initNode(root, n, [
          '--listen',
          '/p2p-circuit',
          '/webrtc',
          '--relay',
          relayAddr,
          '--pledge',
          '96MiB',
          ...(n === 'owner' ? ['--directories', src, '--schedule', 'off', '--watch-debounce', '0s'] : []),
        ]),
      ),
    );
    [owner, ...holders] = procs as [Proc, ...Proc[]];
    for (const p of procs) await p.start();
    expect((await cli(['create', '--dir', owner.dir, '--ratio', '1.5', '--tolerance', '1'])).code).toBe(0);
    relay.groupId = ((await owner.call('status')) as { groupId: string }).groupId;
    await relay.start();
    // The owner reserves on it (redialled within 10 s) before its invites name a relayed address.
    await waitFor(
      "the owner's reservation",
      async () =>
        ((await owner.call('status')) as { addresses: string[] }).addresses.some((a) =>
          a.startsWith(`${relayAddr}/p2p-circuit`),
        ),
      60_000,
    );
    for (const candidate of holders) {
      const code = (await cli(['invite', '--dir', owner.dir])).stdout.trim();
      const joining = cli(['join', code, '--dir', candidate.dir, '--json', '--wait', '60s']);
      const name = basename(candidate.dir);
      await waitFor(
        `${name}'s request`,
        async () => ((await owner.call('requests')) as { name: string }[]).some((r) => r.name === name),
        60_000,
      );
      expect((await cli(['approve', name, '--dir', owner.dir])).code).toBe(0);
      expect(JSON.parse((await joining).stdout)).toMatchObject({ outcome: 'approved' });
    }
    for (const p of procs)
      await waitFor(
        'four members with pledges',
        async () =>
          ((await p.call('members')) as { pledgeBytes: number }[]).filter((m) => m.pledgeBytes > 0).length ===
          4,
        90_000,
      );
  }, 300_000);

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await relay?.kill('SIGTERM');
    fs.rmSync(root, { recursive: true, force: true });
  });

  /** New content for the next backup: `mib` MiB in 1 MiB files. */
  function change(label: string, mib: number): void {
    for (let i = 0; i < mib; i++)
      fs.writeFileSync(join(src, `${label}-${i}.bin`), detBytes(`${label}${i}`, MiB));
  }

  /** Starts a backup; `stored` settles once it reports its first stored stripe (or it ended). */
  function backupInBackground(): {
    stored: Promise<void>;
    done: Promise<{ code: number | null; stdout: string; stderr: string }>;
  } {
    const run = spawn(process.execPath, [BIN, 'backup', '--dir', owner.dir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let onStored: () => void = () => {};
    const stored = new Promise<void>((r) => {
      onStored = r;
    });
    run.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    run.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (/stripe \d+ stored/.test(stderr)) onStored();
    });
    const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((r) =>
      run.once('exit', (code) => {
        onStored();
        r({ code, stdout, stderr });
      }),
    );
    return { stored, done };
  }

  async function connectedMembers(p: Proc): Promise<number> {
    const rows = (await p.call('members')) as { self: boolean; connected: boolean }[];
    return rows.filter((r) => !r.self && r.connected).length;
  }

  it('`pb-node stop` mid-backup ends the process within 10 s, lock and all; it starts again', async () => {
    change('stop', 24);
    await waitFor(
      'the owner linked to every holder',
      async () => (await connectedMembers(owner)) === 3,
      90_000,
    );
    // The members are linked over WebRTC (signalled through the relay), not only relayed.
    await waitFor(
      'WebRTC links from the owner to every holder',
      async () =>
        ((await owner.call('members')) as { self: boolean; link: string | null }[]).every(
          (m) => m.self || m.link === 'webrtc',
        ),
      90_000,
    );
    const { stored, done } = backupInBackground();
    await stored;
    const child = owner.child!;
    const stop = await cli(['stop', '--dir', owner.dir]);
    expect(stop.code, stop.stderr).toBe(0);
    const tookMs = await exitWithin(child, STOP_WITHIN_MS);
    expect(tookMs).toBeLessThan(STOP_WITHIN_MS);
    expect(fs.existsSync(join(owner.dir, 'daemon.pid'))).toBe(false);
    const b = await done;
    if (b.code !== 0) expect(`${b.stdout}${b.stderr}`).not.toMatch(/undefined/);
    owner.child = null;
    await owner.start();
  }, 240_000);

  it('SIGTERM mid-backup (owner) and with WebRTC links open (a holder) ends each within 10 s', async () => {
    change('term', 24);
    await waitFor(
      'the owner linked to every holder',
      async () => (await connectedMembers(owner)) === 3,
      90_000,
    );
    const h3 = holders[2]!;
    const { stored, done } = backupInBackground();
    await stored;
    const children = [owner.child!, h3.child!];
    for (const c of children) c.kill('SIGTERM');
    const took = await Promise.all(children.map((c) => exitWithin(c, STOP_WITHIN_MS)));
    for (const ms of took) expect(ms).toBeLessThan(STOP_WITHIN_MS);
    for (const p of [owner, h3]) {
      expect(fs.existsSync(join(p.dir, 'daemon.pid'))).toBe(false);
      expect(logOf(p)).toMatch(/SIGTERM: stopping/);
      p.child = null;
    }
    const b = await done;
    if (b.code !== 0) expect(`${b.stdout}${b.stderr}`).not.toMatch(/undefined/);
    for (const p of [owner, h3]) await p.start();
    await waitFor(
      'the owner linked to every holder',
      async () => (await connectedMembers(owner)) === 3,
      90_000,
    );
    const again = await cli(['backup', '--dir', owner.dir, '--json']);
    expect(again.code, `${again.stderr}\n${describeDaemons(procs)}`).toBe(0);
  }, 300_000);

  it('losing the relay mid-backup ends no daemon; the next backup succeeds once the relay is back', async () => {
    change('relay', 24);
    await waitFor(
      'the owner linked to every holder',
      async () => (await connectedMembers(owner)) === 3,
      90_000,
    );
    const marks = procs.map((p) => logOf(p).length);
    const { stored, done } = backupInBackground();
    await stored;
    await relay.kill('SIGKILL');
    const b = await done;
    if (b.code !== 0) {
      expect(`${b.stdout}${b.stderr}`).not.toMatch(/undefined/);
      expect(b.stderr).toMatch(/pb-node[a-z ]*: \S+/);
    }
    // Long enough for the reservation store to look for other relays (where the crash was).
    await new Promise((r) => setTimeout(r, 15_000));
    for (const p of procs) {
      expect(p.child?.exitCode ?? 'running', `${basename(p.dir)}\n${describeDaemons(procs)}`).toBe('running');
      const since = logOf(p).slice(marks[procs.indexOf(p)]!);
      expect(since).not.toMatch(/fatal:/);
      await p.call('status');
    }
    // With the relay gone, libp2p's discovery looks for another relay among the members, all
    // linked over WebRTC. A reservation there is useless (no one can dial its address), and it
    // would hold the one slot the configured relay needs when it comes back: none is made
    // (relay-reserve.ts). The address manager's guard (transport-guard.ts) is then never needed.
    expect(procs.map((p) => logOf(p)).join('\n')).not.toMatch(/transport: not confirming \/webrtc\//);
    await relay.start();
    // Every member reserves on the relay again, so every member can be dialed again.
    for (const p of procs)
      await waitFor(
        `${basename(p.dir)}'s reservation on the relay again`,
        async () =>
          ((await p.call('status')) as { addresses: string[] }).addresses.some((a) =>
            a.startsWith(`${relay.address}/p2p-circuit`),
          ),
        60_000,
      );
    await waitFor(
      'the owner linked to every holder',
      async () => (await connectedMembers(owner)) === 3,
      120_000,
    );
    change('relay-after', 2);
    const next = await cli(['backup', '--dir', owner.dir, '--json']);
    expect(next.code, `${next.stderr}\n${describeDaemons(procs)}`).toBe(0);
    for (const p of procs) expect(p.child?.exitCode ?? 'running').toBe('running');
  }, 300_000);
});

describe('the data-directory lock', () => {
  let root: string;

  beforeAll(() => {
    root = fs.mkdtempSync(join(tmpdir(), 'pb-lock-'));
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  it('two starts at once: exactly one runs, the other exits non-zero naming its pid; a dead pid is taken over', async () => {
    const solo = await initNode(root, 'solo', ['--no-webrtc']);
    const start = (): { child: ChildProcess; stderr: () => string } => {
      let err = '';
      const child = spawn(process.execPath, [BIN, 'start', '--dir', solo.dir], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      child.stderr?.on('data', (d: Buffer) => {
        err += d.toString();
      });
      return { child, stderr: () => err };
    };
    const a = start();
    const b = start();
    const exits = [a, b].map(
      (s) =>
        new Promise<{ s: typeof a; code: number | null }>((r) =>
          s.child.once('exit', (code) => r({ s, code })),
        ),
    );
    const first = await Promise.race(exits);
    const winner = first.s === a ? b : a;
    expect(first.code).not.toBe(0);
    expect(first.s.stderr()).toMatch(
      new RegExp(`a pb-node daemon \\(pid ${winner.child.pid}\\) already runs on`),
    );
    expect(winner.child.exitCode).toBeNull();
    solo.child = winner.child;
    await waitFor('the running daemon answers', async () => solo.call('status'), 60_000);
    const status = (await solo.call('status')) as { pid: number };
    expect(status.pid).toBe(winner.child.pid);
    expect(fs.readFileSync(join(solo.dir, 'daemon.pid'), 'utf8')).toBe(String(winner.child.pid));
    winner.child.kill('SIGTERM');
    expect(await exitWithin(winner.child, STOP_WITHIN_MS)).toBeLessThan(STOP_WITHIN_MS);
    expect(fs.existsSync(join(solo.dir, 'daemon.pid'))).toBe(false);
    // A lock left by a process that died without releasing it (kill -9): taken over.
    fs.writeFileSync(join(solo.dir, 'daemon.pid'), String(first.s.child.pid));
    solo.child = null;
    await solo.start();
    expect(fs.readFileSync(join(solo.dir, 'daemon.pid'), 'utf8')).toBe(String(solo.child!.pid));
    await solo.stop();
  }, 120_000);
});
