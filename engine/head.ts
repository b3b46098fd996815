/**
 * An owner's head (docs/design.md §6): the small signed pointer to its newest snapshot, kept by
 * every member. To the network it is opaque bytes with an owner, a sequence number and a
 * signature; the body (encrypted by the owner) is the data path's business.
 *
 *   head    = pb-cbor [ payload: bytes, signature: bytes(64) ]       at most 65,600 bytes
 *   payload = pb-cbor [ version = 1, owner: bytes(32), seq: uint, body: bytes(<= 64 KiB) ]
 *   signature = Ed25519(owner's identity seed, "pb/v1/head" || payload)
 *
 * A member keeps, per owner, the valid head with the highest `seq`; an equal seq with other
 * bytes is a conflict and keeps the first (an owner never signs two heads with one seq).
 */
import { type CborValue, decodeCbor, encodeCbor } from './group/cbor.ts';
import { GroupError } from './group/errors.ts';
import { memberIdFromPublicKey } from './group/member-id.ts';
import { type Ed25519Sign, type Ed25519Verify, nobleSign, nobleVerify } from './group/ops.ts';

export const HEAD_VERSION = 1;
export const HEAD_SIGNATURE_CONTEXT = 'pb/v1/head';
export const MAX_HEAD_BODY_BYTES = 64 * 1024;
export const MAX_HEAD_BYTES = MAX_HEAD_BODY_BYTES + 256;

export interface SignedHead {
  /** Owner member id. */
  readonly owner: string;
  readonly seq: number;
  readonly body: Uint8Array;
  /** The exact wire bytes. */
  readonly bytes: Uint8Array;
}

const CONTEXT = new TextEncoder().encode(HEAD_SIGNATURE_CONTEXT);

function signed(payload: Uint8Array): Uint8Array {
  const m = new Uint8Array(CONTEXT.length + payload.length);
  m.set(CONTEXT, 0);
  m.set(payload, CONTEXT.length);
  return m;
}

export function signHead(
  keys: { signingSeed: Uint8Array; publicKey: Uint8Array },
  seq: number,
  body: Uint8Array,
  sign: Ed25519Sign = nobleSign,
): SignedHead {
  if (!Number.isSafeInteger(seq) || seq < 0)
    throw new GroupError('invalid-argument', 'a head seq is a whole number >= 0');
  if (!(body instanceof Uint8Array) || body.length > MAX_HEAD_BODY_BYTES) {
    throw new GroupError('invalid-argument', `a head body is at most ${MAX_HEAD_BODY_BYTES} bytes`);
  }
  const payload = encodeCbor([HEAD_VERSION, keys.publicKey, seq, body]);
  const bytes = encodeCbor([payload, sign(signed(payload), keys.signingSeed)]);
  return { owner: memberIdFromPublicKey(keys.publicKey), seq, body, bytes };
}

/** Size, encoding, version, fields, then the signature; a typed GroupError for each fault. */
export function decodeHead(bytes: Uint8Array, verify: Ed25519Verify = nobleVerify): SignedHead {
  if (!(bytes instanceof Uint8Array) || bytes.length > MAX_HEAD_BYTES) {
    throw new GroupError('too-large', `a head is at most ${MAX_HEAD_BYTES} bytes`);
  }
  const outer = decodeCbor(bytes, 'head');
  if (!Array.isArray(outer) || outer.length !== 2)
    throw new GroupError('bad-encoding', 'a head is [payload, signature]');
  const [payload, signature] = outer as [CborValue, CborValue];
  if (!(payload instanceof Uint8Array) || !(signature instanceof Uint8Array) || signature.length !== 64) {
    throw new GroupError('bad-encoding', 'a head is [payload: bytes, signature: bytes(64)]');
  }
  const fields = decodeCbor(payload, 'head payload');
  if (!Array.isArray(fields) || fields.length !== 4)
    throw new GroupError('bad-encoding', 'a head payload has 4 fields');
  const [version, owner, seq, body] = fields;
  if (version !== HEAD_VERSION) throw new GroupError('bad-version', `head version ${String(version)}`);
  if (!(owner instanceof Uint8Array) || owner.length !== 32)
    throw new GroupError('bad-op', 'a head owner is 32 bytes');
  if (typeof seq !== 'number') throw new GroupError('bad-op', 'a head seq is a number');
  if (!(body instanceof Uint8Array) || body.length > MAX_HEAD_BODY_BYTES)
    throw new GroupError('bad-op', 'a head body is bytes');
  if (!verify(signature, signed(payload), owner))
    throw new GroupError('bad-signature', 'the head signature does not verify under its owner');
  return { owner: memberIdFromPublicKey(owner), seq, body, bytes };
}

/** Whether `candidate` replaces `current` (newer seq, same owner). */
export function headIsNewer(current: SignedHead | null, candidate: SignedHead): boolean {
  if (current === null) return true;
  if (current.owner !== candidate.owner)
    throw new GroupError('invalid-argument', 'heads of two owners compared');
  return candidate.seq > current.seq;
}
