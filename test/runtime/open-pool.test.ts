import { describe, expect, it } from 'vitest';
import { deriveMemberKeys } from '../../engine/index.ts';
import { chunkId, sealChunk } from '../../runtime/pipeline/chunk-crypto.ts';
import { OpenPool, type OpenTarget } from '../../runtime/pipeline/open-pool.ts';
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
    it(`opens objects of an area (tag and id checked) with ${workers} workers and hands the area back`, async () => {
      const pool = new OpenPool(workers, keys);
      try {
        const a = area();
        const copy = Buffer.from(a.area);
        const outside = { id: a.objects[0]!.id, offset: a.area.length - 10, sealedBytes: 100, codec: 0 };
        const { area: back, results } = await pool.open(a.area, [...a.objects, outside]);
        expect(back.equals(copy)).toBe(true);
        expect('plain' in results[0]! && results[0].plain.equals(a.plains[0]!)).toBe(true);
        expect('error' in results[1]! && results[1].error).toMatch(/fails authentication/);
        expect('plain' in results[2]! && results[2].plain.equals(a.plains[2]!)).toBe(true);
        expect('error' in results[3]! && results[3].error).toMatch(/outside its stripe/);
        // Several areas at once: more than the per-worker queue bound.
        const many = await Promise.all(
          Array.from({ length: 7 }, () => area()).map((x) => pool.open(x.area, x.objects)),
        );
        for (const m of many) expect(m.results.map((r) => 'plain' in r)).toEqual([true, false, true]);
      } finally {
        await pool.close();
      }
    });
  }
});
