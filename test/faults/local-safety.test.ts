/**
 * Local safety (issue 15, findings 5, 7 and 9).
 * - SMTP: a real in-process SMTP server that offers no STARTTLS and takes a login, behind a TCP
 *   proxy that records every byte the client sends. With `starttls: "auto"` the mail is refused
 *   with a clear error and the password never reaches the wire; only `starttls: "off"` sends it,
 *   with a warning. A password file or recovery secret readable by others is refused with the
 *   `chmod 600` that fixes it (the daemon does not start).
 * - Modes: a formed group of real daemons, a backup; then every entry under every data directory
 *   is 0700 (directories) or 0600 (files, sockets): SQLite's -wal and -shm, the shard store, the
 *   backup folder, the logs.
 * - Pledges (below): on a small tmpfs the test mounts (skipped with the reason if it cannot).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MAIL, type MailConfig } from '../../runtime/daemon/alerts/config.ts';
import { MailError, sendMail } from '../../runtime/daemon/alerts/mailer.ts';
import { initDataDir } from '../../runtime/daemon/config/config.ts';
import { IndexDb } from '../../runtime/pipeline/index-db.ts';
import { freeBytesAt, sizeAndBytes } from '../../runtime/store/free-space.ts';
import { cli, initNode, type Proc } from '../runtime/daemon/_cluster.ts';
import { formGroup, shardFiles } from '../runtime/daemon/_group.ts';

const root = fs.mkdtempSync(join(tmpdir(), 'pb-local-safety-'));
const mounts: string[] = [];
afterAll(() => {
  for (const m of mounts) {
    try {
      execFileSync('umount', [m], { stdio: 'pipe' });
    } catch {}
  }
  fs.rmSync(root, { recursive: true, force: true });
});
const MiB = 1024 * 1024;

const PASSWORD = 'hunter2-correct-horse';

/** An SMTP server with logins but no STARTTLS, and a proxy in front that records the client's bytes. */
class PlainSmtp {
  private constructor(
    private readonly server: SMTPServer,
    private readonly proxy: net.Server,
    readonly port: number,
    readonly logins: { username: string; password: string }[],
    readonly mails: string[],
    private readonly sent: Buffer[],
  ) {}

  static async start(): Promise<PlainSmtp> {
    const logins: { username: string; password: string }[] = [];
    const mails: string[] = [];
    const server = new SMTPServer({
      disabledCommands: ['STARTTLS'],
      allowInsecureAuth: true,
      authMethods: ['PLAIN', 'LOGIN'],
      logger: false,
      onAuth(auth, _session, callback) {
        logins.push({ username: auth.username ?? '', password: auth.password ?? '' });
        callback(null, { user: auth.username });
      },
      onData(stream, _session, callback) {
        const parts: Buffer[] = [];
        stream.on('data', (b: Buffer) => parts.push(b));
        stream.on('end', () => {
          mails.push(Buffer.concat(parts).toString('utf8'));
          callback();
        });
      },
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const smtpPort = (server.server.address() as net.AddressInfo).port;
    const sent: Buffer[] = [];
    const proxy = net.createServer((client) => {
      const upstream = net.connect(smtpPort, '127.0.0.1');
      client.on('data', (b: Buffer) => sent.push(b));
      client.pipe(upstream).pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', () => resolve()));
    return new PlainSmtp(server, proxy, (proxy.address() as net.AddressInfo).port, logins, mails, sent);
  }

  /** Everything the client sent so far, as text. */
  wire(): string {
    return Buffer.concat(this.sent).toString('latin1');
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => this.proxy.close(() => r()));
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/** The password in every form an SMTP login could carry it. */
function passwordForms(user: string): string[] {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  return [PASSWORD, b64(PASSWORD), b64(`\0${user}\0${PASSWORD}`), b64(`${user}\0${user}\0${PASSWORD}`)];
}

const testMail = { subject: 'pb-node test', text: 'a test mail\n' };

describe('SMTP: no login without TLS, no readable password file', () => {
  let smtp: PlainSmtp;
  let dataDir: string;
  let config: MailConfig;
  beforeAll(async () => {
    smtp = await PlainSmtp.start();
    dataDir = join(root, 'mail');
    fs.mkdirSync(dataDir, { mode: 0o700 });
    fs.writeFileSync(join(dataDir, 'smtp-password'), `${PASSWORD}\n`, { mode: 0o600 });
    config = {
      ...DEFAULT_MAIL,
      host: '127.0.0.1',
      port: smtp.port,
      user: 'anna',
      passwordFile: 'smtp-password',
      from: 'pb@example.org',
      to: ['anna@example.org'],
    };
  });
  afterAll(() => smtp.close());

  it('starttls "auto" (the default) with a server without STARTTLS: refused, the password never sent', async () => {
    expect(config.starttls).toBe('auto');
    const warnings: string[] = [];
    const error = await sendMail(config, dataDir, testMail, (t) => warnings.push(t)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MailError);
    expect((error as MailError).code).toBe('no-starttls');
    expect((error as MailError).message).toMatch(/offers no STARTTLS/);
    expect((error as MailError).message).toMatch(/mail\.user "anna" without TLS/);
    expect((error as MailError).message).toMatch(/mail\.starttls = "off"/);
    // The client did talk to the server (EHLO, STARTTLS), but never logged in.
    expect(smtp.wire()).toMatch(/EHLO/);
    expect(smtp.wire()).toMatch(/STARTTLS/);
    expect(smtp.wire()).not.toMatch(/AUTH/);
    for (const form of passwordForms('anna')) expect(smtp.wire()).not.toContain(form);
    expect(smtp.logins).toEqual([]);
    expect(smtp.mails).toEqual([]);
    expect(warnings).toEqual([]);
  });

  it('starttls "require" without a login: refused the same way', async () => {
    const error = await sendMail(
      { ...config, user: null, passwordFile: null, starttls: 'require' },
      dataDir,
      testMail,
    ).catch((e: unknown) => e);
    expect((error as MailError).code).toBe('no-starttls');
    expect((error as MailError).message).toMatch(/mail\.starttls is "require"/);
    expect(smtp.mails).toEqual([]);
  });

  it('starttls "off" set explicitly: the mail goes through in clear, with a warning', async () => {
    const warnings: string[] = [];
    const sent = await sendMail({ ...config, starttls: 'off' }, dataDir, testMail, (t) => warnings.push(t));
    expect(sent.accepted).toEqual(['anna@example.org']);
    expect(smtp.logins).toEqual([{ username: 'anna', password: PASSWORD }]);
    expect(smtp.mails).toHaveLength(1);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/mail\.starttls is "off".*"anna".*without TLS/);
  });

  it('a password file others can read (0644) is refused with the fix, before any connection', async () => {
    const file = join(dataDir, 'open-password');
    fs.writeFileSync(file, `${PASSWORD}\n`);
    fs.chmodSync(file, 0o644);
    const before = smtp.wire().length;
    for (const starttls of ['auto', 'off'] as const) {
      const error = await sendMail({ ...config, starttls, passwordFile: file }, dataDir, testMail).catch(
        (e: unknown) => e,
      );
      expect((error as MailError).code).toBe('password-file');
      expect((error as MailError).message).toContain(`mail.passwordFile ${file}`);
      expect((error as MailError).message).toContain('mode 0644');
      expect((error as MailError).message).toContain(`chmod 600 ${file}`);
    }
    expect(smtp.wire().length).toBe(before);
    fs.chmodSync(file, 0o640);
    await expect(sendMail({ ...config, passwordFile: file }, dataDir, testMail)).rejects.toThrow(
      /mode 0640.*chmod 600/,
    );
  });

  it('`pb-node alerts test` says the same: refused under "auto", warned under "off"', async () => {
    const dir = join(root, 'alerts-node');
    initDataDir(dir, 'anna');
    fs.writeFileSync(join(dir, 'smtp-password'), `${PASSWORD}\n`, { mode: 0o600 });
    const mail = (starttls: string) =>
      `mail = ${JSON.stringify({ host: '127.0.0.1', port: smtp.port, starttls, user: 'anna', passwordFile: 'smtp-password', from: 'pb@example.org', to: ['anna@example.org'] })}\n`;
    const configFile = join(dir, 'config');
    const base = fs.readFileSync(configFile, 'utf8').replace(/^mail = .*$/m, '');
    const logins = smtp.logins.length;
    fs.writeFileSync(configFile, base + mail('auto'));
    const refused = await cli(['alerts', 'test', '--dir', dir]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/offers no STARTTLS.*mail\.starttls = "off"/);
    expect(smtp.logins.length).toBe(logins);
    fs.writeFileSync(configFile, base + mail('off'));
    const sent = await cli(['alerts', 'test', '--dir', dir]);
    expect(sent.code, sent.stderr).toBe(0);
    expect(sent.stderr).toMatch(/warning: mail\.starttls is "off"/);
    expect(smtp.logins.length).toBe(logins + 1);
  }, 60_000);

  it('a recovery secret others can read: the daemon refuses to start, with the fix', async () => {
    const dir = join(root, 'open-secret');
    initDataDir(dir, 'ben');
    const secret = join(dir, 'secret');
    fs.chmodSync(secret, 0o644);
    const r = await cli(['start', '--dir', dir]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`the recovery secret ${secret}`);
    expect(r.stderr).toContain(`chmod 600 ${secret}`);
    expect(fs.existsSync(join(dir, 'control.sock'))).toBe(false);
  }, 60_000);
});

/** Every entry under `dir` (itself included) whose mode lets the group or others in, as "path 0755". */
function openModes(dir: string): string[] {
  const out: string[] = [];
  const walk = (abs: string): void => {
    const st = fs.lstatSync(abs);
    if (st.isSymbolicLink()) return;
    if ((st.mode & 0o077) !== 0) out.push(`${abs} 0${(st.mode & 0o777).toString(8)}`);
    if (st.isDirectory()) for (const name of fs.readdirSync(abs)) walk(join(abs, name));
  };
  walk(dir);
  return out;
}

/** Every entry under `dir` by kind, for the test to show it walked what it claims. */
function kinds(dir: string): { dirs: string[]; files: string[]; sockets: string[] } {
  const r = { dirs: [] as string[], files: [] as string[], sockets: [] as string[] };
  const walk = (abs: string, rel: string): void => {
    const st = fs.lstatSync(abs);
    if (st.isDirectory()) {
      r.dirs.push(rel);
      for (const name of fs.readdirSync(abs)) walk(join(abs, name), rel === '.' ? name : `${rel}/${name}`);
    } else if (st.isSocket()) r.sockets.push(rel);
    else if (st.isFile()) r.files.push(rel);
  };
  walk(dir, '.');
  return r;
}

describe('modes: nothing under a data directory is open to the group or others', () => {
  let procs: Proc[] = [];
  let src: string;
  beforeAll(async () => {
    process.umask(0o022); // the usual umask: the daemons must not depend on a stricter one
    const groupRoot = join(root, 'modes');
    src = join(groupRoot, 'home', 'docs');
    fs.mkdirSync(src, { recursive: true });
    ({ procs } = await formGroup(groupRoot, ['owner', 'h1', 'h2', 'h3'], {
      owner: ['--directories', src, '--schedule', 'off', '--watch-debounce', '0s'],
    }));
  }, 240_000);
  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
  });

  it('after init, start, a group and a backup: directories 0700, files and sockets 0600', async () => {
    const [owner, ...holders] = procs as [Proc, ...Proc[]];
    for (let i = 0; i < 20; i++)
      fs.writeFileSync(join(src, `file-${i}.txt`), `content ${i}\n`.repeat(500 + i));
    const b = await cli(['backup', '--dir', owner.dir, '--json']);
    expect(b.code, b.stderr).toBe(0);
    expect(holders.reduce((n, h) => n + shardFiles(h).length, 0)).toBeGreaterThan(0);
    // While the daemons run (sockets, open SQLite files with their -wal and -shm) and after.
    for (const p of procs) expect(openModes(p.dir), p.dir).toEqual([]);
    const seen = kinds(owner.dir);
    expect(seen.dirs).toEqual(expect.arrayContaining(['.', 'backup', 'shards', 'shards/store', 'group']));
    expect(seen.files).toEqual(
      expect.arrayContaining([
        'secret',
        'config',
        'pb-node.log',
        'backup/index.sqlite',
        'shards/reservation',
      ]),
    );
    expect(seen.sockets).toContain('control.sock');
    const holderSeen = kinds(holders[0]!.dir);
    expect(holderSeen.files.some((f) => /^shards\/store\/.*[0-9a-f]{64}$/.test(f))).toBe(true);
    await Promise.all(procs.map((p) => p.stop()));
    for (const p of procs) expect(openModes(p.dir), p.dir).toEqual([]);

    // SQLite's -wal and -shm exist only while the index is open: open it here, under this
    // process's umask 022, after an older pb-node left the database 0644.
    const index = join(owner.dir, 'backup', 'index.sqlite');
    fs.chmodSync(index, 0o644);
    const db = new IndexDb(index);
    try {
      expect(db.listSnapshots().length).toBeGreaterThan(0);
      for (const suffix of ['', '-wal', '-shm']) {
        expect(fs.existsSync(`${index}${suffix}`), suffix).toBe(true);
        expect(fs.statSync(`${index}${suffix}`).mode & 0o777, suffix).toBe(0o600);
      }
    } finally {
      db.close();
    }
  }, 180_000);
});

/** Mounts a tmpfs of `bytes` at `dir`; the reason when this user cannot, else null. */
function mountTmpfs(dir: string, bytes: number): string | null {
  fs.mkdirSync(dir, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes},mode=0700`, 'tmpfs', dir], { stdio: 'pipe' });
    mounts.push(dir);
    return null;
  } catch (error) {
    return `cannot mount a tmpfs here (${String((error as { stderr?: Buffer }).stderr ?? error).trim()})`;
  }
}

const small = join(root, 'small-fs');
const cannotMount = mountTmpfs(small, 300 * MiB);
if (cannotMount !== null) console.warn(`pledge tests skipped: ${cannotMount}`);

interface StoreReport {
  pledgeBytes: number;
  reservationBytes: number;
  reservationAllocatedBytes: number;
}

// Skipped only where a tmpfs cannot be mounted (not root): the reason is in the title and the log.
describe.skipIf(cannotMount !== null)(
  `pledges never fill the disk (a 300 MiB tmpfs)${cannotMount === null ? '' : ` (skipped: ${cannotMount})`}`,
  () => {
    let member: Proc | null = null;
    afterAll(async () => {
      await member?.stop();
    });
    const store = async (p: Proc): Promise<StoreReport> =>
      ((await p.call('status')) as { store: StoreReport }).store;
    const allocated = (file: string): number => (fs.existsSync(file) ? fs.statSync(file).blocks * 512 : 0);

    it('init --pledge larger than the free space is refused, naming what is free; nothing is created', async () => {
      const dir = join(small, 'too-big');
      const free = freeBytesAt(small);
      expect(free).toBeLessThanOrEqual(300 * MiB);
      const r = await cli(['init', '--dir', dir, '--name', 'big', '--pledge', '500MiB', '--test-network']);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`--pledge ${sizeAndBytes(500 * MiB)} does not fit the disk`);
      expect(r.stderr).toContain(`only ${sizeAndBytes(free)} free at ${join(dir, 'shards')}`);
      expect(r.stderr).toContain(`pledge at most ${sizeAndBytes(free)}`);
      expect(fs.existsSync(dir)).toBe(false);
      expect(freeBytesAt(small)).toBe(free);
    });

    it('pledge on a running member: over the free space refused, nothing allocated, the old pledge kept', async () => {
      member = await initNode(small, 'holder', ['--pledge', '100MiB', '--schedule', 'off']);
      await member.start();
      const reservation = join(member.dir, 'shards', 'reservation');
      expect(await store(member)).toMatchObject({
        pledgeBytes: 100 * MiB,
        reservationAllocatedBytes: 100 * MiB,
      });
      const stateFile = join(member.dir, 'state.json');
      const readState = (): string | null =>
        fs.existsSync(stateFile) ? fs.readFileSync(stateFile, 'utf8') : null;
      const state = readState();
      const config = fs.readFileSync(join(member.dir, 'config'), 'utf8');

      const freeBefore = freeBytesAt(small);
      const refused = await cli(['pledge', '1GiB', '--dir', member.dir]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(`cannot pledge ${sizeAndBytes(1024 * MiB)}: only `);
      expect(refused.stderr).toMatch(/only [\d.]+ [kMG]B \(\d+ bytes\) free at \S+ besides the 105 MB/);
      expect(refused.stderr).toMatch(/pledge at most [\d.]+ [kMG]B/);
      // No extra allocation: the reservation file and the free space are what they were (give or
      // take a log line), the pledge in status, state and config unchanged.
      expect(allocated(reservation)).toBe(100 * MiB);
      expect(Math.abs(freeBytesAt(small) - freeBefore)).toBeLessThan(MiB);
      expect(await store(member)).toMatchObject({ pledgeBytes: 100 * MiB, reservationBytes: 100 * MiB });
      expect(readState()).toBe(state);
      expect(fs.readFileSync(join(member.dir, 'config'), 'utf8')).toBe(config);

      // What the reservation already holds counts: 250 MiB needs only 150 MiB more (under 200 free).
      expect(freeBefore).toBeLessThan(250 * MiB);
      const grown = await cli(['pledge', '250MiB', '--dir', member.dir]);
      expect(grown.code, grown.stderr).toBe(0);
      expect(await store(member)).toMatchObject({
        pledgeBytes: 250 * MiB,
        reservationAllocatedBytes: 250 * MiB,
      });
      const back = await cli(['pledge', '100MiB', '--dir', member.dir]);
      expect(back.code, back.stderr).toBe(0);
      expect(allocated(reservation)).toBe(100 * MiB);
    }, 120_000);

    it('start with a pledge the disk no longer holds: refused, naming what is free; nothing left allocated', async () => {
      const p = member!;
      await p.stop();
      const reservation = join(p.dir, 'shards', 'reservation');
      fs.rmSync(reservation);
      const filler = join(small, 'filler');
      fs.writeFileSync(filler, Buffer.alloc(250 * MiB));
      const freeBefore = freeBytesAt(small);
      expect(freeBefore).toBeLessThan(100 * MiB);
      const r = await cli(['start', '--dir', p.dir]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`cannot pledge ${sizeAndBytes(100 * MiB)}: only `);
      expect(r.stderr).toMatch(/only [\d.]+ [kMG]B \(\d+ bytes\) free at \S+; pledge at most [\d.]+ [kMG]B/);
      expect(allocated(reservation)).toBe(0);
      expect(Math.abs(freeBytesAt(small) - freeBefore)).toBeLessThan(MiB);
      // Space back: the same member starts with its pledge reserved.
      fs.rmSync(filler);
      await p.start();
      expect(await store(p)).toMatchObject({ pledgeBytes: 100 * MiB, reservationAllocatedBytes: 100 * MiB });
    }, 120_000);
  },
);
