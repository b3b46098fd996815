/**
 * Ctrl-C of a local backup (a spawned pb-node, SIGINT while it writes shards): the progress says
 * the run was interrupted and that the next one resumes, the exit code is 130, and the next run
 * completes the snapshot, which restores whole.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { detBytes, localConfig, tempDir, writeConfigFile } from './helpers.ts';

const BIN = resolve(import.meta.dirname, '../../runtime/bin/pb-node.mjs');
const MiB = 1024 * 1024;

function shardsWritten(root: string): boolean {
  const members = join(root, 'members');
  if (!fs.existsSync(members)) return false;
  return fs.readdirSync(members).some((m) => {
    const shards = join(members, m, 'shards');
    return (
      fs.existsSync(shards) &&
      fs.readdirSync(shards).some((fan) => fs.readdirSync(join(shards, fan)).length > 0)
    );
  });
}

describe('interrupting a backup', () => {
  it('SIGINT: "interrupted; the next run resumes", exit 130; the next run completes', async () => {
    const root = tempDir('sigint');
    const src = join(root, 'src');
    fs.mkdirSync(src);
    for (let i = 0; i < 6; i++) fs.writeFileSync(join(src, `f${i}`), detBytes(`f${i}`, 12 * MiB));
    const config = writeConfigFile(root, localConfig(root, [src], { workers: 1 }));
    const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((done) => {
      const child = spawn(process.execPath, [BIN, 'local', '-c', config, 'backup'], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let err = '';
      child.stderr.on('data', (d: Buffer) => {
        err += String(d);
      });
      const poll = setInterval(() => {
        if (!err.includes('scanning') || !shardsWritten(root)) return;
        clearInterval(poll);
        child.kill('SIGINT');
      }, 10);
      child.on('exit', (c) => {
        clearInterval(poll);
        done({ code: c, stderr: err });
      });
    });
    expect(stderr).toMatch(/^backup: scanning$/m);
    expect(stderr).toContain('backup interrupted; the next run resumes');
    expect(code).toBe(130);
    const again = spawnSync(process.execPath, [BIN, 'local', '-c', config, 'backup'], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(again.status, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/snapshot [0-9a-f]{16} saved: 6 files/);
    const target = join(root, 'restored');
    const r = spawnSync(process.execPath, [BIN, 'local', '-c', config, 'restore', '--target', target], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(r.status, r.stderr).toBe(0);
    for (let i = 0; i < 6; i++)
      expect(fs.readFileSync(join(target, src, `f${i}`)).equals(detBytes(`f${i}`, 12 * MiB))).toBe(true);
  }, 180_000);
});
