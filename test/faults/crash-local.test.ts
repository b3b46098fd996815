/**
 * Crash, local mode: `pb-node backup` is SIGKILLed at seeded random points (start-up, scan,
 * chunking, shard writes, index commits), LOCAL_KILLS times (CI 20, --long 200), while the
 * sources change between runs. After every kill the index is intact (SQLite integrity, every
 * stripe with all its k+m shard rows, no object in a missing stripe); after every fifth round
 * the next backup completes and the restore is bit-identical to the sources; at the end `gc`
 * removes what the killed runs left and the newest snapshot still restores exactly.
 * PB_FAULTS_SEED replays a run.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import seedrandom from 'seedrandom';
import { afterAll, describe, expect, it } from 'vitest';
import { detBytes, tempDir } from '../runtime/helpers.ts';
import { LOCAL_KILLS, scaledTimeoutMs } from './_counts.ts';
import {
  expectIndexConsistent,
  expectRestoreExact,
  localRepo,
  MiB,
  pbJson,
  pbNode,
  shardFiles,
  shardWrites,
  writeFiles,
} from './_local.ts';

const root = tempDir('faults-crash-local');
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe('crash: kill -9 of the backing-up node (local mode)', () => {
  it(
    `${LOCAL_KILLS} kills at random points: index consistent, next run completes, restore exact`,
    async () => {
      const seed = process.env.PB_FAULTS_SEED ?? 'pb-faults-crash-1';
      console.log(`crash-local seed ${seed} (PB_FAULTS_SEED=${seed} replays it)`);
      const random = seedrandom(seed);
      const { config, src, data } = await localRepo(root);
      writeFiles(src, 'base', 8, 3 * MiB);
      let killed = 0;
      let completedByThemselves = 0;
      let restores = 0;
      // Rounds go on until LOCAL_KILLS runs were really killed (a run may finish before its kill).
      const maxRounds = 2 * LOCAL_KILLS;
      let round = 0;
      for (; killed < LOCAL_KILLS && round < maxRounds; round++) {
        // The sources change: one new file, one rewritten, now and then one deleted.
        writeFiles(src, `r${round}`, 2, 4 * MiB);
        const all = fs
          .readdirSync(src, { recursive: true, encoding: 'utf8' })
          .filter((p) => p.endsWith('.bin'));
        const victim = join(src, all[Math.floor(random() * all.length)]!);
        fs.writeFileSync(victim, detBytes(`rewrite-${round}`, Math.floor(random() * MiB)));
        if (round % 7 === 6) fs.rmSync(join(src, all[Math.floor(random() * all.length)]!), { force: true });

        // Odd rounds: a uniform point after the spawn (start-up, scan, chunking...). Even rounds: a
        // point in the data path, 0-150 ms after the first new shard file appears.
        const writesBefore = shardWrites(root);
        const r =
          round % 2 === 1
            ? await pbNode(['local', '-c', config, 'backup', '--json'], {
                killAfterMs: 300 + Math.floor(random() * 2700),
              })
            : await pbNode(['local', '-c', config, 'backup', '--json'], {
                killOn: { when: () => shardWrites(root) > writesBefore, delayMs: Math.floor(random() * 150) },
              });
        if (r.signal === 'SIGKILL') killed++;
        else {
          expect(r.code, r.stderr).toBe(0);
          completedByThemselves++;
        }
        expectIndexConsistent(data);
        if (round % 5 === 4 || killed === LOCAL_KILLS) {
          await pbJson(config, ['backup']);
          expectIndexConsistent(data);
          await expectRestoreExact(config, root, src, `r${round}`);
          restores++;
        }
      }
      await pbJson(config, ['backup']);
      const before = [...shardFiles(root).values()].reduce((n, f) => n + f.length, 0);
      await pbJson(config, ['gc']);
      const after = [...shardFiles(root).values()].reduce((n, f) => n + f.length, 0);
      expectIndexConsistent(data);
      await expectRestoreExact(config, root, src, 'after-gc');
      console.log(
        `crash-local: ${round} rounds, ${killed} killed mid-run, ${completedByThemselves} finished before the kill; ` +
          `${restores + 1} exact restores; gc ${before} -> ${after} shard files; data lost: 0`,
      );
      expect(killed).toBe(LOCAL_KILLS);
    },
    scaledTimeoutMs(240_000, 3_600_000),
  );
});
