/**
 * Object compression (docs/formats.md, "Objects"; the choice and its measurements are in
 * docs/design.md, "Compression").
 *
 * An object's payload (what is sealed) is its plaintext (codec 0, raw) or one zstd frame of it
 * (codec 1). The codec is recorded per object in the stripe directory and the index. A payload is
 * kept compressed only if it saves at least max(MIN_SAVING_BYTES, plaintext / 32): the frame is
 * written into a buffer of that size, so an incompressible chunk fails fast inside zstd (it
 * detects raw blocks) and is stored as it is.
 *
 * Decoding is bounded: a frame must declare its content size, that size must not exceed the
 * caller's limit (at most the largest object), and the decoder writes into a buffer of exactly
 * that size, so a frame that would inflate further (a zip bomb) or lies about its size is a
 * typed 'corrupt' error, never a large allocation.
 */
import { createRequire } from 'node:module';
import { PipelineError } from './errors.ts';

export const CODEC_RAW = 0;
export const CODEC_ZSTD = 1;
export type Codec = typeof CODEC_RAW | typeof CODEC_ZSTD;

/**
 * zstd level 1: 41 % faster than level 3 (zstd's default) on real files for 3 % more bytes; see
 * docs/design.md for the measurements behind it.
 */
export const ZSTD_LEVEL = 1;
/** Objects smaller than this are not worth a frame header. */
export const MIN_COMPRESS_BYTES = 64;
export const MIN_SAVING_BYTES = 16;
/** The largest plaintext of any object: 4 MiB chunks; metadata pieces are cut the same way. */
export const MAX_PLAIN_BYTES = 4 * 1024 * 1024 + 4096;

interface ZstdBinding {
  CCtx: new () => { compress(dst: Uint8Array, src: Uint8Array, level: number): number };
  DCtx: new () => { decompress(dst: Uint8Array, src: Uint8Array): number };
  getFrameContentSize(frame: Uint8Array): number | null;
}

// The package's Node-API binding (CommonJS); one compression and one decompression context per
// thread (workers load this module afresh), reused for every object.
const zstd = createRequire(import.meta.url)('zstd-napi/binding') as ZstdBinding;
let cctx: InstanceType<ZstdBinding['CCtx']> | null = null;
let dctx: InstanceType<ZstdBinding['DCtx']> | null = null;
let scratch: Buffer | null = null;
/** Where decompressObject writes when asked to: a plaintext that is landed and dropped at once. */
let plainScratch: Buffer | null = null;

/**
 * The first `bytes` of this thread's plaintext scratch (at most MAX_PLAIN_BYTES): valid until the
 * next call here, by decompressObject or openObject.
 */
export function plainScratchOf(bytes: number): Buffer {
  if (!Number.isSafeInteger(bytes) || bytes < 0 || bytes > MAX_PLAIN_BYTES)
    throw new RangeError(`a plaintext of ${bytes} bytes does not fit the scratch`);
  plainScratch ??= Buffer.allocUnsafe(MAX_PLAIN_BYTES);
  return plainScratch.subarray(0, bytes);
}

export function isCodec(value: number): value is Codec {
  return value === CODEC_RAW || value === CODEC_ZSTD;
}

/**
 * Compress a plaintext if that saves enough. The returned payload of a compressed object lives in
 * a per-thread scratch buffer: seal (copy) it before the next call.
 */
export function compressObject(plain: Uint8Array): { codec: Codec; payload: Uint8Array } {
  if (plain.length < MIN_COMPRESS_BYTES || plain.length > MAX_PLAIN_BYTES)
    return { codec: CODEC_RAW, payload: plain };
  const limit = plain.length - Math.max(MIN_SAVING_BYTES, plain.length >>> 5);
  cctx ??= new zstd.CCtx();
  scratch ??= Buffer.allocUnsafe(MAX_PLAIN_BYTES);
  let written: number;
  try {
    written = cctx.compress(scratch.subarray(0, limit), plain, ZSTD_LEVEL);
  } catch {
    // "Destination buffer is too small": the frame would not save enough.
    return { codec: CODEC_RAW, payload: plain };
  }
  return { codec: CODEC_ZSTD, payload: scratch.subarray(0, written) };
}

/**
 * The plaintext of a payload. Throws PipelineError 'corrupt' for an unknown codec, a malformed
 * frame, a frame without a declared size, or one that declares or yields more than `limitBytes`.
 *
 * `intoScratch`: a compressed payload is decoded into this thread's scratch buffer instead of a
 * fresh one, and the result is only valid until the next such call. A restore worker lands most
 * plaintexts and drops them at once; a fresh buffer each time cost a page fault per 4 KiB written
 * (about 10 us each on a virtual machine: 10,000 faults on the real tree).
 */
export function decompressObject(
  codec: number,
  payload: Buffer,
  limitBytes = MAX_PLAIN_BYTES,
  intoScratch = false,
): Buffer {
  if (codec === CODEC_RAW) return payload;
  if (codec !== CODEC_ZSTD) throw new PipelineError('corrupt', `unknown object codec ${codec}`);
  let size: number | null;
  try {
    size = zstd.getFrameContentSize(payload);
  } catch (error) {
    throw new PipelineError('corrupt', `zstd frame header is malformed: ${(error as Error).message}`);
  }
  if (size === null) throw new PipelineError('corrupt', 'zstd frame does not declare its size');
  if (!Number.isSafeInteger(size) || size < 0 || size > Math.min(limitBytes, MAX_PLAIN_BYTES)) {
    throw new PipelineError(
      'corrupt',
      `zstd frame declares ${size} bytes, more than the ${Math.min(limitBytes, MAX_PLAIN_BYTES)} allowed`,
    );
  }
  const out = intoScratch ? plainScratchOf(size) : Buffer.allocUnsafe(size);
  let written: number;
  try {
    dctx ??= new zstd.DCtx();
    written = dctx.decompress(out, payload);
  } catch (error) {
    // A failed frame may leave the context mid-frame: start the next one from a fresh context.
    dctx = null;
    throw new PipelineError('corrupt', `zstd frame does not decode: ${(error as Error).message}`);
  }
  if (written !== size)
    throw new PipelineError('corrupt', `zstd frame declared ${size} bytes and decoded to ${written}`);
  return out;
}
