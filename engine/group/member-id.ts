/**
 * Member ids: the libp2p PeerId text form of a member's Ed25519 public key, computed purely.
 *
 *   protobuf PublicKey { Type = Ed25519 (1), Data = 32 raw bytes }  = 08 01 12 20 || key   (36 bytes)
 *   identity multihash of that                                     = 00 24 || protobuf    (38 bytes)
 *   member id = base58btc (Bitcoin alphabet, no multibase prefix) of the multihash: "12D3KooW..."
 *
 * This is what `peerIdFromPublicKey(publicKeyFromRaw(key)).toString()` gives in js-libp2p; a
 * test checks that against @libp2p/peer-id, which the engine itself does not import.
 */
import { GroupError } from './errors.ts';

export const ED25519_PUBLIC_KEY_BYTES = 32;
const PREFIX = Uint8Array.of(0x00, 0x24, 0x08, 0x01, 0x12, 0x20);
const MULTIHASH_BYTES = PREFIX.length + ED25519_PUBLIC_KEY_BYTES;
const ALPHABET = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
const INDEX = new Int8Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) INDEX[ALPHABET.charCodeAt(i)] = i;
/** base58 of 38 bytes is at most 52 characters; a 38-byte multihash of this prefix gives 52. */
export const MEMBER_ID_MAX_CHARS = 60;

export function base58btcEncode(bytes: Uint8Array): string {
  let zeros = 0;
  while (zeros < bytes.length && bytes[zeros] === 0) zeros++;
  // digits in base 58, little-endian; ceil(log(256)/log(58)) = 1.37 digits per byte
  const digits = new Uint8Array(Math.ceil(((bytes.length - zeros) * 138) / 100) + 1);
  let length = 0;
  for (let i = zeros; i < bytes.length; i++) {
    let carry = bytes[i]!;
    for (let j = 0; j < length; j++) {
      carry += digits[j]! << 8;
      digits[j] = carry % 58;
      carry = (carry / 58) | 0;
    }
    while (carry > 0) {
      digits[length++] = carry % 58;
      carry = (carry / 58) | 0;
    }
  }
  let out = '1'.repeat(zeros);
  for (let j = length - 1; j >= 0; j--) out += ALPHABET[digits[j]!];
  return out;
}

export function base58btcDecode(text: string): Uint8Array {
  let zeros = 0;
  while (zeros < text.length && text[zeros] === '1') zeros++;
  const bytes = new Uint8Array(Math.ceil(((text.length - zeros) * 733) / 1000) + 1);
  let length = 0;
  for (let i = zeros; i < text.length; i++) {
    const code = text.charCodeAt(i);
    const value = code < 128 ? INDEX[code]! : -1;
    if (value < 0)
      throw new GroupError(
        'invalid-argument',
        `not a base58btc character at ${i}: ${JSON.stringify(text[i])}`,
      );
    let carry = value;
    for (let j = 0; j < length; j++) {
      carry += bytes[j]! * 58;
      bytes[j] = carry & 0xff;
      carry >>= 8;
    }
    while (carry > 0) {
      bytes[length++] = carry & 0xff;
      carry >>= 8;
    }
  }
  const out = new Uint8Array(zeros + length);
  for (let j = 0; j < length; j++) out[zeros + j] = bytes[length - 1 - j]!;
  return out;
}

/** The libp2p PeerId string of a raw 32-byte Ed25519 public key. */
export function memberIdFromPublicKey(publicKey: Uint8Array): string {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== ED25519_PUBLIC_KEY_BYTES) {
    throw new GroupError('invalid-argument', `an Ed25519 public key is ${ED25519_PUBLIC_KEY_BYTES} bytes`);
  }
  const mh = new Uint8Array(MULTIHASH_BYTES);
  mh.set(PREFIX, 0);
  mh.set(publicKey, PREFIX.length);
  return base58btcEncode(mh);
}

/** The raw Ed25519 public key inside a member id; a typed error for anything else. */
export function publicKeyFromMemberId(memberId: string): Uint8Array {
  if (typeof memberId !== 'string' || memberId.length === 0 || memberId.length > MEMBER_ID_MAX_CHARS) {
    throw new GroupError(
      'invalid-argument',
      `a member id is a non-empty string of at most ${MEMBER_ID_MAX_CHARS} characters`,
    );
  }
  const mh = base58btcDecode(memberId);
  if (mh.length !== MULTIHASH_BYTES || PREFIX.some((b, i) => mh[i] !== b)) {
    throw new GroupError(
      'invalid-argument',
      `${JSON.stringify(memberId)} is not the PeerId of an Ed25519 key`,
    );
  }
  return mh.slice(PREFIX.length);
}
