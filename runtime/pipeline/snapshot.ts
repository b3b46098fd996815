/**
 * Snapshots and the owner's head (docs/formats.md, "Snapshot" and "Head").
 *
 * A snapshot object is stored like any object (kind 2). The head names the newest snapshot:
 *   body = CBOR [1, owner (hex public key), headSeq, sealed]
 *   sealed = nonce || XChaCha20-Poly1305(dataKey, CBOR [snapshotId, timeMs, stripeId]) with
 *            associated data "pb/v1/head\0" || owner
 *   head = CBOR [body, Ed25519 signature over "pb/v1/head\0" || body]
 * It is small, signed and encrypted so that every member can keep a copy (a later issue
 * replicates it) and only the owner can read it.
 */
import { Encoder } from 'cbor-x';
import { nodeEd25519Signer, nodeEd25519Verifier } from '../crypto/ed25519.ts';
import { NONCE_BYTES, sealObject, xchachaDecrypt } from './chunk-crypto.ts';
import { PipelineError } from './errors.ts';

const cbor = new Encoder({ useRecords: false, mapsAsObjects: false, tagUint8Array: false });
const HEAD_CONTEXT = Buffer.from('pb/v1/head\0');
export const HEAD_VERSION = 1;
export const MAX_HEAD_BYTES = 4096;
/** OpenSSL's Ed25519 (runtime/crypto/ed25519.ts): @noble's first signature or check costs ~70 ms. */
const signHead = nodeEd25519Signer();
const verifyHead = nodeEd25519Verifier();

export interface Head {
  owner: string;
  headSeq: number;
  snapshotId: Buffer;
  timeMs: number;
}

export interface HeadKeys {
  signingSeed: Uint8Array;
  publicKey: Uint8Array;
  dataKey: Uint8Array;
}

export function encodeHead(head: Head, keys: HeadKeys, nonce?: Uint8Array): Buffer {
  const aad = Buffer.concat([HEAD_CONTEXT, Buffer.from(head.owner, 'utf8')]);
  const sealed = sealObject(keys.dataKey, aad, cbor.encode([head.snapshotId, head.timeMs]), nonce);
  const body = Buffer.from(cbor.encode([HEAD_VERSION, head.owner, head.headSeq, sealed]));
  const signature = signHead(Buffer.concat([HEAD_CONTEXT, body]), keys.signingSeed);
  return Buffer.from(cbor.encode([body, Buffer.from(signature)]));
}

function bad(what: string): PipelineError {
  return new PipelineError('corrupt', `head: ${what}`);
}

/** Verify the signature with the owner's public key, then decrypt. */
export function decodeHead(bytes: Uint8Array, keys: { publicKey: Uint8Array; dataKey: Uint8Array }): Head {
  if (bytes.length > MAX_HEAD_BYTES) throw bad(`${bytes.length} bytes is too large`);
  let outer: unknown;
  try {
    outer = cbor.decode(bytes);
  } catch {
    throw bad('not CBOR');
  }
  if (
    !Array.isArray(outer) ||
    outer.length !== 2 ||
    !(outer[0] instanceof Uint8Array) ||
    !(outer[1] instanceof Uint8Array)
  ) {
    throw bad('not [body, signature]');
  }
  const body = Buffer.from(outer[0]);
  if (outer[1].length !== 64 || !verifyHead(outer[1], Buffer.concat([HEAD_CONTEXT, body]), keys.publicKey)) {
    throw new PipelineError(
      'wrong-secret',
      'head signature does not verify with this identity: wrong recovery secret or forged head',
    );
  }
  const inner: unknown = cbor.decode(body);
  if (
    !Array.isArray(inner) ||
    inner.length !== 4 ||
    inner[0] !== HEAD_VERSION ||
    typeof inner[1] !== 'string' ||
    !Number.isSafeInteger(inner[2]) ||
    !(inner[3] instanceof Uint8Array)
  ) {
    throw bad('body fields');
  }
  const owner = inner[1];
  const sealed = inner[3];
  const aad = Buffer.concat([HEAD_CONTEXT, Buffer.from(owner, 'utf8')]);
  let plain: Buffer;
  try {
    plain = xchachaDecrypt(keys.dataKey, sealed.subarray(0, NONCE_BYTES), sealed.subarray(NONCE_BYTES), aad);
  } catch {
    throw new PipelineError('wrong-secret', 'head does not decrypt: wrong recovery secret');
  }
  const fields: unknown = cbor.decode(plain);
  if (
    !Array.isArray(fields) ||
    fields.length !== 2 ||
    !(fields[0] instanceof Uint8Array) ||
    fields[0].length !== 32 ||
    !Number.isSafeInteger(fields[1])
  ) {
    throw bad('sealed fields');
  }
  return {
    owner,
    headSeq: inner[2] as number,
    snapshotId: Buffer.from(fields[0]),
    timeMs: fields[1] as number,
  };
}
