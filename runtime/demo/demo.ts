/**
 * `pnpm demo`: a five-member pb group on this machine (loopback only), from nothing to a restore
 * after a dead disk, in a temporary directory that is removed afterwards (also on Ctrl-C and on
 * failure). Its own relay (`pb-node relay`) and a local SMTP sink that prints what would have been
 * mailed. Every step is a real `pb-node` command, printed before it runs. Exits 0 when the
 * restored files match the originals byte for byte.
 *
 *   pnpm demo [--keep]     --keep leaves the temporary directory (and stops the daemons)
 *
 * `pnpm demo` runs this file in one Node process (`node --import tsx`), not under the `tsx`
 * command: that command relays Ctrl-C to its child and SIGKILLs the child when it does not answer
 * within about 60 ms, which a demo busy hashing files misses, and the daemons and the directory
 * were then left behind.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { loadConfig, paths, renderConfig } from '../daemon/config/config.ts';
import { callDaemon } from '../daemon/control/control.ts';
import { type ReceivedMail, SmtpSink } from './smtp-sink.ts';

const BIN = resolve(import.meta.dirname, '../bin/pb-node.mjs');
const NAMES = ['ann', 'bob', 'carol', 'dave', 'erin'] as const;
const STEP_TIMEOUT_MS = 120_000;
const keep = process.argv.includes('--keep');
const color = process.stdout.isTTY === true;
const bold = (t: string): string => (color ? `\x1b[1m${t}\x1b[0m` : t);
const dim = (t: string): string => (color ? `\x1b[2m${t}\x1b[0m` : t);

const root = fs.mkdtempSync(join(tmpdir(), 'pb-demo-'));
const children = new Set<ChildProcess>();
const allDaemons: Daemon[] = [];
let sink: SmtpSink | null = null;
let step = 0;

const short = (t: string): string => t.split(root).join('$DEMO');
/** Indents each non-empty line (chunks of child output end with a newline). */
const indent = (t: string, by = '  '): string => t.replace(/(^|\n)(?=[^\n])/g, `$1${by}`);
/** A command as shown: long arguments (invite codes) shortened. */
const shown = (args: string[]): string =>
  short(args.map((a) => (a.length > 60 && !a.startsWith('/') ? `${a.slice(0, 24)}...` : a)).join(' '));
/** A TCP port free on 127.0.0.1 now. */
async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolvePort(port));
    });
  });
}
function say(t = ''): void {
  process.stdout.write(`${t}\n`);
}
function heading(t: string): void {
  step++;
  say();
  say(bold(`== ${step}. ${t}`));
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `pb-node args`, printing the command and (unless quiet) its output. */
function pbNode(args: string[], o: { quiet?: boolean; show?: boolean; stdin?: string } = {}): Promise<Run> {
  if (o.quiet !== true) say(dim(`$ pb-node ${shown(args)}`));
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
      if (o.show !== false && o.quiet !== true) process.stdout.write(indent(short(d.toString())));
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d;
      if (o.show !== false && o.quiet !== true) process.stdout.write(dim(indent(short(d.toString()))));
    });
    // A child stopped before it read its input (Ctrl-C stops every child) closes the pipe: the
    // write then fails with EPIPE, which must not end the demo before it cleans up; the child's
    // exit is what counts.
    child.stdin.on('error', () => {});
    child.stdin.end(o.stdin ?? '');
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`pb-node ${args[0]} took longer than ${STEP_TIMEOUT_MS / 1000} s`));
    }, STEP_TIMEOUT_MS);
    child.on('error', (error) => {
      clearTimeout(timer);
      children.delete(child);
      reject(new Error(`cannot run pb-node ${args[0]}: ${error.message}`));
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      children.delete(child);
      resolvePromise({ code: code ?? 1, stdout, stderr });
    });
  });
}

async function must(args: string[], o: { quiet?: boolean; show?: boolean } = {}): Promise<Run> {
  const r = await pbNode(args, o);
  if (r.code !== 0)
    throw new Error(`pb-node ${args.join(' ')} failed (exit ${r.code}): ${short(r.stderr || r.stdout)}`);
  return r;
}

async function waitFor<T>(
  what: string,
  fn: () => Promise<T | null | undefined | false>,
  timeoutMs = 90_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== null && v !== undefined && v !== false) return v;
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last}` : ''}`);
}

class Daemon {
  child: ChildProcess | null = null;
  log = '';
  constructor(
    readonly name: string,
    readonly dir: string,
  ) {}
  async start(): Promise<void> {
    say(dim(`$ pb-node start --dir ${short(this.dir)} &`));
    const child = spawn(process.execPath, [BIN, 'start', '--dir', this.dir], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    children.add(child);
    this.child = child;
    child.stderr?.on('data', (d: Buffer) => {
      this.log = (this.log + d.toString()).slice(-50_000);
    });
    child.on('exit', () => children.delete(child));
    await waitFor(`${this.name}'s daemon`, async () => {
      if (child.exitCode !== null) throw new Error(`pb-node start exited: ${this.log}`);
      return fs.existsSync(paths(this.dir).socket) && (await this.call('status')) !== null;
    });
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

/** sha256 and mode of every file under `dir`, by relative path. */
function manifest(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (abs: string): void => {
    for (const name of fs.readdirSync(abs).sort()) {
      const p = join(abs, name);
      const st = fs.lstatSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isSymbolicLink()) out.set(relative(dir, p), `link ${fs.readlinkSync(p)}`);
      else
        out.set(
          relative(dir, p),
          `${(st.mode & 0o777).toString(8)} ${createHash('sha256').update(fs.readFileSync(p)).digest('hex')}`,
        );
    }
  };
  walk(dir);
  return out;
}

function makeSampleData(dir: string): void {
  fs.mkdirSync(join(dir, 'photos', '2026'), { recursive: true });
  fs.mkdirSync(join(dir, 'letters'), { recursive: true });
  for (let i = 1; i <= 4; i++)
    fs.writeFileSync(join(dir, 'photos', '2026', `img-${i}.raw`), randomBytes(1024 * 1024 + i * 777));
  for (let i = 1; i <= 20; i++)
    fs.writeFileSync(
      join(dir, 'letters', `letter-${i}.txt`),
      `Dear friend,\n${'the garden is fine. '.repeat(200 * i)}\n`,
    );
  fs.writeFileSync(join(dir, 'taxes.csv'), 'year,amount\n2025,1234\n2026,2345\n', { mode: 0o600 });
  fs.symlinkSync('letters/letter-1.txt', join(dir, 'latest-letter'));
}

function directAddress(status: { id: string; addresses: string[] }): string {
  const a = status.addresses.find((x) => x.startsWith('/ip4/127.0.0.1/tcp/') && !x.includes('p2p-circuit'));
  if (a === undefined) throw new Error('no direct loopback address');
  return a.includes('/p2p/') ? a : `${a}/p2p/${status.id}`;
}

function printMail(m: ReceivedMail, full: boolean): void {
  say(`  ✉  to ${m.to.join(', ')}: ${bold(m.subject)}`);
  if (full) for (const line of short(m.text).trimEnd().split('\n')) say(dim(`     | ${line}`));
}

async function main(): Promise<void> {
  const started = Date.now();
  say(
    bold(
      'pb demo: five members on this machine back each other up; one loses its disk and gets everything back.',
    ),
  );
  say(`Working in DEMO=${root} (removed at the end${keep ? ' unless --keep' : ''}).`);

  heading('A local SMTP sink stands in for your mail server');
  sink = await SmtpSink.start((m) => printMail(m, false));
  say(`  listening on 127.0.0.1:${sink.port}; every alert mail is printed here as it arrives (✉).`);

  heading('Its own relay (members behind NAT meet through it; here everyone is on loopback)');
  // The relay serves one group, so it starts once the group is founded; its identity (key file)
  // and port are fixed now, so the members can name it from the start.
  const relayKeyFile = join(root, 'relay.key');
  const relaySeed = randomBytes(32);
  fs.writeFileSync(relayKeyFile, relaySeed.toString('hex'), { mode: 0o600 });
  const relayId = peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', relaySeed)).toString();
  const relayListen = `/ip4/127.0.0.1/tcp/${await freePort()}`;
  const relayAddr = `${relayListen}/p2p/${relayId}`;
  say(`  ${relayAddr} (started below, once the group exists)`);

  heading('Five machines: pb-node init (each gets a recovery secret of 17 words)');
  const sample = join(root, 'ann-home', 'documents');
  fs.mkdirSync(sample, { recursive: true });
  makeSampleData(sample);
  const daemons = new Map<string, Daemon>();
  let annWords = '';
  for (const name of NAMES) {
    const dir = join(root, name);
    const extra =
      name === 'ann' ? ['--directories', sample, '--schedule', 'off', '--watch-debounce', '0s'] : [];
    const r = await must(
      [
        'init',
        '--dir',
        dir,
        '--name',
        name,
        '--pledge',
        '64MiB',
        '--relay',
        relayAddr,
        '--test-network',
        '--sync-interval',
        '1s',
        '--json',
        ...extra,
      ],
      { show: false },
    );
    const words = (JSON.parse(r.stdout) as { words: string }).words;
    if (name === 'ann') annWords = words;
    say(`  ${name}: secret ${name === 'ann' ? words : `${words.split('-').slice(0, 3).join('-')}-...`}`);
    // Alerts go to the sink, checked twice a second (the default is every minute).
    const c = loadConfig(dir);
    fs.writeFileSync(
      paths(dir).config,
      renderConfig({
        ...c,
        mail: {
          ...c.mail,
          host: '127.0.0.1',
          port: sink.port,
          from: `pb-${name}@demo.local`,
          to: [`${name}@demo.local`],
        },
        alerts: { ...c.alerts, checkIntervalMs: 500 },
      }),
    );
    const daemon = new Daemon(name, dir);
    daemons.set(name, daemon);
    allDaemons.push(daemon);
  }
  const secretFile = join(root, 'ann-secret-words.txt');
  fs.writeFileSync(secretFile, `${annWords}\n`, { mode: 0o600 });
  say(`  (ann wrote her words down on paper; the demo keeps them in $DEMO/ann-secret-words.txt)`);

  heading('Start the daemons');
  await Promise.all([...daemons.values()].map((d) => d.start()));
  const ann = daemons.get('ann')!;

  heading('ann founds the group; she invites the others, they join, she approves');
  await must(['create', '--dir', ann.dir, '--ratio', '1.5', '--tolerance', '1']);
  const groupId = ((await ann.call('status')) as { groupId: string }).groupId;
  let relayOut = '';
  const relay = spawn(
    process.execPath,
    [BIN, 'relay', '--listen', relayListen, '--key-file', relayKeyFile, '--group', groupId],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  children.add(relay);
  relay.stdout?.on('data', (d: Buffer) => {
    relayOut += d.toString();
  });
  say(
    dim(
      `$ pb-node relay --listen ${relayListen} --key-file $DEMO/relay.key --group ${groupId.slice(0, 12)}... &`,
    ),
  );
  await waitFor('the relay', async () => relayOut.includes(relayId));
  for (const name of NAMES.slice(1)) {
    const d = daemons.get(name)!;
    const code = (await must(['invite', '--dir', ann.dir, '--expires', '1h'], { show: false })).stdout.trim();
    say(`  ${dim('invite code:')} ${code.slice(0, 32)}...`);
    const joining = pbNode(['join', code, '--dir', d.dir, '--wait', '90s'], { show: false });
    await waitFor(`${name}'s request`, async () =>
      ((await ann.call('requests')) as { name: string }[]).some((r) => r.name === name),
    );
    await must(['approve', name, '--dir', ann.dir]);
    const j = await joining;
    if (j.code !== 0) throw new Error(`${name} could not join: ${j.stderr}`);
    say(`  ${name} joined.`);
  }
  await waitFor('everyone to see five members', async () => {
    for (const d of daemons.values())
      if (((await d.call('status')) as { members: number }).members !== 5) return false;
    return true;
  });
  await must(['members', '--dir', ann.dir]);

  heading(`ann backs up ${short(sample)} onto the other four`);
  const before = manifest(sample);
  say(
    `  ${before.size} files and links, ${fs.readdirSync(join(sample, 'photos', '2026')).length} photos and 20 letters`,
  );
  await must(['backup', '--dir', ann.dir]);

  heading('pb-node status');
  const status = await must(['status', '--dir', ann.dir]);
  const dashboard = /https?:\/\/127\.0\.0\.1:\d+\/\S*/.exec(`${status.stdout}\n${ann.log}`)?.[0] ?? null;

  heading("ann's disk starts failing: her documents vanish");
  fs.rmSync(sample, { recursive: true, force: true });
  fs.mkdirSync(sample);
  const refused = await pbNode(['backup', '--dir', ann.dir]);
  if (refused.code === 0) throw new Error('the backup of an emptied directory was not refused');
  const emptyMail = await waitFor('the empty-directories alert mail', async () =>
    sink!.mails.find((m) => m.subject === '[pb] ann: backup refused: the backed-up directories are empty'),
  );
  say('  pb refused to replace the backup with an empty one; the mail ann got reads:');
  for (const line of short(emptyMail.text).trimEnd().split('\n')) say(dim(`     | ${line}`));

  heading('The disk dies: the daemon, its data directory and the documents are gone');
  await ann.stop();
  fs.rmSync(ann.dir, { recursive: true, force: true });
  fs.rmSync(join(root, 'ann-home'), { recursive: true, force: true });
  say(`  removed ${short(ann.dir)} and ${short(join(root, 'ann-home'))}`);

  heading("On a new disk: restore with the 17 words and one member's address");
  const bobAddress = directAddress(
    (await daemons.get('bob')!.call('status')) as { id: string; addresses: string[] },
  );
  await must([
    'restore',
    '--peer',
    bobAddress,
    '--secret-file',
    secretFile,
    '--dir',
    ann.dir,
    '--test-network',
  ]);

  heading('Verify: every restored file matches the original');
  const after = manifest(sample);
  const mismatched = [...before].filter(([p, h]) => after.get(p) !== h).map(([p]) => p);
  if (after.size !== before.size || mismatched.length > 0)
    throw new Error(
      `restored tree differs: ${mismatched.slice(0, 5).join(', ')} (${after.size} vs ${before.size} entries)`,
    );
  say(`  ${after.size} of ${before.size} files and links identical (sha256 and mode).`);

  heading('ann is a member again: her daemon starts from the restored data directory');
  await ann.start();
  await must(['members', '--dir', ann.dir]);

  heading('The alert mails of this run');
  for (const m of sink.mails)
    printMail(m, !m.subject.includes('resolved') && !m.subject.includes('directories are empty'));
  if (!sink.mails.some((m) => m.subject === '[pb] ann: bob asks to join the group'))
    throw new Error('no join-request alert mail arrived');
  const dash = dashboard ?? /https?:\/\/127\.0\.0\.1:\d+\/\S*/.exec(ann.log)?.[0] ?? null;
  say();
  say(
    dash === null
      ? 'Dashboard: this build prints no dashboard address.'
      : `Dashboard (while the daemons run): ${dash}`,
  );
  say();
  say(
    bold(
      `Demo finished in ${Math.round((Date.now() - started) / 1000)} s: backed up, lost the disk, restored, verified.`,
    ),
  );
  say('Next: README.md, "Real use on three machines".');
  await Promise.all([...daemons.values()].map((d) => d.stop()));
}

let cleaning: Promise<void> | null = null;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    const deadline = Date.now() + 10_000;
    while ([...children].some((c) => c.exitCode === null) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await sink?.close();
    if (keep) say(`kept ${root}`);
    else fs.rmSync(root, { recursive: true, force: true });
  })();
  return cleaning;
}

// Ctrl-C (or SIGTERM): stop every daemon and remove the directory; a second signal changes nothing.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (cleaning !== null) return;
    say(`\n${signal}: stopping the daemons and removing ${root}`);
    void cleanup().finally(() => process.exit(130));
  });
}

main().then(
  async () => {
    await cleanup();
    process.exit(0);
  },
  async (error: Error) => {
    process.stderr.write(`\ndemo failed: ${short(error.stack ?? error.message)}\n`);
    for (const d of allDaemons) {
      const tail = d.log.trimEnd().split('\n').slice(-8).join('\n');
      if (tail !== '') process.stderr.write(`\n--- ${d.name}'s log (last lines) ---\n${short(tail)}\n`);
    }
    await cleanup();
    process.exit(1);
  },
);
