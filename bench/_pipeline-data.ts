/**
 * The pipeline benchmark's datasets (bench/pipeline.ts):
 *
 * - synthetic: docs/design.md §6's set from a fixed seed (170 incompressible files of
 *   100 KiB-50 MiB, log-uniform sizes scaled to 80% of the size asked, plus copies making 20%
 *   duplicates);
 * - real: a bounded copy of files every machine of this kind has: /usr/share/doc, /usr/include,
 *   the Python standard library (/usr/lib/python3.*) and the project's installed node_modules.
 *   Each root gets a byte budget; files are taken in sorted path order (deterministic on a given
 *   machine), symlinks and special files are skipped, nothing is dereferenced;
 * - tiny: generated small files (16-400 bytes of text-like content from a fixed seed) in 400
 *   folders.
 */
import { createCipheriv, createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import seedrandom from 'seedrandom';

const MiB = 1024 * 1024;
export const SEED = 'pb bench pipeline v1';
const repoRoot = resolve(fileURLToPath(import.meta.url), '..', '..');

export interface Dataset {
  bytes: number;
  files: number;
  /** How it was made, for the report. */
  description: string;
}

/** Writes the synthetic dataset; returns its byte count and file count. */
export function generateDataset(dir: string, totalBytes: number): { bytes: number; files: number } {
  const random = seedrandom(SEED);
  const unique = 170;
  const lo = Math.log(100 * 1024);
  const hi = Math.log(50 * MiB);
  const raw = Array.from({ length: unique }, () => Math.exp(lo + random() * (hi - lo)));
  const scale = (0.8 * totalBytes) / raw.reduce((a, b) => a + b, 0);
  const sizes = raw.map((s) => Math.max(1, Math.round(s * scale)));
  fs.mkdirSync(dir, { recursive: true });
  let bytes = 0;
  const buf = Buffer.alloc(4 * MiB);
  sizes.forEach((size, i) => {
    const sub = join(dir, `d${i % 10}`);
    fs.mkdirSync(sub, { recursive: true });
    const key = createHash('sha256').update(`${SEED}/${i}`).digest();
    const cipher = createCipheriv('chacha20', key, Buffer.alloc(16));
    const fd = fs.openSync(join(sub, `f${i}.bin`), 'w');
    for (let left = size; left > 0; ) {
      const n = Math.min(left, buf.length);
      fs.writeSync(fd, cipher.update(buf.subarray(0, n)));
      left -= n;
    }
    fs.closeSync(fd);
    bytes += size;
  });
  let files = unique;
  const dupTarget = 0.2 * totalBytes;
  let dup = 0;
  while (dup < dupTarget) {
    const i = Math.floor(random() * unique);
    if (dup + sizes[i]! > dupTarget * 1.05 && dup > 0) break;
    fs.copyFileSync(
      join(dir, `d${i % 10}`, `f${i}.bin`),
      join(dir, `d${i % 10}`, `copy${files}-of-${i}.bin`),
    );
    dup += sizes[i]!;
    bytes += sizes[i]!;
    files++;
  }
  return { bytes, files };
}

/** The real-data roots present here, each with its share of the byte budget. */
function realRoots(): { label: string; path: string; share: number }[] {
  const pythons = fs.existsSync('/usr/lib')
    ? fs
        .readdirSync('/usr/lib')
        .filter((n) => /^python3\.\d+$/.test(n))
        .sort()
        .map((n) => join('/usr/lib', n))
    : [];
  const roots = [
    { label: 'doc', path: '/usr/share/doc', share: 0.3 },
    { label: 'include', path: '/usr/include', share: 0.3 },
    ...pythons.map((p) => ({ label: p.slice('/usr/lib/'.length), path: p, share: 0.2 / pythons.length })),
    // pnpm keeps the real files under .pnpm; the top-level entries are symlinks (skipped).
    { label: 'node_modules', path: join(repoRoot, 'node_modules', '.pnpm'), share: 0.2 },
  ];
  return roots.filter((r) => fs.existsSync(r.path));
}

/** Bounded walk state: at most MAX_WALK_ENTRIES directory entries looked at per root. */
const MAX_WALK_ENTRIES = 2_000_000;

/**
 * Copies up to `budget` bytes of regular files under `from` to `to` in sorted path order (a file
 * that would pass the budget is skipped, later smaller ones may still fit). Symlinks, sockets and
 * unreadable entries are skipped; directories are created as they are entered.
 */
function copyBounded(from: string, to: string, budget: number): { bytes: number; files: number } {
  let bytes = 0;
  let files = 0;
  let seen = 0;
  const stack = [from];
  while (stack.length > 0 && bytes < budget && seen < MAX_WALK_ENTRIES) {
    const dir = stack.pop()!;
    let names: string[];
    try {
      names = fs.readdirSync(dir).sort();
    } catch {
      continue;
    }
    const subdirs: string[] = [];
    for (const name of names) {
      seen++;
      const path = join(dir, name);
      let st: fs.Stats;
      try {
        st = fs.lstatSync(path);
      } catch {
        continue;
      }
      if (st.isDirectory()) subdirs.push(path);
      else if (st.isFile() && bytes + st.size <= budget) {
        const dest = join(to, relative(from, path));
        try {
          fs.mkdirSync(join(dest, '..'), { recursive: true });
          fs.copyFileSync(path, dest);
        } catch {
          continue;
        }
        bytes += st.size;
        files++;
      }
    }
    // Depth first, in sorted order: push in reverse so the first name is walked first.
    for (let i = subdirs.length - 1; i >= 0; i--) stack.push(subdirs[i]!);
  }
  return { bytes, files };
}

/** Builds the real-data tree under `dir` with about `totalBytes`. */
export function buildRealDataset(dir: string, totalBytes: number): Dataset {
  let bytes = 0;
  let files = 0;
  const parts: string[] = [];
  for (const root of realRoots()) {
    const got = copyBounded(root.path, join(dir, root.label), Math.round(totalBytes * root.share));
    bytes += got.bytes;
    files += got.files;
    parts.push(`${root.label} ${(got.bytes / MiB).toFixed(0)} MiB/${got.files} files`);
  }
  return { bytes, files, description: `real files, copied in sorted order per root: ${parts.join(', ')}` };
}

/** Writes `files` tiny files spread over `folders` folders. */
export function generateTinyDataset(dir: string, files: number, folders: number): Dataset {
  const random = seedrandom(`${SEED}/tiny`);
  const words = ['alpha', 'beta', 'gamma', 'delta', 'config', 'value', 'true', 'false', 'name', 'id'];
  let bytes = 0;
  for (let f = 0; f < folders; f++) fs.mkdirSync(join(dir, `dir${f}`), { recursive: true });
  for (let i = 0; i < files; i++) {
    const size = 16 + Math.floor(random() * 385);
    let s = `${i}:`;
    while (s.length < size)
      s += ` ${words[Math.floor(random() * words.length)]}=${Math.floor(random() * 1000)}`;
    const content = s.slice(0, size);
    fs.writeFileSync(join(dir, `dir${i % folders}`, `f${i}.txt`), content);
    bytes += content.length;
  }
  return { bytes, files, description: `${files} generated files of 16-400 bytes in ${folders} folders` };
}
