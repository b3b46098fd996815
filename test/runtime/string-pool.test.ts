import { describe, expect, it } from 'vitest';
import { StringPool } from '../../runtime/string-pool.ts';

describe('StringPool', () => {
  it('keeps one entry per distinct text, starts over past its bound, and refuses a bad bound', () => {
    const pool = new StringPool(3);
    for (const t of ['a', 'b', 'a', 'c', 'b']) expect(pool.intern(t)).toBe(t);
    expect(pool.size).toBe(3);
    expect(pool.intern('d')).toBe('d'); // past the bound: the pool starts over with it
    expect(pool.size).toBe(1);
    pool.clear();
    expect(pool.size).toBe(0);
    expect(() => new StringPool(0)).toThrow(/maxEntries/);
  });
});
