/**
 * The CLI as the npm package ships it (runtime/bin/build.mjs --package): an entry file and the
 * chunks esbuild split off at the command groups' dynamic imports, next to the chunk worker. Built
 * into a temporary directory and run as a user runs it: local init, backup of small and large
 * files, restore; the daemon's verbs load from their own chunks; a local command loads no chunk of
 * the daemon's; the chunk worker's bundle holds no more than the worker runs.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain ES module without types
import { build } from '../../runtime/bin/build.mjs';
import { describeTree, detBytes, expectSameTree, localConfig, tempDir, writeConfigFile } from './helpers.ts';

function run(
  entry: string,
  args: string[],
  extraNode: string[] = [],
): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [...extraNode, entry, ...args], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('the packaged CLI', () => {
  it('backs up and restores in local mode from its split bundle, loading only local chunks', async () => {
    const root = tempDir('packaged');
    const cleanups = [() => fs.rmSync(root, { recursive: true, force: true })];
    try {
      // Inside the project, as dist/ is: the native packages resolve from its node_modules.
      const out = join(import.meta.dirname, '..', '..', '.tmp', `packaged-${process.pid}`);
      fs.rmSync(out, { recursive: true, force: true });
      cleanups.push(() => fs.rmSync(out, { recursive: true, force: true }));
      const entry: string = await build({ bundlePackages: true, outDir: out });
      const files = fs.readdirSync(out);
      expect(files).toEqual(expect.arrayContaining(['pb-node.mjs', 'chunk-worker.mjs', 'pb-node.1']));
      expect(files.filter((f) => f.startsWith('pb-node-')).length).toBeGreaterThan(1);

      const src = join(root, 'src');
      fs.mkdirSync(join(src, 'sub'), { recursive: true });
      for (let i = 0; i < 50; i++)
        fs.writeFileSync(join(src, 'sub', `small-${i}.txt`), `line ${i}\n`.repeat(i + 1));
      fs.writeFileSync(join(src, 'large.bin'), detBytes('large', 3 * 1024 * 1024));
      const config = writeConfigFile(root, localConfig(root, [src], { workers: 2 }));
      for (const args of [['init'], ['backup']]) {
        const r = run(entry, ['local', '-c', config, ...args, '--json']);
        expect(r.code, `${args.join(' ')}: ${r.err}`).toBe(0);
      }
      const target = join(root, 'restored');
      const r = run(entry, ['local', '-c', config, 'restore', '--target', target, '--json']);
      expect(r.code, r.err).toBe(0);
      expectSameTree(
        describeTree(join(target, src), { hashContent: true }),
        describeTree(src, { hashContent: true }),
      );

      // Which files a local command reads: the entry, local mode's chunks, never the daemon's
      // (strace: installed by .ci/run; elsewhere the check is skipped when it is missing).
      const trace = join(root, 'trace');
      const traced = spawnSync(
        'strace',
        [
          '-f',
          '-e',
          'trace=openat',
          '-o',
          trace,
          process.execPath,
          entry,
          'local',
          '-c',
          config,
          'snapshots',
        ],
        { encoding: 'utf8' },
      );
      if (process.env.CI === 'true' || traced.error === undefined) {
        expect(traced.status, `strace: ${traced.error ?? traced.stderr}`).toBe(0);
        const opened = fs.readFileSync(trace, 'utf8');
        const daemonChunk = files.find((f) => /^pb-node-daemon-/.test(f));
        expect(daemonChunk).toBeDefined();
        expect(opened).toContain('pb-node-local-cli-');
        expect(opened).not.toContain(daemonChunk!);
      }
      // The chunk worker loads only what it runs (read, chunk, seal, open, land): not the index
      // database, the tree codec or the engine, which cost each worker's start tens of ms.
      const worker = fs.readFileSync(join(out, 'chunk-worker.mjs'), 'utf8');
      expect(worker).toContain('zstd-napi');
      for (const unwanted of ['better-sqlite3', 'cbor-extract', 'cbor-x', 'straw2'])
        expect(worker, unwanted).not.toContain(unwanted);
      // The daemon's verbs come from their chunks.
      const help = run(entry, ['--help']);
      expect(help.code).toBe(0);
      expect(help.out).toMatch(/\bstart\b/);
      expect(help.out).toMatch(/\blocal\b/);
    } finally {
      for (const clean of cleanups) clean();
    }
  }, 180_000);
});
