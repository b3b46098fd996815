/**
 * OpenSSL's Ed25519 (runtime/crypto/ed25519.ts) in place of @noble's where the runtime derives a
 * member's identity and signs or checks a head: the same public keys and the same signatures for
 * many secrets, and a head made with one verifies with the other.
 */
import { randomBytes } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import { deriveMemberKeys, EngineError } from '../../engine/index.ts';
import { memberKeysOf, nodeEd25519PublicKey, nodeEd25519Signer } from '../../runtime/crypto/ed25519.ts';
import { decodeHead, encodeHead } from '../../runtime/pipeline/snapshot.ts';

describe('Ed25519 through node:crypto', () => {
  it('derives the same keys as the engine default for 200 secrets, and signs the same bytes', () => {
    const sign = nodeEd25519Signer();
    for (let i = 0; i < 200; i++) {
      const secret = i === 0 ? new Uint8Array(32) : i === 1 ? new Uint8Array(32).fill(255) : randomBytes(32);
      const fast = memberKeysOf(secret);
      const noble = deriveMemberKeys(secret);
      expect(Buffer.from(fast.publicKey).equals(Buffer.from(noble.publicKey))).toBe(true);
      expect(Buffer.from(fast.dataKey).equals(Buffer.from(noble.dataKey))).toBe(true);
      const message = randomBytes(i);
      const signature = sign(message, fast.signingSeed);
      expect(Buffer.from(signature).equals(Buffer.from(ed25519.sign(message, noble.signingSeed)))).toBe(true);
    }
  });

  it('a head signed by one verifies with the other; a wrong size is refused', () => {
    const keys = deriveMemberKeys(new Uint8Array(32).fill(9));
    const head = { owner: 'o', headSeq: 3, snapshotId: Buffer.alloc(32, 1), timeMs: 1_700_000_000_000 };
    const bytes = encodeHead(head, keys);
    expect(decodeHead(bytes, memberKeysOf(new Uint8Array(32).fill(9))).headSeq).toBe(3);
    expect(() => nodeEd25519PublicKey(new Uint8Array(31))).toThrow(/32 bytes/);
    expect(() => deriveMemberKeys(new Uint8Array(32), () => new Uint8Array(31))).toThrow(EngineError);
  });
});
