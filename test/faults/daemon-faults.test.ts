/**
 * Faults across real pb-node daemons on 127.0.0.1 (an owner and three holders, ratio 1.5,
 * tolerance 1):
 * - A holder never sees plaintext or file names: files with distinctive names and contents are
 *   backed up, then every byte of every file in every holder's data directory is searched for
 *   the names, the contents, a slice of a random file and the source path.
 * - Forged ops (a non-member's, and a member's with a broken signature) pushed over /pb/group/1
 *   by a member's identity change nothing; forged heads (another key's signature), stale heads
 *   (an older seq) and a non-member's head are refused over /pb/head/1 with their codes.
 *   (Strangers, removed members, reused/expired invites: test/runtime/daemon/membership.test.ts.)
 * - A holder is SIGKILLed while it receives shards: after its restart it holds no partial shard,
 *   the next backup completes and the group restore is exact.
 * - The owner's daemon is SIGKILLed mid-backup DAEMON_KILLS times (CI 3, --long 12): its index
 *   stays consistent, the next backup completes, and `restore --peer` is bit-identical.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { multiaddr } from '@multiformats/multiaddr';
import seedrandom from 'seedrandom';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decodeCbor,
  decodeHead,
  decodeOp,
  deriveMemberKeys,
  encodeCbor,
  foldGroup,
  type GroupOp,
  nextHeader,
  signHead,
  signOp,
  syncIndex,
} from '../../engine/index.ts';
import { secretToWords } from '../../runtime/daemon/recovery/secret-words.ts';
import { OPEN_POLICY } from '../../runtime/net/access.ts';
import { NetError } from '../../runtime/net/errors.ts';
import { syncWithPeer } from '../../runtime/net/group-sync.ts';
import { putHead } from '../../runtime/net/head-protocol.ts';
import { fixedPort } from '../_ports.ts';
import { cli, initNode, type Proc, waitFor } from '../runtime/daemon/_cluster.ts';
import { describeTree, detBytes, expectSameTree } from '../runtime/helpers.ts';
import { testNode } from '../runtime/net/_helpers.ts';
import { DAEMON_KILLS, scaledTimeoutMs } from './_counts.ts';
import { expectIndexConsistent, MiB } from './_local.ts';

const CANARY_NAME = `PBCANARYNAME${randomBytes(6).toString('hex')}`;
const CANARY_TEXT = `PBCANARYTEXT${randomBytes(6).toString('hex')}`;

async function directAddress(member: Proc): Promise<string> {
  const status = (await member.call('status')) as { addresses: string[] };
  const a = status.addresses.find((x) => x.includes('/tcp/') && !x.includes('p2p-circuit'));
  if (a === undefined) throw new Error('no direct TCP address');
  return a;
}

/** Every regular file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const rel of fs.readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const p = join(dir, rel);
    const st = fs.lstatSync(p);
    if (st.isFile()) out.push(p);
  }
  return out;
}

/** Searches `file` for each needle, streaming with an overlap; returns the needles found. */
function findIn(file: string, needles: readonly Buffer[]): Buffer[] {
  const longest = Math.max(...needles.map((n) => n.length));
  const fd = fs.openSync(file, 'r');
  const found = new Set<Buffer>();
  const buf = Buffer.allocUnsafe(4 * MiB + longest);
  let carry = 0;
  try {
    for (;;) {
      const n = fs.readSync(fd, buf, carry, 4 * MiB, null);
      if (n === 0) break;
      const view = buf.subarray(0, carry + n);
      for (const needle of needles) if (view.includes(needle)) found.add(needle);
      carry = Math.min(longest - 1, view.length);
      view.copy(buf, 0, view.length - carry);
    }
  } finally {
    fs.closeSync(fd);
  }
  return [...found];
}

/** Each daemon's process state and the tail of its log: why a backup could not reach a member. */
function describeDaemons(procs: readonly Proc[]): string {
  return procs
    .map((p) => {
      const file = join(p.dir, 'pb-node.log');
      const tail = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').slice(-15).join('\n') : '';
      const state =
        p.child === null
          ? 'no process'
          : p.child.exitCode === null
            ? 'running'
            : `exited ${p.child.exitCode}`;
      return `== ${basename(p.dir)} (${state})\n${tail}\n${p.stderr.slice(-2000)}`;
    })
    .join('\n');
}

/** Where a daemon's shard files live (reserveDir 'shards', then its DirShardStore). */
const shardDirOf = (p: Proc) => join(p.dir, 'shards', 'store', 'shards');

describe('faults across pb-node daemons', () => {
  let root: string;
  const nodes: Proc[] = [];
  const ids = new Map<Proc, string>();
  let owner: Proc;
  let holders: Proc[];
  let src: string;
  let randomSlice: Buffer;

  beforeAll(async () => {
    root = fs.mkdtempSync(join(tmpdir(), 'pb-faults-daemons-'));
    src = join(root, 'home', 'alice-documents');
    fs.mkdirSync(join(src, `${CANARY_NAME}-folder`), { recursive: true });
    const procs = await Promise.all(
      ['owner', 'h1', 'h2', 'h3'].map(async (n) =>
        initNode(root, n, [
          '--listen',
          `/ip4/127.0.0.1/tcp/${await fixedPort()}`,
          '/p2p-circuit',
          '/webrtc',
          '--pledge',
          '96MiB',
          ...(n === 'owner' ? ['--directories', src, '--schedule', 'off', '--watch-debounce', '0s'] : []),
        ]),
      ),
    );
    nodes.push(...procs);
    [owner, ...holders] = procs as [Proc, Proc, Proc, Proc];
    await Promise.all(procs.map((p) => p.start()));
    for (const p of procs) ids.set(p, ((await p.call('status')) as { id: string }).id);
    expect((await cli(['create', '--dir', owner.dir, '--ratio', '1.5', '--tolerance', '1'])).code).toBe(0);
    for (const candidate of holders) {
      const code = (await cli(['invite', '--dir', owner.dir])).stdout.trim();
      const joining = cli(['join', code, '--dir', candidate.dir, '--json', '--wait', '60s']);
      const name = basename(candidate.dir);
      await waitFor(`${name}'s request`, async () =>
        ((await owner.call('requests')) as { name: string }[]).some((r) => r.name === name),
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
        60_000,
      );
  }, 180_000);

  afterAll(async () => {
    await Promise.all(nodes.map((p) => p.stop()));
    fs.rmSync(root, { recursive: true, force: true });
  });

  async function backup(): Promise<{ stored: { stripes: number }; heads: { seq: number } }> {
    const b = await cli(['backup', '--dir', owner.dir, '--json']);
    expect(b.code, `${b.stderr}${b.stdout}\n${describeDaemons(nodes)}`).toBe(0);
    return JSON.parse(b.stdout);
  }

  /** `restore --peer` from a holder into a fresh directory, compared with the sources. */
  async function restoreExact(label: string): Promise<void> {
    const words = secretToWords(
      Buffer.from(fs.readFileSync(join(owner.dir, 'secret'), 'utf8').trim(), 'hex'),
    );
    const secretFile = join(root, 'words.txt');
    fs.writeFileSync(secretFile, `${words}\n`, { mode: 0o600 });
    const target = join(root, `restored-${label}`);
    const r = await cli([
      'restore',
      '--peer',
      await directAddress(holders[0]!),
      '--secret-file',
      secretFile,
      '--target',
      target,
      '--dir',
      join(root, `recovered-${label}`),
      '--test-network',
      '--json',
    ]);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expectSameTree(describeTree(join(target, src)), describeTree(src));
    fs.rmSync(target, { recursive: true, force: true });
    fs.rmSync(join(root, `recovered-${label}`), { recursive: true, force: true });
  }

  it('forged ops and forged, stale or foreign heads are refused by a member over real sockets', async () => {
    const [h1, , h3] = holders as [Proc, Proc, Proc];
    const ownerId = ids.get(owner)!;
    fs.writeFileSync(join(src, 'first.txt'), 'the first snapshot\n');
    await backup(); // the owner's head is now on every holder
    const headSeqBefore = decodeHead(fs.readFileSync(join(h1.dir, 'heads', `${ownerId}.head`))).seq;
    const opsBinBefore = fs.readFileSync(join(h1.dir, 'group', 'ops.bin'));
    const memberList = async () =>
      JSON.stringify(
        ((await h1.call('members')) as { id: string; name: string; pledgeBytes: number }[])
          .map((x) => `${x.id} ${x.name} ${x.pledgeBytes}`)
          .sort(),
      );
    const membersBefore = await memberList();
    let brokenOp: Uint8Array = new Uint8Array(0);
    await h3.stop();
    const h3Secret = Uint8Array.from(
      Buffer.from(fs.readFileSync(join(h3.dir, 'secret'), 'utf8').trim(), 'hex'),
    );
    const m = await testNode(() => OPEN_POLICY, {}, h3Secret);
    const target = ids.get(h1)!;
    try {
      await m.node.dial(multiaddr(await directAddress(h1)));
      // The group's ops, as a member receives them.
      const got: Uint8Array[] = [];
      await syncWithPeer(m.node, target, {
        index: () => syncIndex([]),
        opBytes: () => undefined,
        receive: async (_p, ops) => {
          got.push(...ops);
          return ops.length;
        },
      });
      const ops: GroupOp[] = got.map((b) => decodeOp(b));
      const now = Date.now();
      const stranger = deriveMemberKeys(randomBytes(32));
      // 1. A non-member's pledge and removal of the owner: validly signed, not a member's.
      const byStranger = signOp(stranger, nextHeader(foldGroup(ops, now), now), {
        kind: 'remove',
        member: ownerId,
      });
      // 2. A member's op (h3 removing the owner) whose signature is broken.
      const h3Keys = deriveMemberKeys(h3Secret);
      const real = signOp(h3Keys, nextHeader(foldGroup(ops, now), now), { kind: 'remove', member: ownerId });
      const broken = Uint8Array.from(real.bytes);
      broken[broken.length - 5]! ^= 0x10;
      brokenOp = broken;
      const offered = new Map<string, Uint8Array>([
        [byStranger.hash, byStranger.bytes],
        [real.hash, broken],
      ]);
      await syncWithPeer(m.node, target, {
        index: () => syncIndex([...ops.map((o) => o.hash), ...offered.keys()]),
        opBytes: (h) => offered.get(h) ?? got[ops.findIndex((o) => o.hash === h)],
        receive: async () => 0,
      }).catch(() => 0);
      // 3. Heads: another key's head claiming the owner; the owner's older head; a non-member's head.
      const forged = signHead(stranger, headSeqBefore + 5, Buffer.from('forged'));
      const refusals: Record<string, string> = {};
      const tryPut = async (name: string, bytes: Uint8Array) => {
        try {
          await putHead(m.node, target, bytes);
          refusals[name] = 'accepted';
        } catch (e) {
          refusals[name] = e instanceof NetError ? e.code : `untyped: ${(e as Error).message}`;
        }
      };
      // A head whose payload names the owner's key but is signed by another key.
      const ownerHead = fs.readFileSync(join(h1.dir, 'heads', `${ownerId}.head`));
      const [payload] = decodeCbor(ownerHead) as [Uint8Array, Uint8Array];
      const [version, ownerKey, , body] = decodeCbor(payload) as [number, Uint8Array, number, Uint8Array];
      const higherPayload = encodeCbor([version, ownerKey, headSeqBefore + 10, body]);
      const otherSig = decodeCbor(forged.bytes) as [Uint8Array, Uint8Array];
      await tryPut('forged (another key signs the owner head)', encodeCbor([higherPayload, otherSig[1]]));
      await tryPut('stale (the owner head, same seq)', ownerHead);
      await tryPut('foreign (a non-member head)', forged.bytes);
      expect(refusals).toEqual({
        'forged (another key signs the owner head)': 'bad-signature',
        'stale (the owner head, same seq)': 'stale',
        'foreign (a non-member head)': 'unauthorized',
      });
      console.log(`forged input refused over /pb/head/1: ${JSON.stringify(refusals)}`);
    } finally {
      await m.node.stop();
      await h3.start();
    }
    // Nothing changed on h1: the owner's head, the member list; the broken op was not kept.
    expect(decodeHead(fs.readFileSync(join(h1.dir, 'heads', `${ownerId}.head`))).seq).toBe(headSeqBefore);
    expect(await memberList()).toBe(membersBefore);
    const opsBin = fs.readFileSync(join(h1.dir, 'group', 'ops.bin'));
    expect(brokenOp.length).toBeGreaterThan(0);
    expect(opsBin.includes(Buffer.from(brokenOp)), 'the op with a broken signature was kept').toBe(false);
    expect(opsBin.subarray(0, opsBinBefore.length).equals(opsBinBefore)).toBe(true);
    const members = (await h1.call('members')) as { id: string }[];
    expect(members.map((x) => x.id)).toContain(ownerId);
  }, 120_000);

  it('a holder killed while receiving: no partial shard after its restart, next backup completes, restore exact', async () => {
    const h2 = holders[1]!;
    for (let i = 0; i < 6; i++) fs.writeFileSync(join(src, `bulk-${i}.bin`), detBytes(`bulk-${i}`, 5 * MiB));
    const shardsBefore = fs.existsSync(shardDirOf(h2)) ? filesUnder(shardDirOf(h2)).length : 0;
    const running = cli(['backup', '--dir', owner.dir, '--json']);
    await waitFor(
      'h2 to receive shards',
      async () => fs.existsSync(shardDirOf(h2)) && filesUnder(shardDirOf(h2)).length > shardsBefore,
      60_000,
    );
    h2.child?.kill('SIGKILL');
    await new Promise((r) => h2.child?.once('exit', r));
    h2.child = null;
    const first = await running; // may complete (retries, other holders) or fail clearly
    if (first.code !== 0)
      expect(first.stdout + first.stderr).toMatch(/error|refused|unreachable|closed|failed/i);
    await h2.start();
    expect(fs.readdirSync(join(h2.dir, 'shards', 'store', 'tmp'))).toEqual([]);
    for (const f of filesUnder(shardDirOf(h2)))
      expect(createHash('sha256').update(fs.readFileSync(f)).digest('hex'), f).toBe(basename(f));
    await backup();
    await restoreExact('after-holder-kill');
    console.log(
      `holder killed while receiving: first backup ${first.code === 0 ? 'completed anyway' : 'failed clearly'}; no partial shard; restore exact`,
    );
  }, 240_000);

  it(
    `the owner's daemon killed mid-backup ${DAEMON_KILLS} times: index consistent, next backup completes, restore exact`,
    async () => {
      const random = seedrandom(process.env.PB_FAULTS_SEED ?? 'pb-faults-daemon-1');
      let killed = 0;
      for (let round = 0; round < DAEMON_KILLS; round++) {
        fs.writeFileSync(join(src, `round-${round}.bin`), detBytes(`round-${round}`, 4 * MiB + round));
        const running = cli(['backup', '--dir', owner.dir, '--json']);
        await new Promise((r) => setTimeout(r, 200 + Math.floor(random() * 1500)));
        if (owner.child && owner.child.exitCode === null) {
          owner.child.kill('SIGKILL');
          await new Promise((r) => owner.child?.once('exit', r));
          killed++;
        }
        owner.child = null;
        await running;
        expectIndexConsistent(join(owner.dir, 'backup'));
        await owner.start();
        // The restarted daemon resumes the interrupted backup by itself (about 2 s after start):
        // wait for that run to end, then back up once more and expect it to complete.
        await waitFor(
          'the resumed backup to end',
          async () => {
            await new Promise((r) => setTimeout(r, 2500));
            return ((await owner.call('status')) as { backup: { state: string } }).backup.state !== 'running';
          },
          120_000,
        );
        await backup();
        expectIndexConsistent(join(owner.dir, 'backup'));
      }
      await restoreExact('after-owner-kills');
      console.log(
        `owner daemon: ${killed} of ${DAEMON_KILLS} backups killed; each next backup completed; restore exact`,
      );
      expect(killed).toBe(DAEMON_KILLS);
    },
    scaledTimeoutMs(300_000, 1_800_000),
  );
  it('a holder never sees plaintext, file names or paths (every byte of every holder file)', async () => {
    const big = detBytes('canary-random', 3 * MiB + 77);
    randomSlice = big.subarray(1_234_567, 1_234_567 + 48);
    fs.writeFileSync(join(src, `${CANARY_NAME}.txt`), `${CANARY_TEXT}\n`.repeat(5000));
    fs.writeFileSync(join(src, `${CANARY_NAME}-folder`, `tiny-${CANARY_NAME}.md`), CANARY_TEXT);
    fs.writeFileSync(join(src, `${CANARY_NAME}-folder`, 'random.bin'), big);
    const summary = await backup();
    expect(summary.stored.stripes).toBeGreaterThan(0);
    const needles: Buffer[] = [CANARY_NAME, CANARY_TEXT, 'alice-documents', src].map((s) => Buffer.from(s));
    needles.push(Buffer.from(randomSlice));
    let scannedFiles = 0;
    let scannedBytes = 0;
    let shardFiles = 0;
    for (const h of holders) {
      for (const f of filesUnder(h.dir)) {
        if (f.endsWith('.sock')) continue;
        const found = findIn(f, needles);
        expect(
          found.map((n) => n.toString('latin1').slice(0, 40)),
          `${f} holds plaintext`,
        ).toEqual([]);
        scannedFiles++;
        scannedBytes += fs.statSync(f).size;
        if (f.startsWith(shardDirOf(h))) shardFiles++;
      }
    }
    // The scan did look at the data: the shards are there, and the same search finds the needles
    // in the owner's sources.
    expect(shardFiles).toBeGreaterThan(0);
    expect(findIn(join(src, `${CANARY_NAME}-folder`, 'random.bin'), [randomSlice])).toHaveLength(1);
    console.log(
      `plaintext scan: ${scannedFiles} files (${(scannedBytes / MiB).toFixed(1)} MiB, ${shardFiles} in shard stores) on 3 holders: no name, content or path found`,
    );
  }, 120_000);
});
