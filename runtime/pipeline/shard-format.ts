/**
 * Shard file format v1 (docs/formats.md, "Shard"). A shard = header || body.
 *
 *   offset size  field
 *   0      4     magic "PBSH"
 *   4      1     version = 1
 *   5      1     k (data shards, 1..24)
 *   6      1     m (parity shards, 1..6)
 *   7      1     index of this shard (0..k+m-1; < k data, >= k parity)
 *   8      4     body length in bytes (u32 LE, a multiple of 8, <= 256 MiB)
 *   12     2     stripe id length (u16 LE, 1..256)
 *   14     2     owner length (u16 LE, 1..128)
 *   16     ..    stripe id (UTF-8)
 *   ..     ..    owner (UTF-8; the owner's member id)
 *   ..     32(k+m) SHA-256 of each of the k+m bodies, in shard order
 *   ..     32    header checksum: SHA-256 of every header byte before it
 *
 * The shard id is SHA-256 of the whole file (header || body). Decoding is defensive: every
 * length is bounded before it is used and the checksum is checked before any field is trusted.
 */
import { createHash } from 'node:crypto';
import { assert, PipelineError } from './errors.ts';

export const SHARD_MAGIC = Buffer.from('PBSH', 'ascii');
export const SHARD_FORMAT_VERSION = 1;
export const MAX_SHARD_BODY_BYTES = 256 * 1024 * 1024;
export const MAX_STRIPE_ID_BYTES = 256;
export const MAX_OWNER_BYTES = 128;
const FIXED_BYTES = 16;

export interface ShardHeader {
  version: number;
  stripeId: string;
  owner: string;
  k: number;
  m: number;
  index: number;
  bodyBytes: number;
  /** SHA-256 of each body, k + m of them. */
  bodyHashes: Buffer[];
}

export function sha256(bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest();
}

export function encodeShardHeader(h: ShardHeader): Buffer {
  const stripe = Buffer.from(h.stripeId, 'utf8');
  const owner = Buffer.from(h.owner, 'utf8');
  assert(h.version === SHARD_FORMAT_VERSION, 'shard header version 1');
  assert(h.k >= 1 && h.k <= 24 && h.m >= 1 && h.m <= 6, 'k and m in range');
  assert(Number.isInteger(h.index) && h.index >= 0 && h.index < h.k + h.m, 'shard index in range');
  assert(
    h.bodyBytes > 0 && h.bodyBytes <= MAX_SHARD_BODY_BYTES && h.bodyBytes % 8 === 0,
    'body length valid',
  );
  assert(stripe.length >= 1 && stripe.length <= MAX_STRIPE_ID_BYTES, 'stripe id length valid');
  assert(owner.length >= 1 && owner.length <= MAX_OWNER_BYTES, 'owner length valid');
  assert(h.bodyHashes.length === h.k + h.m && h.bodyHashes.every((x) => x.length === 32), 'k+m body hashes');
  const fixed = Buffer.alloc(FIXED_BYTES);
  SHARD_MAGIC.copy(fixed, 0);
  fixed[4] = h.version;
  fixed[5] = h.k;
  fixed[6] = h.m;
  fixed[7] = h.index;
  fixed.writeUInt32LE(h.bodyBytes, 8);
  fixed.writeUInt16LE(stripe.length, 12);
  fixed.writeUInt16LE(owner.length, 14);
  const unsummed = Buffer.concat([fixed, stripe, owner, ...h.bodyHashes]);
  return Buffer.concat([unsummed, sha256(unsummed)]);
}

function corrupt(message: string): PipelineError {
  return new PipelineError('corrupt', `shard header: ${message}`);
}

/** Decode and check a header at the start of `bytes`; returns it and its length in bytes. */
export function decodeShardHeader(bytes: Uint8Array): { header: ShardHeader; headerBytes: number } {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  if (b.length < FIXED_BYTES) throw corrupt(`${b.length} bytes is too short`);
  if (!b.subarray(0, 4).equals(SHARD_MAGIC)) throw corrupt('bad magic (not a pb shard)');
  const version = b[4]!;
  if (version !== SHARD_FORMAT_VERSION) throw corrupt(`unsupported version ${version}`);
  const k = b[5]!;
  const m = b[6]!;
  const index = b[7]!;
  if (k < 1 || k > 24 || m < 1 || m > 6) throw corrupt(`k=${k} m=${m} out of range`);
  if (index >= k + m) throw corrupt(`index ${index} >= k+m=${k + m}`);
  const bodyBytes = b.readUInt32LE(8);
  if (bodyBytes === 0 || bodyBytes > MAX_SHARD_BODY_BYTES || bodyBytes % 8 !== 0) {
    throw corrupt(`body length ${bodyBytes} invalid`);
  }
  const stripeLength = b.readUInt16LE(12);
  const ownerLength = b.readUInt16LE(14);
  if (stripeLength < 1 || stripeLength > MAX_STRIPE_ID_BYTES)
    throw corrupt(`stripe id length ${stripeLength}`);
  if (ownerLength < 1 || ownerLength > MAX_OWNER_BYTES) throw corrupt(`owner length ${ownerLength}`);
  const hashesAt = FIXED_BYTES + stripeLength + ownerLength;
  const sumAt = hashesAt + 32 * (k + m);
  const headerBytes = sumAt + 32;
  if (b.length < headerBytes) throw corrupt(`truncated (${b.length} < ${headerBytes} bytes)`);
  if (!sha256(b.subarray(0, sumAt)).equals(b.subarray(sumAt, headerBytes)))
    throw corrupt('checksum mismatch');
  const stripeId = b.subarray(FIXED_BYTES, FIXED_BYTES + stripeLength).toString('utf8');
  const owner = b.subarray(FIXED_BYTES + stripeLength, hashesAt).toString('utf8');
  const bodyHashes: Buffer[] = [];
  for (let i = 0; i < k + m; i++)
    bodyHashes.push(Buffer.from(b.subarray(hashesAt + 32 * i, hashesAt + 32 * (i + 1))));
  return { header: { version, stripeId, owner, k, m, index, bodyBytes, bodyHashes }, headerBytes };
}

/**
 * Decode a whole shard file and check its body against the header's hash for its index
 * (`verifyBody` false only when the whole file was just verified against a known shard id).
 * Returns the header and a view of the body.
 */
export function decodeShard(bytes: Uint8Array, verifyBody = true): { header: ShardHeader; body: Buffer } {
  const { header, headerBytes } = decodeShardHeader(bytes);
  if (bytes.length !== headerBytes + header.bodyBytes) {
    throw corrupt(`file is ${bytes.length} bytes, header says ${headerBytes + header.bodyBytes}`);
  }
  const body = Buffer.from(bytes.buffer, bytes.byteOffset + headerBytes, header.bodyBytes);
  if (verifyBody && !sha256(body).equals(header.bodyHashes[header.index]!)) {
    throw new PipelineError(
      'corrupt',
      `shard ${header.index} of stripe ${header.stripeId}: body hash mismatch`,
    );
  }
  return { header, body };
}

/** Bytes a header takes for these lengths. */
export function shardHeaderBytes(stripeIdBytes: number, ownerBytes: number, k: number, m: number): number {
  return FIXED_BYTES + stripeIdBytes + ownerBytes + 32 * (k + m) + 32;
}

/**
 * Build the k+m shard files of a stripe from its bodies; returns each file and its id.
 * With `into`, file i is written into into[i] (reused buffers: no allocation per stripe).
 */
export function buildShards(
  stripeId: string,
  owner: string,
  k: number,
  m: number,
  bodies: readonly Buffer[],
  into?: readonly Buffer[],
): { id: string; bytes: Buffer }[] {
  assert(bodies.length === k + m, 'k+m bodies');
  const bodyBytes = bodies[0]!.length;
  assert(
    bodies.every((b) => b.length === bodyBytes),
    'all bodies have one length',
  );
  const bodyHashes = bodies.map((b) => sha256(b));
  return bodies.map((body, index) => {
    const header = encodeShardHeader({
      version: SHARD_FORMAT_VERSION,
      stripeId,
      owner,
      k,
      m,
      index,
      bodyBytes,
      bodyHashes,
    });
    let bytes: Buffer;
    if (into) {
      const target = into[index]!;
      assert(target.length >= header.length + bodyBytes, 'shard buffer is large enough');
      target.set(header, 0);
      target.set(body, header.length);
      bytes = target.subarray(0, header.length + bodyBytes);
    } else bytes = Buffer.concat([header, body]);
    return { id: sha256(bytes).toString('hex'), bytes };
  });
}
