/**
 * node:crypto Ed25519 verification for the engine's injectable verifier (`decodeOp(bytes, { verify })`).
 *
 * OpenSSL verifies Ed25519 about 20x faster than @noble/curves in plain JS. A raw 32-byte key
 * becomes a KeyObject through its SPKI DER form (the fixed 12-byte prefix of RFC 8410 plus the
 * key); KeyObjects are cached per key (bounded), since a group has few authors.
 * OpenSSL checks like RFC 8032 (canonical S and R): the same verdicts as the engine's default,
 * `@noble/curves` with `zip215: false`; a test compares them.
 */
import { createHash, createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';
import {
  deriveMemberKeys,
  type Ed25519PublicKeyOf,
  type Ed25519Sign,
  type Ed25519Verify,
  type MemberKeys,
} from '../../engine/index.ts';

/** SEQUENCE { SEQUENCE { OID 1.3.101.112 } BIT STRING (33 bytes) }: RFC 8410 section 4. */
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const KEY_CACHE_MAX = 1024;
/** PrivateKeyInfo { version 0, AlgorithmIdentifier Ed25519, OCTET STRING { OCTET STRING (32) } }: RFC 8410 section 7. */
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** The private KeyObject of a raw 32-byte seed (its PKCS#8 DER form). */
function privateKeyOf(signingSeed: Uint8Array): KeyObject {
  if (signingSeed.length !== 32) throw new Error('an Ed25519 seed is 32 bytes');
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, signingSeed]), format: 'der', type: 'pkcs8' });
}

/** node:crypto's Ed25519 public key of a seed: the same 32 bytes as @noble's, in microseconds. */
export const nodeEd25519PublicKey: Ed25519PublicKeyOf = (signingSeed) => {
  const jwk = createPublicKey(privateKeyOf(signingSeed)).export({ format: 'jwk' });
  const raw = Buffer.from(jwk.x ?? '', 'base64url');
  if (raw.length !== 32) throw new Error('OpenSSL gave no 32-byte Ed25519 public key');
  return new Uint8Array(raw);
};

/**
 * The member's keys (engine deriveMemberKeys) with the public key from OpenSSL: @noble's first
 * Ed25519 operation builds a base-point table (about 70 ms, and as long again to verify), which
 * every CLI command paid at its start.
 */
export function memberKeysOf(recoverySecret: Uint8Array): MemberKeys {
  return deriveMemberKeys(recoverySecret, nodeEd25519PublicKey);
}

/** node:crypto Ed25519 signing from a raw 32-byte seed; RFC 8032 signatures are deterministic,
 * so the bytes equal @noble's. KeyObjects are cached per seed (bounded; keyed by a hash of it). */
export function nodeEd25519Signer(): Ed25519Sign {
  const cache = new Map<string, KeyObject>();
  return (message, signingSeed) => {
    if (signingSeed.length !== 32) throw new Error('an Ed25519 seed is 32 bytes');
    const id = createHash('sha256').update(signingSeed).digest('base64');
    let key = cache.get(id);
    if (key === undefined) {
      key = privateKeyOf(signingSeed);
      if (cache.size >= KEY_CACHE_MAX) cache.clear();
      cache.set(id, key);
    }
    return new Uint8Array(sign(null, message, key));
  };
}

export function nodeEd25519Verifier(): Ed25519Verify {
  const cache = new Map<string, KeyObject | null>();
  const keyObject = (publicKey: Uint8Array): KeyObject | null => {
    const id = Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.byteLength).toString('latin1');
    let key = cache.get(id);
    if (key === undefined) {
      try {
        key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' });
      } catch {
        key = null; // not a point on the curve
      }
      if (cache.size >= KEY_CACHE_MAX) cache.clear();
      cache.set(id, key);
    }
    return key;
  };
  return (signature, message, publicKey) => {
    if (publicKey.length !== 32 || signature.length !== 64) return false;
    const key = keyObject(publicKey);
    if (key === null) return false;
    try {
      return verify(null, message, key, signature);
    } catch {
      return false;
    }
  };
}
