import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { copyBytes } from '../../runtime/copy-bytes.ts';

describe('copyBytes', () => {
  it('copies into shared memory exactly the bytes given, at the offset given, and nothing else', () => {
    const area = Buffer.from(new SharedArrayBuffer(1 << 20));
    area.fill(0xaa);
    const body = randomBytes(65_437);
    expect(copyBytes(area, 12_345, body)).toBe(body.length);
    expect(area.subarray(12_345, 12_345 + body.length).equals(body)).toBe(true);
    expect(area.subarray(0, 12_345).every((b) => b === 0xaa)).toBe(true);
    expect(area.subarray(12_345 + body.length).every((b) => b === 0xaa)).toBe(true);
  });

  it('copies into a plain view of shared memory and into ordinary memory alike', () => {
    const body = Uint8Array.from([1, 2, 3, 4, 5]);
    const shared = new Uint8Array(new SharedArrayBuffer(64), 8, 16);
    copyBytes(shared, 3, body);
    expect([...new Uint8Array(shared.buffer, 8 + 3, 5)]).toEqual([1, 2, 3, 4, 5]);
    const plain = new Uint8Array(10);
    copyBytes(plain, 5, body);
    expect([...plain]).toEqual([0, 0, 0, 0, 0, 1, 2, 3, 4, 5]);
  });

  it('copies a view of a larger buffer, not the buffer behind it', () => {
    const whole = randomBytes(4096);
    const into = Buffer.from(new SharedArrayBuffer(100));
    copyBytes(into, 10, whole.subarray(1000, 1050));
    expect(into.subarray(10, 60).equals(whole.subarray(1000, 1050))).toBe(true);
    expect(into[60]).toBe(0);
  });

  it('copies nothing for an empty source and refuses a copy past the end', () => {
    const into = Buffer.from(new SharedArrayBuffer(8));
    expect(copyBytes(into, 8, new Uint8Array(0))).toBe(0);
    expect(() => copyBytes(into, 5, new Uint8Array(4))).toThrow(/4 bytes at 5 do not fit a buffer of 8/);
    expect(() => copyBytes(into, -1, new Uint8Array(1))).toThrow(RangeError);
    expect([...into]).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
  });
});
