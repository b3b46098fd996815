/**
 * Object compression (runtime/pipeline/codec.ts): what is compressed and what is kept raw, bounded
 * decoding (a zip bomb or a frame that lies about its size is a typed error), and repositories
 * written before compression (test/fixtures/v1-local-repo) still restore, take new backups and
 * rebuild their index.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { backup } from '../../runtime/pipeline/backup.ts';
import { chunkId, openObject, sealChunk } from '../../runtime/pipeline/chunk-crypto.ts';
import {
  CODEC_RAW,
  CODEC_ZSTD,
  compressObject,
  decompressObject,
  MAX_PLAIN_BYTES,
} from '../../runtime/pipeline/codec.ts';
import { PipelineError } from '../../runtime/pipeline/errors.ts';
import { INDEX_SCHEMA_VERSION } from '../../runtime/pipeline/index-db.ts';
import { rebuildIndex } from '../../runtime/pipeline/rebuild-index.ts';
import { openRepository } from '../../runtime/pipeline/repository.ts';
import { restore } from '../../runtime/pipeline/restore.ts';
import { detBytes, localConfig, tempDir } from './helpers.ts';

const MiB = 1024 * 1024;
const dataKey = Buffer.alloc(32, 3);
const chunkIdKey = Buffer.alloc(32, 4);

function text(bytes: number): Buffer {
  let s = '';
  for (let i = 0; s.length < bytes; i++) s += `line ${i}: a file of ordinary text, ${i % 17} and ${i % 5}\n`;
  return Buffer.from(s.slice(0, bytes));
}

/** A copy of a zstd frame with its declared content size replaced (2-byte single-segment field). */
function withDeclaredSize(frame: Uint8Array, size: number): Buffer {
  const f = Buffer.from(frame);
  const fhd = f[4]!;
  // Content-size flag 1 (2 bytes, value - 256), single segment, no dictionary id.
  expect(fhd >> 6).toBe(1);
  expect((fhd >> 5) & 1).toBe(1);
  expect(fhd & 3).toBe(0);
  f.writeUInt16LE(size - 256, 5);
  return f;
}

describe('object compression', () => {
  it('compresses text, keeps random and tiny objects raw, and every object opens to its plaintext', () => {
    const cases = [
      { plain: text(1 * MiB), codec: CODEC_ZSTD },
      { plain: Buffer.alloc(4 * MiB), codec: CODEC_ZSTD },
      { plain: detBytes('random', 1 * MiB), codec: CODEC_RAW },
      { plain: Buffer.from('tiny'), codec: CODEC_RAW },
      { plain: Buffer.alloc(0), codec: CODEC_RAW },
    ];
    for (const c of cases) {
      const id = chunkId(chunkIdKey, c.plain);
      const { sealed, codec } = sealChunk(dataKey, id, c.plain);
      expect(codec).toBe(c.codec);
      if (codec === CODEC_ZSTD) expect(sealed.length).toBeLessThan(c.plain.length / 4);
      else expect(sealed.length).toBe(c.plain.length + 40);
      expect(openObject(dataKey, chunkIdKey, id, sealed, codec).equals(c.plain)).toBe(true);
      // The codec is bound to the envelope: opened under the other codec, the tag fails.
      expect(() => openObject(dataKey, chunkIdKey, id, sealed, 1 - codec)).toThrow(/fails authentication/);
    }
  });

  it("decoded into the thread's scratch, a plaintext is right and lives until the next such call", () => {
    const a = text(300_000);
    const b = Buffer.from(text(200_000).toString().toUpperCase());
    // Copied at once: a compressed payload lives in the compressor's scratch.
    const [pa, pb] = [a, b].map((plain) => Buffer.from(compressObject(plain).payload));
    const first = decompressObject(CODEC_ZSTD, pa!, MAX_PLAIN_BYTES, true);
    expect(first.equals(a)).toBe(true);
    const second = decompressObject(CODEC_ZSTD, pb!, MAX_PLAIN_BYTES, true);
    expect(second.equals(b)).toBe(true);
    expect(second.buffer).toBe(first.buffer); // the same scratch: `first` is overwritten
    expect(decompressObject(CODEC_ZSTD, pa!).buffer).not.toBe(first.buffer);
    // openObject passes it on; the id is checked on the scratch copy.
    const id = chunkId(chunkIdKey, a);
    const { sealed, codec } = sealChunk(dataKey, id, a);
    expect(openObject(dataKey, chunkIdKey, id, sealed, codec, true).equals(a)).toBe(true);
  });

  it('a frame that would inflate past its limit, lies about its size or has none is a typed error', () => {
    // 4 MiB of zeros compress to a few hundred bytes: against a 1 MiB limit the frame is refused
    // from its header, before any allocation.
    const bomb = compressObject(Buffer.alloc(MAX_PLAIN_BYTES)).payload;
    expect(() => decompressObject(CODEC_ZSTD, Buffer.from(bomb), 1 * MiB)).toThrow(/more than the/);
    const plain = text(8192);
    const frame = Buffer.from(compressObject(plain).payload);
    expect(decompressObject(CODEC_ZSTD, frame).equals(plain)).toBe(true);
    // Declares 1000 bytes, holds 8192: the decoder stops at the declared size.
    expect(() => decompressObject(CODEC_ZSTD, withDeclaredSize(frame, 1000))).toThrow(PipelineError);
    // Declares more than it holds.
    expect(() => decompressObject(CODEC_ZSTD, withDeclaredSize(frame, 9000))).toThrow(PipelineError);
    // Content size flag cleared (no declared size; window descriptor instead of single segment).
    const noSize = Buffer.concat([frame.subarray(0, 4), Buffer.from([0x00, 0x58]), frame.subarray(7)]);
    expect(() => decompressObject(CODEC_ZSTD, noSize)).toThrow(PipelineError);
    expect(() => decompressObject(7, frame)).toThrow(/unknown object codec 7/);
    expect(() => decompressObject(CODEC_ZSTD, Buffer.from('not a frame'))).toThrow(PipelineError);
    // The decoder is still usable after failures.
    expect(decompressObject(CODEC_ZSTD, frame).equals(plain)).toBe(true);
  });
});

/** The files of the fixture's source tree, as written before the fixture's backup. */
function v1Files(): Map<string, Buffer> {
  let lines = '';
  for (let i = 0; i < 200; i++) lines += `line ${i}: the quick brown fox ${(i * 7) % 13}\n`;
  return new Map([
    [
      'docs/readme.txt',
      Buffer.from('pb fixture: written by the version 1 format (no compression).\n'.repeat(20)),
    ],
    ['docs/sub/lines.txt', Buffer.from(lines)],
    ['docs/sub/one-byte', Buffer.from('x')],
  ]);
}

const FIXTURE = resolve(import.meta.dirname, '../fixtures/v1-local-repo');
const FIXTURE_SOURCE = '/tmp/v1fix/src';

function copyFixture(label: string): string {
  const root = tempDir(label);
  fs.cpSync(FIXTURE, root, { recursive: true });
  fs.chmodSync(join(root, 'secret'), 0o600);
  for (let i = 1; i <= 5; i++) fs.mkdirSync(join(root, 'members', `m${i}`, 'shards'), { recursive: true });
  return root;
}

function expectV1Tree(dir: string): void {
  for (const [path, bytes] of v1Files()) expect(fs.readFileSync(join(dir, path)).equals(bytes)).toBe(true);
  expect(fs.readlinkSync(join(dir, 'docs/link'))).toBe('sub/lines.txt');
}

describe('repositories written before compression', () => {
  it('restore with the current code; a new backup into one compresses and both snapshots restore', async () => {
    for (const hash of [...v1Files().values()].map((b) => createHash('sha256').update(b).digest('hex')))
      expect(hash).toMatch(/^(d6d1e529|df562f67|2d711642)/);
    const root = copyFixture('v1-restore');
    const src = join(root, 'src');
    fs.mkdirSync(join(src, 'new'), { recursive: true });
    fs.writeFileSync(join(src, 'new/text.txt'), text(2 * MiB));
    const config = localConfig(root, [src], { workers: 2 });
    const repo = await openRepository(config);
    try {
      expect(repo.index.getMeta('schema_version')).toBe(String(INDEX_SCHEMA_VERSION));
      const old = repo.index.listSnapshots();
      expect(old).toHaveLength(1);
      const oldId = old[0]!.id.toString('hex');
      await restore(repo, { target: join(root, 'out-old') });
      expectV1Tree(join(root, 'out-old', FIXTURE_SOURCE));
      const summary = await backup(repo, { nowMs: () => Date.UTC(2027, 0, 1) });
      // 2 MiB of text stored in far fewer bytes: compressed.
      expect(summary.stored.sealedBytesStored).toBeLessThan(MiB / 2);
      await restore(repo, { target: join(root, 'out-new') });
      expect(fs.readFileSync(join(root, 'out-new', src, 'new/text.txt')).equals(text(2 * MiB))).toBe(true);
      await restore(repo, { target: join(root, 'out-old-again'), snapshot: oldId });
      expectV1Tree(join(root, 'out-old-again', FIXTURE_SOURCE));
    } finally {
      repo.close();
    }
    // The index rebuilt from the stripes alone: a version 1 directory and a version 2 one.
    for (const f of fs.readdirSync(config.dataDir)) fs.rmSync(join(config.dataDir, f));
    const again = await openRepository({ ...config, workers: 0 });
    try {
      const rebuilt = await rebuildIndex(
        again.index,
        again.directory,
        again.keys,
        again.owner,
        config.dataDir,
      );
      expect(rebuilt.unreadableStripes).toEqual([]);
      expect(rebuilt.snapshots).toBe(2);
      const oldest = again.index.listSnapshots()[0]!.id.toString('hex');
      await restore(again, { target: join(root, 'out-rebuilt'), snapshot: oldest });
      expectV1Tree(join(root, 'out-rebuilt', FIXTURE_SOURCE));
      await restore(again, { target: join(root, 'out-rebuilt-new') });
      expect(fs.readFileSync(join(root, 'out-rebuilt-new', src, 'new/text.txt')).equals(text(2 * MiB))).toBe(
        true,
      );
    } finally {
      again.close();
    }
    fs.rmSync(root, { recursive: true, force: true });
  });
});
