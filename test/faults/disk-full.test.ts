/**
 * Disk full, local mode.
 * - On the holders: members whose pledges are too small for the backup. The backup stops with a
 *   typed 'no-space' error naming the store and the sizes; no partial shard is left (no temporary
 *   file, every shard file hashes to its name), the index names only complete stripes; when the
 *   pledges grow (space returns), the next backup completes and the restore is exact.
 * - On the owner: the restore target and the data directory on a small tmpfs made by the test
 *   (needs root to mount; skipped with the reason otherwise). The restore fails with a clear error
 *   and leaves no partial file under its final name; the backup fails clearly and leaves the
 *   index consistent; when space returns (`mount -o remount,size=...`), both complete exactly.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { basename, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { LocalConfig } from '../../runtime/pipeline/repository.ts';
import { describeTree, expectSameTree, localConfig, tempDir, writeConfigFile } from '../runtime/helpers.ts';
import {
  expectIndexConsistent,
  expectRestoreExact,
  localRepo,
  MiB,
  pbJson,
  pbNode,
  shardFiles,
  writeFiles,
} from './_local.ts';

const root = tempDir('faults-disk-full');
const mounts: string[] = [];
afterAll(() => {
  for (const m of mounts) {
    try {
      execFileSync('umount', [m]);
    } catch {}
  }
  fs.rmSync(root, { recursive: true, force: true });
});

/** Mounts a tmpfs of `bytes` at `dir`; false (with the reason) when this user cannot. */
function mountTmpfs(dir: string, bytes: number): string | null {
  fs.mkdirSync(dir, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir], { stdio: 'pipe' });
    mounts.push(dir);
    return null;
  } catch (error) {
    return `cannot mount a tmpfs here (${String((error as { stderr?: Buffer }).stderr ?? error).trim()})`;
  }
}

function resize(dir: string, bytes: number): void {
  execFileSync('mount', ['-o', `remount,size=${bytes}`, dir]);
}

const canMount = (() => {
  const probe = join(root, 'probe');
  const why = mountTmpfs(probe, 1 * MiB);
  if (why === null) {
    execFileSync('umount', [probe]);
    mounts.pop();
  }
  return why;
})();

function expectNoPartialShards(): number {
  let n = 0;
  for (const files of shardFiles(root).values()) {
    for (const f of files) {
      expect(createHash('sha256').update(fs.readFileSync(f)).digest('hex')).toBe(basename(f));
      n++;
    }
  }
  for (const m of fs.readdirSync(join(root, 'members'))) {
    const tmp = join(root, 'members', m, 'tmp');
    if (fs.existsSync(tmp)) expect(fs.readdirSync(tmp)).toEqual([]);
  }
  return n;
}

describe('disk full', () => {
  it('on the holders: a clear no-space error, no partial shard, resumes when the pledges grow', async () => {
    const small = 8_000_000;
    const { config, src, data } = await localRepo(root, {
      members: [1, 2, 3, 4, 5].map((i) => ({
        id: `m${i}`,
        dir: join(root, 'members', `m${i}`),
        pledgeBytes: small,
      })),
    });
    writeFiles(src, 'full', 6, 10 * MiB, 'holder');
    const r = await pbNode(['local', '-c', config, 'backup', '--json']);
    expect(r.code).toBe(1);
    const err = JSON.parse(r.stdout) as { error: { code: string; message: string } };
    expect(err.error.code).toBe('no-space');
    expect(err.error.message).toMatch(/does not fit: \d+ of 8000000 bytes used/);
    const shards = expectNoPartialShards();
    expectIndexConsistent(data);
    // Space returns: the members pledge more.
    const raw = JSON.parse(fs.readFileSync(config, 'utf8')) as LocalConfig;
    fs.writeFileSync(
      config,
      JSON.stringify({ ...raw, members: raw.members.map((m) => ({ ...m, pledgeBytes: 1e9 })) }),
    );
    await pbJson(config, ['backup']);
    expectIndexConsistent(data);
    expectNoPartialShards();
    await expectRestoreExact(config, root, src, 'holder-full');
    console.log(
      `disk full on holders: refused with "${err.error.message.slice(0, 90)}...", ${shards} complete shards kept, then resumed`,
    );
  }, 180_000);

  it.skipIf(canMount !== null)(
    `on the owner: restore target and data directory on a full filesystem${canMount ? ` (skipped: ${canMount})` : ''}`,
    async () => {
      const owner = join(root, 'owner');
      fs.mkdirSync(owner, { recursive: true });
      const src = join(owner, 'src');
      writeFiles(src, 'owner', 6, 6 * MiB, 'owner');
      // The data directory on a small tmpfs, nearly filled by another file.
      const dataDir = join(owner, 'data');
      expect(mountTmpfs(dataDir, 4 * MiB)).toBeNull();
      const config = writeConfigFile(owner, localConfig(owner, [src], { workers: 1, dataDir }));
      await pbJson(config, ['init']);
      const filler = join(dataDir, 'filler');
      const free = () => {
        const st = fs.statfsSync(dataDir);
        return st.bavail * st.bsize;
      };
      fs.writeFileSync(filler, Buffer.alloc(Math.max(0, free() - 16 * 1024)));
      const full = await pbNode(['local', '-c', config, 'backup', '--json']);
      expect(full.code).toBe(1);
      const err = JSON.parse(full.stdout) as { error: { code: string; message: string } };
      expect(err.error.message).toMatch(/full|space|ENOSPC/i);
      fs.rmSync(filler);
      await pbJson(config, ['backup']);
      expectIndexConsistent(dataDir);

      // The restore target on a tmpfs smaller than the data.
      const target = join(owner, 'target');
      expect(mountTmpfs(target, 3 * MiB)).toBeNull();
      const r = await pbNode(['local', '-c', config, 'restore', '--target', target, '--json']);
      expect(r.code).toBe(1);
      const rerr = JSON.parse(r.stdout) as { error: { code: string; message: string } };
      expect(rerr.error.message).toMatch(/ENOSPC|space|full/i);
      // Nothing partial under a final name: every file there is complete and exact.
      const restored = join(target, src);
      let complete = 0;
      if (fs.existsSync(restored)) {
        for (const rel of fs.readdirSync(restored, { recursive: true, encoding: 'utf8' })) {
          const p = join(restored, rel);
          if (!fs.statSync(p).isFile()) continue;
          expect(fs.readFileSync(p).equals(fs.readFileSync(join(src, rel))), rel).toBe(true);
          complete++;
        }
      }
      resize(target, 256 * MiB);
      await pbJson(config, ['restore', '--target', target]);
      expectSameTree(describeTree(restored), describeTree(src));
      console.log(
        `disk full on the owner: backup refused ("${err.error.message.slice(0, 80)}"), restore refused ("${rerr.error.message.slice(0, 80)}") with ${complete} complete files and no partial one; both completed after the space returned`,
      );
    },
    180_000,
  );
});
