/**
 * Stripe data area layout (docs/formats.md, "Stripes"); directory version 2 (version 1, still
 * read, had no codec byte: all its objects are raw).
 *
 * The data area is k x shardBytes bytes, cut into the k data shard bodies in order:
 *
 *   [sealed objects, back to back][zero padding][sealed directory][u32 LE: sealed directory length]
 *
 * The directory lists the stripe's objects so that the index can be rebuilt from stripes alone:
 *   u8 version = 2, u32 LE count, then per object: id (32), kind (u8), offset (u32 LE),
 *   sealed length (u32 LE), plain length (u32 LE), codec (u8; codec.ts).
 * It is sealed with XChaCha20-Poly1305 under the data key, associated data
 * "pb/v1/stripe-directory\0" || stripe id.
 * shardBytes = ceil(used / k) rounded up to a multiple of 8 (Reed-Solomon's alignment).
 */
import { NONCE_BYTES, SEAL_OVERHEAD_BYTES, sealObject, xchachaDecrypt } from './chunk-crypto.ts';
import { CODEC_RAW, type Codec, isCodec } from './codec.ts';
import { assert, PipelineError } from './errors.ts';

export const DIRECTORY_VERSION = 2;
export const DIRECTORY_ENTRY_BYTES = 46;
/** Version 1 entries (no codec byte), still read. */
const DIRECTORY_V1_ENTRY_BYTES = 45;
const TRAILER_BYTES = 4;

export interface DirectoryEntry {
  id: Uint8Array;
  kind: number;
  offset: number;
  sealedBytes: number;
  plainBytes: number;
  codec: Codec;
}

/** Bytes the sealed directory and its trailer take for `count` objects. */
export function directoryBytes(count: number): number {
  return SEAL_OVERHEAD_BYTES + 5 + DIRECTORY_ENTRY_BYTES * count + TRAILER_BYTES;
}

export function shardBytesFor(usedBytes: number, k: number): number {
  return Math.max(8, Math.ceil(usedBytes / k / 8) * 8);
}

function directoryAad(stripeId: string): Buffer {
  return Buffer.concat([Buffer.from('pb/v1/stripe-directory\0'), Buffer.from(stripeId, 'utf8')]);
}

export function encodeDirectory(entries: readonly DirectoryEntry[]): Buffer {
  const out = Buffer.alloc(5 + DIRECTORY_ENTRY_BYTES * entries.length);
  out[0] = DIRECTORY_VERSION;
  out.writeUInt32LE(entries.length, 1);
  let p = 5;
  for (const e of entries) {
    assert(e.id.length === 32, 'object ids are 32 bytes');
    out.set(e.id, p);
    out[p + 32] = e.kind;
    out.writeUInt32LE(e.offset, p + 33);
    out.writeUInt32LE(e.sealedBytes, p + 37);
    out.writeUInt32LE(e.plainBytes, p + 41);
    out[p + 45] = e.codec;
    p += DIRECTORY_ENTRY_BYTES;
  }
  return out;
}

/** Write the sealed directory and trailer at the end of the area. */
export function writeDirectory(
  area: Buffer,
  stripeId: string,
  dataKey: Uint8Array,
  entries: readonly DirectoryEntry[],
): void {
  const sealed = sealObject(dataKey, directoryAad(stripeId), encodeDirectory(entries));
  assert(sealed.length + TRAILER_BYTES === directoryBytes(entries.length), 'directory size as computed');
  const at = area.length - TRAILER_BYTES - sealed.length;
  area.set(sealed, at);
  area.writeUInt32LE(sealed.length, area.length - TRAILER_BYTES);
}

/** Read the directory from a data area (used to rebuild an index). */
export function readDirectory(area: Buffer, stripeId: string, dataKey: Uint8Array): DirectoryEntry[] {
  if (area.length < TRAILER_BYTES)
    throw new PipelineError('corrupt', `stripe ${stripeId}: data area too short`);
  const sealedLength = area.readUInt32LE(area.length - TRAILER_BYTES);
  if (sealedLength < SEAL_OVERHEAD_BYTES + 5 || sealedLength > area.length - TRAILER_BYTES) {
    throw new PipelineError('corrupt', `stripe ${stripeId}: directory length ${sealedLength} invalid`);
  }
  const sealed = area.subarray(area.length - TRAILER_BYTES - sealedLength, area.length - TRAILER_BYTES);
  const plain = xchachaDecrypt(
    dataKey,
    sealed.subarray(0, NONCE_BYTES),
    sealed.subarray(NONCE_BYTES),
    directoryAad(stripeId),
  );
  const version = plain[0];
  if (version !== DIRECTORY_VERSION && version !== 1)
    throw new PipelineError('corrupt', `stripe ${stripeId}: directory version ${version}`);
  const entryBytes = version === 1 ? DIRECTORY_V1_ENTRY_BYTES : DIRECTORY_ENTRY_BYTES;
  if (plain.length < 5) throw new PipelineError('corrupt', `stripe ${stripeId}: directory size`);
  const count = plain.readUInt32LE(1);
  if (plain.length !== 5 + entryBytes * count)
    throw new PipelineError('corrupt', `stripe ${stripeId}: directory size`);
  const out: DirectoryEntry[] = [];
  for (let i = 0, p = 5; i < count; i++, p += entryBytes) {
    const codec = version === 1 ? CODEC_RAW : plain[p + 45]!;
    if (!isCodec(codec))
      throw new PipelineError(
        'corrupt',
        `stripe ${stripeId}: directory entry ${i} has unknown codec ${codec}`,
      );
    const e = {
      id: Buffer.from(plain.subarray(p, p + 32)),
      kind: plain[p + 32]!,
      offset: plain.readUInt32LE(p + 33),
      sealedBytes: plain.readUInt32LE(p + 37),
      plainBytes: plain.readUInt32LE(p + 41),
      codec,
    };
    if (e.offset + e.sealedBytes > area.length - TRAILER_BYTES - sealedLength) {
      throw new PipelineError('corrupt', `stripe ${stripeId}: directory entry ${i} out of bounds`);
    }
    out.push(e);
  }
  return out;
}
