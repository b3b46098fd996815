/** Shared helpers of the runtime tests: temp dirs, deterministic bytes, configs, tree comparison. */
import { createCipheriv, createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect } from 'vitest';
import type { LocalConfig } from '../../runtime/pipeline/repository.ts';

/** The directories `tempDir` made in this test file: removed after its last test (and hooks). */
const madeDirs: string[] = [];
afterAll(() => {
  for (const dir of madeDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
});

export function tempDir(label: string): string {
  const dir = fs.mkdtempSync(join(tmpdir(), `pb-${label}-`));
  madeDirs.push(dir);
  return dir;
}

/** Deterministic pseudo-random bytes: ChaCha20 keystream keyed by SHA-256(seed). */
export function detBytes(seed: string, length: number): Buffer {
  const key = createHash('sha256').update(seed).digest();
  const cipher = createCipheriv('chacha20', key, Buffer.alloc(16));
  return cipher.update(Buffer.alloc(length));
}

export const SECRET_HEX = '11'.repeat(32);
export const OTHER_SECRET_HEX = '22'.repeat(32);

export function localConfig(root: string, sources: string[], extra: Partial<LocalConfig> = {}): LocalConfig {
  fs.mkdirSync(join(root, 'data'), { recursive: true });
  const secretFile = join(root, 'secret');
  if (!fs.existsSync(secretFile)) fs.writeFileSync(secretFile, `${SECRET_HEX}\n`, { mode: 0o600 });
  return {
    dataDir: join(root, 'data'),
    secretFile,
    agreement: { ratio: 2, tolerance: 1 },
    members: [1, 2, 3, 4, 5].map((i) => ({
      id: `m${i}`,
      dir: join(root, 'members', `m${i}`),
      pledgeBytes: 20 * 1024 ** 3,
    })),
    sources,
    workers: 0,
    durable: false,
    ...extra,
  };
}

export function writeConfigFile(root: string, config: LocalConfig): string {
  const path = join(root, 'pb.json');
  fs.writeFileSync(path, JSON.stringify(config));
  return path;
}

/** Every entry under `dir` (paths as latin1 strings of the raw bytes): type, mode, mtime (ns), content hash. */
export function describeTree(dir: string, options: { hashContent?: boolean } = {}): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (path: Buffer, rel: string): void => {
    for (const name of fs.readdirSync(path, { encoding: 'buffer' }).sort(Buffer.compare)) {
      const full = Buffer.concat([path, Buffer.from('/'), name]);
      const key = `${rel}/${name.toString('latin1')}`;
      const st = fs.lstatSync(full, { bigint: true });
      if (st.isSymbolicLink()) {
        out.set(key, `link ${fs.readlinkSync(full, { encoding: 'buffer' }).toString('hex')}`);
      } else if (st.isDirectory()) {
        out.set(key, `dir ${(st.mode & 0o7777n).toString(8)} t=${st.mtimeNs}`);
        walk(full, key);
      } else {
        const content = options.hashContent === false ? '' : hashFile(full);
        out.set(key, `file ${(st.mode & 0o7777n).toString(8)} t=${st.mtimeNs} ${st.size} ${content}`);
      }
    }
  };
  walk(Buffer.from(dir), '');
  return out;
}

export function hashFile(path: Buffer | string): string {
  const h = createHash('sha256');
  const fd = fs.openSync(path, 'r');
  const buf = Buffer.allocUnsafe(8 * 1024 * 1024);
  try {
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

/** Byte-for-byte comparison of two files (streams both; memcmp, no hashing). */
export function sameBytes(a: string, b: string): boolean {
  const fa = fs.openSync(a, 'r');
  const fb = fs.openSync(b, 'r');
  const ba = Buffer.allocUnsafe(8 * 1024 * 1024);
  const bb = Buffer.allocUnsafe(8 * 1024 * 1024);
  try {
    for (;;) {
      const na = fs.readSync(fa, ba, 0, ba.length, null);
      const nb = fs.readSync(fb, bb, 0, bb.length, null);
      if (na !== nb || !ba.subarray(0, na).equals(bb.subarray(0, nb))) return false;
      if (na === 0) return true;
    }
  } finally {
    fs.closeSync(fa);
    fs.closeSync(fb);
  }
}

/**
 * Two trees from describeTree are the same: names, types, modes, sizes, contents, link targets
 * exactly; modification times within 2 µs (Node's utimes takes seconds as a double, whose
 * rounding near 1.8e9 s is about 0.2 µs; file systems keep nanoseconds).
 */
export function expectSameTree(actual: Map<string, string>, expected: Map<string, string>): void {
  const strip = (m: Map<string, string>): Map<string, string> =>
    new Map([...m].map(([k, v]) => [k, v.replace(/ t=\d+/, '')]));
  expect(strip(actual)).toEqual(strip(expected));
  for (const [key, value] of expected) {
    const e = / t=(\d+)/.exec(value)?.[1];
    if (!e) continue;
    const a = / t=(\d+)/.exec(actual.get(key) ?? '')?.[1];
    const delta = BigInt(a ?? '0') - BigInt(e);
    expect(delta < 0n ? -delta : delta, `mtime of ${key}`).toBeLessThanOrEqual(2000n);
  }
}
