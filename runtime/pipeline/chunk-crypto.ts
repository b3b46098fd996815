/**
 * Chunk identity and encryption (docs/formats.md, "Objects").
 *
 * - chunk id = HMAC-SHA256(chunkIdKey, plaintext): 32 bytes.
 * - sealed object = nonce (24 random bytes) || ciphertext || Poly1305 tag (16 bytes), with
 *   XChaCha20-Poly1305 under the data key and the chunk id as associated data, so a sealed
 *   object cannot be passed off under another id. What is encrypted is the payload: the
 *   plaintext (codec 0) or its zstd frame (codec 1, codec.ts); a compressed object's associated
 *   data is id || codec byte, so its codec cannot be swapped either.
 *
 * XChaCha20-Poly1305 is built from @noble/ciphers' HChaCha20 (subkey = HChaCha20(key, nonce[0..16]))
 * and node:crypto's chacha20-poly1305 (IETF, 12-byte nonce = 4 zero bytes || nonce[16..24]).
 * Byte-identical to @noble/ciphers' xchacha20poly1305 (a test checks it), about 10x faster.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  type DecipherChaCha20Poly1305,
  randomFillSync,
  timingSafeEqual,
} from 'node:crypto';
import { hchacha } from '@noble/ciphers/chacha.js';
import {
  CODEC_RAW,
  type Codec,
  compressObject,
  decompressObject,
  MAX_PLAIN_BYTES,
  plainScratchOf,
} from './codec.ts';
import { PipelineError } from './errors.ts';

export const NONCE_BYTES = 24;
export const TAG_BYTES = 16;
export const SEAL_OVERHEAD_BYTES = NONCE_BYTES + TAG_BYTES;

const SIGMA = new Uint32Array([0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]); // "expand 32-byte k"
const littleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
if (!littleEndian) throw new Error('pb chunk-crypto assumes a little-endian host');

function u32(bytes: Uint8Array): Uint32Array {
  const copy = new Uint8Array(bytes); // aligned copy
  return new Uint32Array(copy.buffer, 0, copy.length / 4);
}

/** The XChaCha20 subkey and the inner 12-byte IETF nonce for a 24-byte nonce. */
export function xchachaSubkey(
  key: Uint8Array,
  nonce: Uint8Array,
): { subkey: Uint8Array; innerNonce: Uint8Array } {
  if (key.length !== 32)
    throw new PipelineError('invalid-argument', `key must be 32 bytes, got ${key.length}`);
  if (nonce.length !== NONCE_BYTES) {
    throw new PipelineError('invalid-argument', `nonce must be ${NONCE_BYTES} bytes, got ${nonce.length}`);
  }
  const out = new Uint32Array(8);
  hchacha(SIGMA, u32(key), u32(nonce.subarray(0, 16)), out);
  const innerNonce = new Uint8Array(12);
  innerNonce.set(nonce.subarray(16, 24), 4);
  return { subkey: new Uint8Array(out.buffer), innerNonce };
}

/**
 * Bytes given to one decrypting `update` call. node:crypto allocates each call's output afresh; an
 * output of a few MiB is fresh memory, a page fault per 4 KiB written and an external buffer for
 * the collector. Measured on this project's 2-core test machine: a 4 MiB object in one call ran at
 * 250-550 MiB/s, in 64-256 KiB calls copied into one reused buffer at 1.9-2.4 GiB/s
 * (docs/design.md §6.1). Sealing stays one call: it makes one buffer per object anyway.
 */
export const CIPHER_SLICE_BYTES = 64 * 1024;

/** The decipher's output for `input`, written into `into` from its start; returns the bytes written. */
function updateInto(cipher: DecipherChaCha20Poly1305, input: Uint8Array, into: Uint8Array): number {
  if (into.length < input.length)
    throw new RangeError(`cipher output of ${input.length} bytes does not fit ${into.length}`);
  let written = 0;
  for (let at = 0; at < input.length; at += CIPHER_SLICE_BYTES) {
    const piece = cipher.update(input.subarray(at, Math.min(input.length, at + CIPHER_SLICE_BYTES)));
    into.set(piece, written);
    written += piece.length;
  }
  if (written !== input.length) throw new Error(`cipher wrote ${written} bytes for ${input.length}`);
  return written;
}

/** XChaCha20-Poly1305 encryption; returns ciphertext || tag (the nonce is not included). */
export function xchachaEncrypt(
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  aad?: Uint8Array,
): Buffer {
  const { subkey, innerNonce } = xchachaSubkey(key, nonce);
  const cipher = createCipheriv('chacha20-poly1305', subkey, innerNonce, { authTagLength: TAG_BYTES });
  if (aad) cipher.setAAD(aad, { plaintextLength: plaintext.length });
  const body = cipher.update(plaintext);
  cipher.final();
  return Buffer.concat([body, cipher.getAuthTag()]);
}

/**
 * XChaCha20-Poly1305 decryption of ciphertext || tag; throws 'corrupt' when the tag fails. The
 * plaintext is written into `into` when given (it must hold it; the result is its start), else
 * into a fresh buffer.
 */
export function xchachaDecrypt(
  key: Uint8Array,
  nonce: Uint8Array,
  sealed: Uint8Array,
  aad?: Uint8Array,
  into?: Buffer,
): Buffer {
  if (sealed.length < TAG_BYTES) throw new PipelineError('corrupt', 'ciphertext shorter than its tag');
  const { subkey, innerNonce } = xchachaSubkey(key, nonce);
  const decipher = createDecipheriv('chacha20-poly1305', subkey, innerNonce, { authTagLength: TAG_BYTES });
  const bodyLength = sealed.length - TAG_BYTES;
  if (aad) decipher.setAAD(aad, { plaintextLength: bodyLength });
  decipher.setAuthTag(sealed.subarray(bodyLength));
  const plain = into ? into.subarray(0, bodyLength) : Buffer.allocUnsafe(bodyLength);
  updateInto(decipher, sealed.subarray(0, bodyLength), plain);
  try {
    decipher.final();
  } catch {
    throw new PipelineError('corrupt', 'authentication tag mismatch (wrong key or corrupt data)');
  }
  return plain;
}

export function chunkId(chunkIdKey: Uint8Array, plaintext: Uint8Array): Buffer {
  return createHmac('sha256', chunkIdKey).update(plaintext).digest();
}

/**
 * Random nonces are cut from a per-thread pool of CSPRNG output, each 24 bytes used once: one
 * randomFillSync per NONCE_POOL_BYTES instead of one per object (a call cost several microseconds,
 * a tenth of sealing a small file). Each thread loads this module afresh, so pools are never shared.
 */
const NONCE_POOL_BYTES = 170 * NONCE_BYTES;
const noncePool = Buffer.allocUnsafe(NONCE_POOL_BYTES);
let noncePoolUsed = NONCE_POOL_BYTES;

function freshNonce(into: Buffer): void {
  if (noncePoolUsed + NONCE_BYTES > NONCE_POOL_BYTES) {
    randomFillSync(noncePool);
    noncePoolUsed = 0;
  }
  noncePool.copy(into, 0, noncePoolUsed, noncePoolUsed + NONCE_BYTES);
  noncePoolUsed += NONCE_BYTES;
}

/**
 * Seal an object in three parts [nonce, ciphertext, tag] whose concatenation is the sealed
 * object. The parts let the stripe writer copy them straight into a stripe (no extra copy).
 */
export function sealObjectParts(
  dataKey: Uint8Array,
  id: Uint8Array,
  plaintext: Uint8Array,
  nonce?: Uint8Array,
): Buffer[] {
  const n = Buffer.allocUnsafe(NONCE_BYTES);
  if (nonce) n.set(nonce);
  else freshNonce(n);
  const { subkey, innerNonce } = xchachaSubkey(dataKey, n);
  const cipher = createCipheriv('chacha20-poly1305', subkey, innerNonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(id, { plaintextLength: plaintext.length });
  const body = cipher.update(plaintext);
  cipher.final();
  return [n, body, cipher.getAuthTag()];
}

/** The associated data of an object: its id, followed by the codec byte unless it is raw. */
export function objectAad(id: Uint8Array, codec: number): Uint8Array {
  if (codec === CODEC_RAW) return id;
  const aad = Buffer.allocUnsafe(id.length + 1);
  aad.set(id);
  aad[id.length] = codec;
  return aad;
}

/**
 * Compress (if that saves enough) and seal an object; its parts concatenate to the sealed
 * object, `codec` goes into the stripe directory and the index.
 */
export function sealChunkParts(
  dataKey: Uint8Array,
  id: Uint8Array,
  plaintext: Uint8Array,
): { parts: Buffer[]; codec: Codec } {
  const { codec, payload } = compressObject(plaintext);
  return { parts: sealObjectParts(dataKey, objectAad(id, codec), payload), codec };
}

/** sealChunkParts, concatenated. */
export function sealChunk(
  dataKey: Uint8Array,
  id: Uint8Array,
  plaintext: Uint8Array,
): { sealed: Buffer; codec: Codec } {
  const { parts, codec } = sealChunkParts(dataKey, id, plaintext);
  return { sealed: Buffer.concat(parts), codec };
}

/** Seal an object: nonce || ciphertext || tag, with its id as associated data. */
export function sealObject(
  dataKey: Uint8Array,
  id: Uint8Array,
  plaintext: Uint8Array,
  nonce?: Uint8Array,
): Buffer {
  return Buffer.concat(sealObjectParts(dataKey, id, plaintext, nonce));
}

/** This thread's buffer for compressed payloads, decoded from there at once (openObject). */
let payloadScratch: Buffer | null = null;

/**
 * Where openObject decrypts a payload of `bytes`: a raw plaintext that is landed and dropped into
 * the plaintext scratch, a compressed payload into the payload scratch; a raw plaintext the caller
 * keeps, or one too large to be valid, into a fresh buffer.
 */
function payloadHome(bytes: number, codec: number, intoScratch: boolean): Buffer | undefined {
  if (bytes > MAX_PLAIN_BYTES) return undefined; // refused after authentication, by its codec
  if (codec === CODEC_RAW) return intoScratch ? plainScratchOf(bytes) : undefined;
  payloadScratch ??= Buffer.allocUnsafe(MAX_PLAIN_BYTES);
  return payloadScratch;
}

/**
 * Open a sealed object of codec `codec` (tag, then bounded decompression) and check that its
 * plaintext really has id `id`. Throws 'wrong-secret' or 'corrupt' (both mean: not a byte of it
 * may be used). `intoScratch`: the plaintext lives in this thread's scratch buffer, valid until
 * the next such call (plainScratchOf).
 */
export function openObject(
  dataKey: Uint8Array,
  chunkIdKey: Uint8Array,
  id: Uint8Array,
  sealed: Uint8Array,
  codec: number = CODEC_RAW,
  intoScratch = false,
): Buffer {
  if (sealed.length < SEAL_OVERHEAD_BYTES) {
    throw new PipelineError(
      'corrupt',
      `object ${hex(id)}: ${sealed.length} bytes is shorter than its envelope`,
    );
  }
  let payload: Buffer;
  try {
    payload = xchachaDecrypt(
      dataKey,
      sealed.subarray(0, NONCE_BYTES),
      sealed.subarray(NONCE_BYTES),
      objectAad(id, codec),
      payloadHome(sealed.length - SEAL_OVERHEAD_BYTES, codec, intoScratch),
    );
  } catch (error) {
    throw new PipelineError(
      'corrupt',
      `object ${hex(id)} fails authentication: the recovery secret is wrong or the data is corrupt`,
      { cause: error },
    );
  }
  let plain: Buffer;
  try {
    plain = decompressObject(codec, payload, MAX_PLAIN_BYTES, intoScratch);
  } catch (error) {
    throw new PipelineError('corrupt', `object ${hex(id)}: ${(error as Error).message}`, { cause: error });
  }
  const actual = chunkId(chunkIdKey, plain);
  if (actual.length !== id.length || !timingSafeEqual(actual, id)) {
    throw new PipelineError('corrupt', `object ${hex(id)}: plaintext does not match its id`);
  }
  return plain;
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex');
}
