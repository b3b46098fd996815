import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { deriveMemberKeys } from '../../engine/index.ts';
import { chunkId, sealChunk } from '../../runtime/pipeline/chunk-crypto.ts';
import {
  MIN_LANDS_TO_SPLIT,
  OpenPool,
  type OpenTarget,
  splitTargets,
} from '../../runtime/pipeline/open-pool.ts';
import { detBytes } from './helpers.ts';

const keys = deriveMemberKeys(Buffer.alloc(32, 0x33));

/** A stripe-like area: three sealed objects back to back, the second one damaged. */
function area(): {
  area: Buffer;
  objects: OpenTarget[];
  plains: Buffer[];
} {
  // The first object compresses (codec 1), the others are random (raw).
  const plains = [Buffer.from('compressible '.repeat(100)), detBytes('b', 70_000), detBytes('c', 5)];
  const sealed = plains.map((p) => {
    const id = chunkId(keys.chunkIdKey, p);
    const { sealed: bytes, codec } = sealChunk(keys.dataKey, id, p);
    return { id, bytes, codec };
  });
  expect(sealed.map((s) => s.codec)).toEqual([1, 0, 0]);
  const out = Buffer.alloc(1 << 20);
  const objects: OpenTarget[] = [];
  let at = 0;
  for (const s of sealed) {
    s.bytes.copy(out, at);
    objects.push({ id: s.id, offset: at, sealedBytes: s.bytes.length, codec: s.codec });
    at += s.bytes.length;
  }
  out[objects[1]!.offset + 100]! ^= 1;
  return { area: out, objects, plains };
}

describe('OpenPool', () => {
  for (const workers of [0, 2]) {
    it(`opens objects of an area (tag and id checked) with ${workers} workers, writes them where asked and leaves the area as it was`, async () => {
      const dir = fs.mkdtempSync(join(tmpdir(), 'pb-open-write-'));
      const pool = new OpenPool(workers, keys);
      const fd = fs.openSync(join(dir, 'big'), 'w+');
      try {
        const a = area();
        const copy = Buffer.from(a.area);
        // Object 0 at 0 and again after object 2; object 1 (damaged) would go between them.
        const [p0, p1, p2] = a.plains as [Buffer, Buffer, Buffer];
        const at2 = p0.length + p1.length;
        const again = at2 + p2.length;
        fs.ftruncateSync(fd, again + p0.length);
        a.objects[0]!.writes = [
          { fd, position: 0 },
          { fd, position: again },
        ];
        a.objects[1]!.writes = [{ fd, position: p0.length }];
        a.objects[2]!.writes = [
          { fd, position: at2 },
          { fd: 1_000_000, position: 0 },
        ];
        const outside = { id: a.objects[0]!.id, offset: a.area.length - 10, sealedBytes: 100, codec: 0 };
        const results = await pool.open(a.area, [...a.objects, outside]);
        expect(a.area.equals(copy)).toBe(true);
        expect(results[0]).toEqual({ landed: [], written: [null, null] });
        expect('error' in results[1]! && results[1].error).toMatch(/fails authentication/);
        expect(results[2]).toEqual({
          landed: [],
          written: [null, expect.stringMatching(/write failed: .*EBADF/)],
        });
        expect('error' in results[3]! && results[3].error).toMatch(/outside its stripe/);
        const written = fs.readFileSync(join(dir, 'big'));
        expect(written.subarray(0, p0.length).equals(p0)).toBe(true);
        expect(written.subarray(p0.length, at2).equals(Buffer.alloc(p1.length))).toBe(true); // nothing of the damaged one
        expect(written.subarray(at2, again).equals(p2)).toBe(true);
        expect(written.subarray(again).equals(p0)).toBe(true);
        // Several areas at once: more than the per-worker queue bound.
        const many = await Promise.all(
          Array.from({ length: 7 }, () => area()).map((x) => pool.open(x.area, x.objects)),
        );
        for (const m of many) expect(m.map((r) => 'written' in r)).toEqual([true, false, true]);
      } finally {
        fs.closeSync(fd);
        await pool.close();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});

describe('OpenPool landing small files', () => {
  for (const workers of [0, 1, 2]) {
    it(`lands the files of one object where it is opened (${workers} workers), only once it verified`, async () => {
      const dir = fs.mkdtempSync(join(tmpdir(), 'pb-open-land-'));
      const pool = new OpenPool(workers, keys);
      try {
        const a = area();
        const meta = {
          mode: 0o640,
          uid: process.getuid?.() ?? 0,
          gid: process.getgid?.() ?? 0,
          mtimeSec: 1_500_000_000,
          mtimeNsec: 250_000_000,
        };
        const to = (name: string) => ({ dest: Buffer.from(join(dir, name)), meta });
        const objects: OpenTarget[] = [
          { ...a.objects[0]!, land: [to('a1'), to('a2'), to('missing/a3')] },
          { ...a.objects[1]!, land: [to('b')] }, // damaged
          { ...a.objects[2]!, land: [to('c')] },
        ];
        const results = await pool.open(a.area, objects);
        const [r0, r1, r2] = results;
        expect(r0 && 'landed' in r0 && r0.landed.slice(0, 2)).toEqual([null, null]);
        expect(r0 && 'landed' in r0 && r0.landed[2]).toMatch(/cannot create .*missing\/a3\.pb-tmp-.*ENOENT/);
        expect(r1 && 'error' in r1 && r1.error).toMatch(/fails authentication/);
        expect(r2).toEqual({ landed: [null], written: [] });
        for (const [name, plain] of [
          ['a1', a.plains[0]!],
          ['a2', a.plains[0]!],
          ['c', a.plains[2]!],
        ] as const) {
          const path = join(dir, name);
          expect(fs.readFileSync(path).equals(plain)).toBe(true);
          const st = fs.statSync(path, { bigint: true });
          expect(Number(st.mode & 0o7777n)).toBe(0o640);
          expect(Number(st.mtimeNs / 1000n)).toBe(1_500_000_000_250_000);
        }
        // Nothing of the damaged object, and no temporary file anywhere.
        expect(fs.readdirSync(dir).sort()).toEqual(['a1', 'a2', 'c']);
      } finally {
        await pool.close();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});

describe('OpenPool sharing an area', () => {
  it('opens and lands many small files of an area in shared memory, split between two workers', async () => {
    const dir = fs.mkdtempSync(join(tmpdir(), 'pb-open-shared-'));
    const pool = new OpenPool(2, keys);
    try {
      const a = area();
      const shared = Buffer.from(new SharedArrayBuffer(a.area.length));
      a.area.copy(shared);
      const meta = { mode: 0o600, uid: 0, gid: 0, mtimeSec: 1_600_000_000, mtimeNsec: 0 };
      const objects: OpenTarget[] = [0, 2].flatMap((o) =>
        Array.from({ length: MIN_LANDS_TO_SPLIT }, (_, i) => ({
          ...a.objects[o]!,
          land: [{ dest: Buffer.from(join(dir, `o${o}-${i}`)), meta }],
        })),
      );
      const results = await pool.open(shared, objects);
      expect(results.every((r) => 'landed' in r && r.landed[0] === null)).toBe(true);
      expect(shared.equals(a.area)).toBe(true);
      for (const o of [0, 2]) expect(fs.readFileSync(join(dir, `o${o}-7`)).equals(a.plains[o]!)).toBe(true);
      expect(fs.readdirSync(dir)).toHaveLength(2 * MIN_LANDS_TO_SPLIT);
    } finally {
      await pool.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('splitTargets', () => {
  const target = (offset: number, sealedBytes: number, lands: number): OpenTarget => ({
    id: Buffer.alloc(32),
    offset,
    sealedBytes,
    codec: 0,
    land: Array.from({ length: lands }, () => ({
      dest: Buffer.from('x'),
      meta: { mode: 0o600, uid: 0, gid: 0, mtimeSec: 0, mtimeNsec: 0 },
    })),
  });

  it('keeps a stripe with few files to land whole, in offset order', () => {
    const objects = [target(300, 10, 1), target(0, 10, 1), target(100, 10, 0)];
    expect(splitTargets(objects, 2)).toEqual([[1, 2, 0]]);
    expect(splitTargets(objects, 1)).toEqual([[1, 2, 0]]);
  });

  it('splits many small files into runs of neighbours of about equal work, each object once', () => {
    const objects = Array.from({ length: 4 * MIN_LANDS_TO_SPLIT }, (_, i) => target((63 - i) * 1000, 900, 1));
    const parts = splitTargets(objects, 2);
    expect(parts).toHaveLength(2);
    expect(parts.flat().sort((a, b) => a - b)).toEqual(objects.map((_, i) => i));
    expect(Math.abs(parts[0]!.length - parts[1]!.length)).toBeLessThanOrEqual(1);
    // Each part is a run of neighbouring objects: the first holds the lower offsets.
    const top = Math.max(...parts[0]!.map((i) => objects[i]!.offset));
    expect(parts[1]!.every((i) => objects[i]!.offset > top)).toBe(true);
  });
});
