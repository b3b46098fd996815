import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseStripeId, saltedStripeId, stripeBaseId, stripeSeqOf } from '../../engine/index.ts';

const OWNER = 'ab'.repeat(32);

describe('stripe ids (one module builds and parses them)', () => {
  it('builds owner/seq/salt, the bytes placement hashes', () => {
    expect(saltedStripeId(stripeBaseId(OWNER, 7), 1)).toBe(`${OWNER}/7/1`);
    expect(saltedStripeId('o:3', 0)).toBe('o:3/0');
  });

  it('parses what it builds, for every owner, seq and salt', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[0-9a-f]{1,64}$/),
        fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
        fc.constantFrom<0 | 1>(0, 1),
        (owner, seq, salt) => {
          const id = saltedStripeId(stripeBaseId(owner, seq), salt);
          expect(parseStripeId(id)).toEqual({ owner, seq, salt: String(salt) });
          expect(stripeSeqOf(id, owner)).toBe(seq);
        },
      ),
    );
  });

  it('refuses ids that are not an owner stripe id, and other owners', () => {
    for (const id of [
      '',
      OWNER,
      `${OWNER}/7`,
      `${OWNER}/7/0/1`,
      `${OWNER}/0/0`,
      `${OWNER}/07/0`,
      `${OWNER}/-7/0`,
      `${OWNER}/7.5/0`,
      `${OWNER}/ 7/0`,
      `${OWNER}/9007199254740993/0`,
    ]) {
      expect(parseStripeId(id), id).toBeNull();
      expect(stripeSeqOf(id, OWNER), id).toBeNull();
    }
    expect(stripeSeqOf(`${OWNER}/7/0`, 'cd'.repeat(32))).toBeNull();
  });
});
