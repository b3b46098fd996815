import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Chunker, chunkLengths, DEFAULT_CHUNKER, GEAR } from '../../runtime/pipeline/fastcdc.ts';
import { detBytes } from './helpers.ts';

const MiB = 1024 * 1024;

function boundaries(lengths: number[]): number[] {
  const out: number[] = [];
  let pos = 0;
  for (const n of lengths) {
    pos += n;
    out.push(pos);
  }
  return out;
}

function streamLengths(data: Buffer, readSizes: number[]): number[] {
  const chunker = new Chunker();
  const out: number[] = [];
  let pos = 0;
  let r = 0;
  for (;;) {
    const space = chunker.fill();
    const n = Math.min(space.length, data.length - pos, readSizes[r++ % readSizes.length]!);
    data.copy(space, 0, pos, pos + n);
    pos += n;
    if (n === 0) chunker.finish();
    else chunker.commit(n);
    for (let c = chunker.next(); c; c = chunker.next()) out.push(c.length);
    if (n === 0) break;
  }
  return out;
}

describe('FastCDC', () => {
  const data = detBytes('fastcdc', 24 * MiB);
  const lengths = chunkLengths(data);

  it('pins the gear table and the boundaries of a seeded input (test vector, docs/formats.md)', () => {
    expect(Array.from(GEAR.subarray(0, 4)).map((x) => (x >>> 0).toString(16).padStart(8, '0'))).toEqual([
      'f4c79e4e',
      '0e68e261',
      'f4225787',
      '41dbdb14',
    ]);
    expect(lengths.slice(0, 8)).toEqual([
      1467130, 1088846, 1759924, 1254852, 1271511, 1251575, 1325290, 1138305,
    ]);
  });

  it('respects min, max, and averages near 1 MiB', () => {
    expect(lengths.reduce((a, b) => a + b, 0)).toBe(data.length);
    for (const n of lengths.slice(0, -1)) {
      expect(n).toBeGreaterThanOrEqual(DEFAULT_CHUNKER.minBytes);
      expect(n).toBeLessThanOrEqual(DEFAULT_CHUNKER.maxBytes);
    }
    const mean = data.length / lengths.length;
    expect(mean).toBeGreaterThan(0.6 * MiB);
    expect(mean).toBeLessThan(1.6 * MiB);
  });

  it('streaming with any read sizes gives the same chunks as the whole buffer', () => {
    const small = data.subarray(0, 12 * MiB);
    const whole = chunkLengths(small);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 9 * MiB }), { minLength: 1, maxLength: 5 }), (sizes) => {
        expect(streamLengths(small, sizes)).toEqual(whole);
      }),
      { numRuns: 8 },
    );
  });

  it('inserting bytes moves only the boundaries near the edit', () => {
    const at = 10 * MiB + 12345;
    const edited = Buffer.concat([
      data.subarray(0, at),
      Buffer.from('an insertion of some bytes'),
      data.subarray(at),
    ]);
    const before = boundaries(lengths);
    const after = boundaries(chunkLengths(edited));
    const shift = edited.length - data.length;
    const unchangedBefore = before.filter((b) => b < at);
    expect(after.filter((b) => b < at)).toEqual(unchangedBefore);
    // After the edit, boundaries resynchronise within a chunk or two and then are the old ones shifted.
    const oldAfter = new Set(before.filter((b) => b > at).map((b) => b + shift));
    const newAfter = after.filter((b) => b > at);
    const differing = newAfter.filter((b) => !oldAfter.has(b));
    expect(differing.length).toBeLessThanOrEqual(2);
    expect(newAfter.length - differing.length).toBeGreaterThan(before.filter((b) => b > at).length - 3);
  });

  it('zero runs (sparse files) cut at the maximum size, fast, and stream identically', () => {
    const zeros = Buffer.alloc(64 * MiB);
    const started = performance.now();
    const z = chunkLengths(zeros);
    expect(z.every((n) => n === DEFAULT_CHUNKER.maxBytes)).toBe(true);
    expect(performance.now() - started).toBeLessThan(5000);
    const mixed = Buffer.concat([
      data.subarray(0, 3 * MiB),
      Buffer.alloc(9 * MiB),
      data.subarray(3 * MiB, 6 * MiB),
    ]);
    expect(streamLengths(mixed, [1 * MiB + 7])).toEqual(chunkLengths(mixed));
  });
});
