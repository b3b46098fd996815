/** Local-mode helpers of the fault suite: a real `pb-node -c pb.json ...` process per command. */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import seedrandom from 'seedrandom';
import { expect } from 'vitest';
import type { LocalConfig } from '../../runtime/pipeline/repository.ts';
import { describeTree, detBytes, expectSameTree, localConfig, writeConfigFile } from '../runtime/helpers.ts';

export const BIN = resolve(import.meta.dirname, '../../runtime/bin/pb-node.mjs');
export const MiB = 1024 * 1024;

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs pb-node. `killAfterMs`: SIGKILL that long after the spawn (if still running). `killOn`:
 * SIGKILL `delayMs` after `when()` first holds (polled every 5 ms), e.g. once shards are being written.
 */
export function pbNode(
  args: string[],
  options: {
    killAfterMs?: number;
    killOn?: { when: () => boolean; delayMs: number };
    env?: NodeJS.ProcessEnv;
  } = {},
): Promise<Run> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...options.env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-20_000);
    });
    const guard = setTimeout(() => child.kill('SIGKILL'), 180_000);
    const killer =
      options.killAfterMs === undefined ? null : setTimeout(() => child.kill('SIGKILL'), options.killAfterMs);
    let armed: NodeJS.Timeout | null = null;
    const poll = options.killOn
      ? setInterval(() => {
          if (armed || !options.killOn!.when()) return;
          armed = setTimeout(() => child.kill('SIGKILL'), options.killOn!.delayMs);
        }, 5)
      : null;
    child.on('error', fail);
    child.on('close', (code, signal) => {
      clearTimeout(guard);
      if (killer) clearTimeout(killer);
      if (poll) clearInterval(poll);
      if (armed) clearTimeout(armed);
      done({ code, signal, stdout, stderr });
    });
  });
}

/** `pb-node` that must succeed; returns its parsed --json output. */
export async function pbJson<T = unknown>(
  config: string,
  args: string[],
  env?: NodeJS.ProcessEnv,
): Promise<T> {
  const r = await pbNode(['local', '-c', config, ...args, '--json'], env ? { env } : {});
  expect(r.code, `pb-node ${args.join(' ')} failed:\n${r.stderr}\n${r.stdout}`).toBe(0);
  return JSON.parse(r.stdout) as T;
}

/** A local-mode repository in `root`: 5 member directories, sources under root/src. */
export async function localRepo(
  root: string,
  extra: Partial<LocalConfig> = {},
): Promise<{ config: string; src: string; data: string }> {
  const src = join(root, 'src');
  fs.mkdirSync(src, { recursive: true });
  const config = writeConfigFile(root, localConfig(root, [src], { workers: 1, ...extra }));
  await pbJson(config, ['init']);
  return { config, src, data: join(root, 'data') };
}

/** Seeded files of varied sizes (names carry `tag`), some duplicated. */
export function writeFiles(
  dir: string,
  seed: string,
  count: number,
  maxBytes: number,
  tag = 'file',
): string[] {
  const random = seedrandom(seed);
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    const sub = join(dir, `d${i % 3}`);
    fs.mkdirSync(sub, { recursive: true });
    const name = join(sub, `${tag}-${seed}-${i}.bin`);
    const size = Math.floor(random() * maxBytes);
    fs.writeFileSync(name, detBytes(`${seed}/${i}`, size));
    names.push(name);
  }
  return names;
}

/** The index after any kill: SQLite intact, and every stripe it names has all k+m shard rows. */
export function expectIndexConsistent(dataDir: string): { stripes: number; shards: number } {
  const db = new Database(join(dataDir, 'index.sqlite'), { readonly: true });
  try {
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    const stripes = db.prepare('SELECT seq, k, m FROM stripes').all() as {
      seq: number;
      k: number;
      m: number;
    }[];
    const counts = new Map(
      (
        db.prepare('SELECT stripe_seq AS s, COUNT(*) AS n FROM shards GROUP BY stripe_seq').all() as {
          s: number;
          n: number;
        }[]
      ).map((r) => [r.s, r.n]),
    );
    for (const s of stripes) expect(counts.get(s.seq), `stripe ${s.seq}`).toBe(s.k + s.m);
    const orphanObjects = db
      .prepare('SELECT COUNT(*) AS n FROM objects WHERE stripe_seq NOT IN (SELECT seq FROM stripes)')
      .get() as { n: number };
    expect(orphanObjects.n).toBe(0);
    return { stripes: stripes.length, shards: [...counts.values()].reduce((a, b) => a + b, 0) };
  } finally {
    db.close();
  }
}

/** Restores the newest snapshot under a fresh target and compares it with `src`, byte for byte. */
export async function expectRestoreExact(
  config: string,
  root: string,
  src: string,
  label: string,
): Promise<void> {
  const target = join(root, `restore-${label}`);
  await pbJson(config, ['restore', '--target', target]);
  expectSameTree(describeTree(join(target, src)), describeTree(src));
  fs.rmSync(target, { recursive: true, force: true });
}

/** Shard files and temporary shard files across the local members (grows while a backup writes). */
export function shardWrites(root: string): number {
  // The writer creates and removes these folders while we count: a folder gone counts as empty.
  const names = (dir: string): string[] => {
    try {
      return fs.readdirSync(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  };
  let n = 0;
  const members = join(root, 'members');
  for (const m of names(members)) {
    n += names(join(members, m, 'tmp')).length;
    const shards = join(members, m, 'shards');
    for (const fan of names(shards)) n += names(join(shards, fan)).length;
  }
  return n;
}

/** Every shard file in a local member directory: member -> [path]. */
export function shardFiles(root: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const members = join(root, 'members');
  for (const m of fs.existsSync(members) ? fs.readdirSync(members) : []) {
    const files: string[] = [];
    const shards = join(members, m, 'shards');
    if (fs.existsSync(shards))
      for (const fan of fs.readdirSync(shards))
        for (const f of fs.readdirSync(join(shards, fan))) files.push(join(shards, fan, f));
    out.set(m, files);
  }
  return out;
}
