import { ed25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import { deriveMemberKeys, EngineError } from '../../engine/index.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('deriveMemberKeys', () => {
  it('is deterministic and domain-separated', () => {
    const secret = new Uint8Array(32).fill(7);
    const a = deriveMemberKeys(secret);
    const b = deriveMemberKeys(new Uint8Array(32).fill(7));
    expect(hex(a.publicKey)).toBe(hex(b.publicKey));
    expect(new Set([hex(a.signingSeed), hex(a.dataKey), hex(a.chunkIdKey)]).size).toBe(3);
    expect(hex(ed25519.getPublicKey(a.signingSeed))).toBe(hex(a.publicKey));
  });

  it('rejects a secret of the wrong size', () => {
    expect(() => deriveMemberKeys(new Uint8Array(31))).toThrow(EngineError);
  });
});
