/**
 * Resume without re-sending (issue 7): five members; the owner's daemon is killed with SIGKILL
 * at random points of its backups (seeded, the seed printed), restarted, and each time the
 * resumed run completes. The holders count every put they receive and every put of a shard they
 * already held: the latter stays zero (what landed before the kill was not sent again: the
 * resumed run settled the interrupted stripes with `has` and committed them), and the stripes
 * settled that way are reported. A restore at the end is exact.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import seedrandom from 'seedrandom';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeHead } from '../../../engine/index.ts';
import { secretToWords } from '../../../runtime/daemon/recovery/secret-words.ts';
import { BIN, cli, type Proc, waitFor } from './_cluster.ts';
import { directAddress, fixTimes, formGroup, manifest, storeReport } from './_group.ts';

const SEED = process.env.PB_RESUME_SEED ?? String(Date.now());

describe('kill -9 during backups: resume without re-sending', () => {
  let root: string;
  let procs: Proc[] = [];
  let ids = new Map<Proc, string>();
  let src: string;

  beforeAll(async () => {
    root = fs.mkdtempSync(join(tmpdir(), 'pb-resume-'));
    src = join(root, 'home', 'data');
    fs.mkdirSync(src, { recursive: true });
    ({ procs, ids } = await formGroup(
      root,
      ['owner', 'm2', 'm3', 'm4', 'm5'],
      {
        owner: ['--directories', src, '--schedule', 'off', '--watch-debounce', '0s'],
      },
      '160MiB',
    ));
  }, 240_000);

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('completes after each kill, sends no landed shard again and restores exactly', async () => {
    console.log(`resume test seed: ${SEED} (PB_RESUME_SEED=${SEED} to repeat)`);
    const rng = seedrandom(SEED);
    const [owner, ...holders] = procs as [Proc, ...Proc[]];
    const ownerId = ids.get(owner)!;
    const headSeq = (): number => {
      const file = join(holders[0]!.dir, 'heads', `${ownerId}.head`);
      return fs.existsSync(file) ? decodeHead(fs.readFileSync(file)).seq : 0;
    };
    let settled = 0;
    const cycles = 3;
    for (let cycle = 0; cycle < cycles; cycle++) {
      fs.writeFileSync(
        join(src, `part-${cycle}.bin`),
        randomBytes((48 + Math.floor(rng() * 16)) * 1024 * 1024),
      );
      fs.writeFileSync(join(src, `note-${cycle}.txt`), `cycle ${cycle}\n`);
      const seqBefore = headSeq();
      const logBefore = fs.existsSync(join(owner.dir, 'pb-node.log'))
        ? fs.readFileSync(join(owner.dir, 'pb-node.log'), 'utf8').length
        : 0;
      // Kill after the first few stripes are stored, plus a random delay (puts in flight).
      const stripesBeforeKill = 1 + Math.floor(rng() * 2);
      const extraDelayMs = Math.floor(rng() * 150);
      const run = spawn(process.execPath, [BIN, 'backup', '--dir', owner.dir], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let err = '';
      const exited = new Promise((r) => run.once('exit', r));
      await new Promise<void>((resolve) => {
        run.stderr.on('data', (d: Buffer) => {
          err += d.toString();
          if ((err.match(/stripe \d+ stored/g) ?? []).length >= stripesBeforeKill) resolve();
        });
        void exited.then(() => resolve());
      });
      await new Promise((r) => setTimeout(r, extraDelayMs));
      owner.child!.kill('SIGKILL');
      await exited;
      expect(headSeq(), `cycle ${cycle}: the kill came before the run ended (${err})`).toBe(seqBefore);
      const atKill = await Promise.all(holders.map(storeReport));
      fs.rmSync(join(owner.dir, 'daemon.pid'), { force: true });
      owner.child = null;
      await owner.start();
      await waitFor(`cycle ${cycle}: the resumed backup`, async () => headSeq() === seqBefore + 1, 120_000);
      const after = await Promise.all(holders.map(storeReport));
      holders.forEach((h, i) => {
        expect(after[i]!.putsAlreadyHeld, `${h.dir}: puts of shards it already held`).toBe(
          atKill[i]!.putsAlreadyHeld,
        );
      });
      expect(after.reduce((n, r) => n + r.putsAlreadyHeld, 0)).toBe(0);
      const log = fs.readFileSync(join(owner.dir, 'pb-node.log'), 'utf8').slice(logBefore);
      expect(log).toMatch(/resuming an interrupted backup/);
      const resumed =
        /resume: (\d+) stripes of the interrupted run completed from their holders \((\d+) shards had landed/.exec(
          log,
        );
      expect(resumed, log).not.toBeNull();
      console.log(
        `cycle ${cycle}: killed after ${stripesBeforeKill} stripes + ${extraDelayMs} ms; ${resumed![0]}`,
      );
      settled += Number(resumed![1]);
    }
    // At least one kill caught a stripe whose shards had landed but were not committed.
    expect(settled).toBeGreaterThan(0);

    // A restore from the newest head is exact.
    fixTimes(src);
    const b = await cli(['backup', '--dir', owner.dir, '--json']);
    expect(b.code, b.stderr).toBe(0);
    const before = manifest(src);
    const words = secretToWords(
      Buffer.from(fs.readFileSync(join(owner.dir, 'secret'), 'utf8').trim(), 'hex'),
    );
    const secretFile = join(root, 'words.txt');
    fs.writeFileSync(secretFile, `${words}\n`, { mode: 0o600 });
    const target = join(root, 'restored');
    const r = await cli([
      'restore',
      '--peer',
      await directAddress(holders[1]!),
      '--secret-file',
      secretFile,
      '--target',
      target,
      '--dir',
      join(root, 'owner-again'),
      '--test-network',
      '--json',
    ]);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(manifest(join(target, src))).toEqual(before);
  }, 600_000);
});
