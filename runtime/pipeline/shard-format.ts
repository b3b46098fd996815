/**
 * Shard file format v2 (docs/formats.md, "Shard files"). A shard = body || trailer.
 *
 * The trailer comes after the body so that one SHA-256 pass over the body gives both the body's
 * hash (recorded in every trailer of the stripe) and, continued over the trailer, the shard id:
 * every shard byte is hashed once when it is written.
 *
 *   trailer  offset (from the trailer's start)  size
 *            0                                  S        stripe id (UTF-8)
 *            S                                  O        owner (UTF-8; the owner's member id)
 *            S+O                                32(k+m)  SHA-256 of each of the k+m bodies
 *            ..                                 16       fixed fields (below)
 *            ..                                 32       checksum: SHA-256 of the trailer before it
 *   fixed    0 magic "PBSH" (4) | 4 version = 2 | 5 k (1..24) | 6 m (1..6) | 7 index (0..k+m-1)
 *            8 body length (u32 LE, a multiple of 8, <= 256 MiB) | 12 S (u16 LE, 1..256)
 *            14 O (u16 LE, 1..128)
 *
 * The last 48 bytes of a file are the fixed fields and the checksum, so a reader finds the
 * trailer from the end. The shard id is SHA-256 of the whole file (body || trailer), so a store
 * verifies a shard without knowing this format. Decoding is defensive: every length is bounded
 * before it is used and the checksum is checked before any field is trusted.
 */
import { createHash, type Hash } from 'node:crypto';
import { assert, PipelineError } from './errors.ts';

export const SHARD_MAGIC = Buffer.from('PBSH', 'ascii');
export const SHARD_FORMAT_VERSION = 2;
export const MAX_SHARD_BODY_BYTES = 256 * 1024 * 1024;
export const MAX_STRIPE_ID_BYTES = 256;
export const MAX_OWNER_BYTES = 128;
const FIXED_BYTES = 16;
const CHECKSUM_BYTES = 32;
/** The fixed fields and the checksum end every shard file. */
const TAIL_BYTES = FIXED_BYTES + CHECKSUM_BYTES;

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

/** The trailer (the shard's metadata) that follows a body. */
export function encodeShardTrailer(h: ShardHeader): Buffer {
  const stripe = Buffer.from(h.stripeId, 'utf8');
  const owner = Buffer.from(h.owner, 'utf8');
  assert(h.version === SHARD_FORMAT_VERSION, `shard format version ${SHARD_FORMAT_VERSION}`);
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
  const unsummed = Buffer.concat([stripe, owner, ...h.bodyHashes, fixed]);
  return Buffer.concat([unsummed, sha256(unsummed)]);
}

function corrupt(message: string): PipelineError {
  return new PipelineError('corrupt', `shard trailer: ${message}`);
}

/**
 * Decode and check the trailer at the end of a whole shard file; returns it, the trailer's
 * length and where it starts (= the body length).
 */
export function decodeShardHeader(bytes: Uint8Array): { header: ShardHeader; trailerBytes: number } {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  if (b.length < TAIL_BYTES) throw corrupt(`${b.length} bytes is too short`);
  const at = b.length - TAIL_BYTES;
  if (!b.subarray(at, at + 4).equals(SHARD_MAGIC)) throw corrupt('bad magic (not a pb shard)');
  const version = b[at + 4]!;
  if (version !== SHARD_FORMAT_VERSION) throw corrupt(`unsupported version ${version}`);
  const k = b[at + 5]!;
  const m = b[at + 6]!;
  const index = b[at + 7]!;
  if (k < 1 || k > 24 || m < 1 || m > 6) throw corrupt(`k=${k} m=${m} out of range`);
  if (index >= k + m) throw corrupt(`index ${index} >= k+m=${k + m}`);
  const bodyBytes = b.readUInt32LE(at + 8);
  if (bodyBytes === 0 || bodyBytes > MAX_SHARD_BODY_BYTES || bodyBytes % 8 !== 0) {
    throw corrupt(`body length ${bodyBytes} invalid`);
  }
  const stripeLength = b.readUInt16LE(at + 12);
  const ownerLength = b.readUInt16LE(at + 14);
  if (stripeLength < 1 || stripeLength > MAX_STRIPE_ID_BYTES)
    throw corrupt(`stripe id length ${stripeLength}`);
  if (ownerLength < 1 || ownerLength > MAX_OWNER_BYTES) throw corrupt(`owner length ${ownerLength}`);
  const trailerBytes = stripeLength + ownerLength + 32 * (k + m) + TAIL_BYTES;
  if (b.length < trailerBytes) throw corrupt(`truncated (${b.length} < ${trailerBytes} bytes)`);
  const start = b.length - trailerBytes;
  const sumAt = b.length - CHECKSUM_BYTES;
  if (!sha256(b.subarray(start, sumAt)).equals(b.subarray(sumAt))) throw corrupt('checksum mismatch');
  const hashesAt = start + stripeLength + ownerLength;
  const stripeId = b.subarray(start, start + stripeLength).toString('utf8');
  const owner = b.subarray(start + stripeLength, hashesAt).toString('utf8');
  const bodyHashes: Buffer[] = [];
  for (let i = 0; i < k + m; i++)
    bodyHashes.push(Buffer.from(b.subarray(hashesAt + 32 * i, hashesAt + 32 * (i + 1))));
  return { header: { version, stripeId, owner, k, m, index, bodyBytes, bodyHashes }, trailerBytes };
}

/**
 * Decode a whole shard file and check its body against the trailer's hash for its index
 * (`verifyBody` false when the whole file was just verified against a known shard id, which
 * covers the body). Returns the metadata and a view of the body.
 */
export function decodeShard(bytes: Uint8Array, verifyBody = true): { header: ShardHeader; body: Buffer } {
  const { header, trailerBytes } = decodeShardHeader(bytes);
  if (bytes.length !== header.bodyBytes + trailerBytes) {
    throw corrupt(`file is ${bytes.length} bytes, trailer says ${header.bodyBytes + trailerBytes}`);
  }
  const body = Buffer.from(bytes.buffer, bytes.byteOffset, header.bodyBytes);
  if (verifyBody && !sha256(body).equals(header.bodyHashes[header.index]!)) {
    throw new PipelineError(
      'corrupt',
      `shard ${header.index} of stripe ${header.stripeId}: body hash mismatch`,
    );
  }
  return { header, body };
}

/** Bytes a trailer takes for these lengths. */
export function shardHeaderBytes(stripeIdBytes: number, ownerBytes: number, k: number, m: number): number {
  return stripeIdBytes + ownerBytes + 32 * (k + m) + TAIL_BYTES;
}

/** The longest trailer a pb shard can have: what a tail read must cover. */
export const MAX_TRAILER_BYTES = shardHeaderBytes(MAX_STRIPE_ID_BYTES, MAX_OWNER_BYTES, 24, 6);

/**
 * The trailer in the last bytes of a shard file of `fileBytes` (a tail read of at least
 * MAX_TRAILER_BYTES, or the whole file), checked as decodeShardHeader checks it and against the
 * file's size. Unverified beyond its checksum: the file is hashed only when it is read whole.
 */
export function decodeShardTail(tail: Uint8Array, fileBytes: number): ShardHeader {
  const { header, trailerBytes } = decodeShardHeader(tail);
  if (header.bodyBytes + trailerBytes !== fileBytes)
    throw corrupt(`the trailer says ${header.bodyBytes + trailerBytes} bytes, the file has ${fileBytes}`);
  return header;
}

/** The trailer of shard `index` of a stripe, in the current format. */
function trailerOf(
  stripeId: string,
  owner: string,
  k: number,
  m: number,
  index: number,
  bodyBytes: number,
  bodyHashes: readonly Buffer[],
): Buffer {
  return encodeShardTrailer({
    version: SHARD_FORMAT_VERSION,
    stripeId,
    owner,
    k,
    m,
    index,
    bodyBytes,
    bodyHashes: [...bodyHashes],
  });
}

/**
 * One shard file of a stripe whose body hashes are known (a stripe being recovered): the file, its
 * id and its body's hash, from one pass over the body (the hash state after it is copied, finished
 * for the body hash, and continued over the trailer for the id).
 */
export function buildShard(
  stripeId: string,
  owner: string,
  k: number,
  m: number,
  index: number,
  body: Buffer,
  bodyHashes: readonly Buffer[],
): { id: string; bytes: Buffer; bodyHash: Buffer } {
  assert(bodyHashes.length === k + m && index >= 0 && index < k + m, 'a shard of k+m');
  const trailer = trailerOf(stripeId, owner, k, m, index, body.length, bodyHashes);
  const h = createHash('sha256').update(body);
  const bodyHash = h.copy().digest();
  return { id: h.update(trailer).digest('hex'), bytes: Buffer.concat([body, trailer]), bodyHash };
}

/**
 * Build the k+m shard files of a stripe from its bodies; returns each file and its id.
 * With `into`, file i is written into into[i] (reused buffers: no allocation per stripe).
 * Each body is hashed once: the hash state after the body is copied, finished for the body
 * hash, and the copy continues over the trailer for the id.
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
  const continued: Hash[] = [];
  const bodyHashes = bodies.map((b) => {
    const h = createHash('sha256').update(b);
    continued.push(h.copy());
    return h.digest();
  });
  return bodies.map((body, index) => {
    const trailer = trailerOf(stripeId, owner, k, m, index, bodyBytes, bodyHashes);
    let bytes: Buffer;
    if (into) {
      const target = into[index]!;
      assert(target.length >= bodyBytes + trailer.length, 'shard buffer is large enough');
      target.set(body, 0);
      target.set(trailer, bodyBytes);
      bytes = target.subarray(0, bodyBytes + trailer.length);
    } else bytes = Buffer.concat([body, trailer]);
    return { id: continued[index]!.update(trailer).digest('hex'), bytes };
  });
}
