/**
 * Keys from the recovery secret (specified in docs/group-log.md and docs/formats.md).
 *
 * One 32-byte recovery secret derives, with HKDF-SHA256 (RFC 5869, salt = "pb recovery secret v1"),
 * three independent 32-byte keys, each under its own info label:
 *
 *   "pb/v1/identity-ed25519"  the member's Ed25519 private key seed (RFC 8032); its public key is
 *                             the member id and the libp2p identity
 *   "pb/v1/data-key"          the XChaCha20-Poly1305 key that encrypts chunks and metadata
 *   "pb/v1/chunk-id-key"      the HMAC-SHA256 key that names chunks (chunk id = HMAC(key, plaintext))
 *
 * Pure: @noble/hashes and @noble/curves, no I/O. The same secret always gives the same identity.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { EngineError } from './errors.ts';

export const RECOVERY_SECRET_BYTES = 32;
export const HKDF_SALT = 'pb recovery secret v1';
export const KEY_LABELS = {
  identity: 'pb/v1/identity-ed25519',
  data: 'pb/v1/data-key',
  chunkId: 'pb/v1/chunk-id-key',
} as const;

export interface MemberKeys {
  /** 32-byte Ed25519 seed (the private key in RFC 8032 terms). */
  readonly signingSeed: Uint8Array;
  /** 32-byte Ed25519 public key: the member's identity. */
  readonly publicKey: Uint8Array;
  /** 32-byte data encryption key. */
  readonly dataKey: Uint8Array;
  /** 32-byte chunk-id HMAC key. */
  readonly chunkIdKey: Uint8Array;
}

const utf8 = new TextEncoder();

export function deriveKey(secret: Uint8Array, label: string): Uint8Array {
  return hkdf(sha256, secret, utf8.encode(HKDF_SALT), utf8.encode(label), 32);
}

/** The Ed25519 public key of a 32-byte seed (RFC 8032); the runtime injects OpenSSL's. */
export type Ed25519PublicKeyOf = (signingSeed: Uint8Array) => Uint8Array;

/**
 * The member's keys from its recovery secret. `publicKeyOf` computes the identity from the seed:
 * @noble/curves by default (pure JS: about 70 ms the first time, building its base-point table);
 * any RFC 8032 implementation gives the same bytes, and the result is checked to be 32 bytes.
 */
export function deriveMemberKeys(
  recoverySecret: Uint8Array,
  publicKeyOf: Ed25519PublicKeyOf = ed25519.getPublicKey,
): MemberKeys {
  if (!(recoverySecret instanceof Uint8Array) || recoverySecret.length !== RECOVERY_SECRET_BYTES) {
    throw new EngineError(
      'invalid-argument',
      `the recovery secret must be ${RECOVERY_SECRET_BYTES} bytes, got ${recoverySecret instanceof Uint8Array ? recoverySecret.length : typeof recoverySecret}`,
    );
  }
  const signingSeed = deriveKey(recoverySecret, KEY_LABELS.identity);
  const publicKey = publicKeyOf(signingSeed);
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32)
    throw new EngineError('invalid-argument', 'publicKeyOf must give a 32-byte Ed25519 public key');
  return {
    signingSeed,
    publicKey,
    dataKey: deriveKey(recoverySecret, KEY_LABELS.data),
    chunkIdKey: deriveKey(recoverySecret, KEY_LABELS.chunkId),
  };
}
