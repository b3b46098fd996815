/**
 * node:crypto Ed25519 verification for the engine's injectable verifier (`decodeOp(bytes, { verify })`).
 *
 * OpenSSL verifies Ed25519 about 20x faster than @noble/curves in plain JS. A raw 32-byte key
 * becomes a KeyObject through its SPKI DER form (the fixed 12-byte prefix of RFC 8410 plus the
 * key); KeyObjects are cached per key (bounded), since a group has few authors.
 * OpenSSL checks like RFC 8032 (canonical S and R): the same verdicts as the engine's default,
 * `@noble/curves` with `zip215: false`; a test compares them.
 */
import { createPublicKey, type KeyObject, verify } from 'node:crypto';
import type { Ed25519Verify } from '../../engine/index.ts';

/** SEQUENCE { SEQUENCE { OID 1.3.101.112 } BIT STRING (33 bytes) }: RFC 8410 section 4. */
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const KEY_CACHE_MAX = 1024;

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
