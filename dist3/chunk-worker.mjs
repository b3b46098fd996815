import { createRequire as __pbCreateRequire } from 'node:module';
const require = __pbCreateRequire(import.meta.url);
var __require = /* @__PURE__ */ ((x) => typeof require < "u" ? require : typeof Proxy < "u" ? new Proxy(x, {
  get: (a, b) => (typeof require < "u" ? require : a)[b]
}) : x)(function(x) {
  if (typeof require < "u") return require.apply(this, arguments);
  throw Error('Dynamic require of "' + x + '" is not supported');
});

// runtime/pipeline/chunk-worker-main.ts
import { parentPort } from "node:worker_threads";

// runtime/pipeline/file-reader.ts
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import * as fs from "node:fs/promises";
import { isMainThread } from "node:worker_threads";

// runtime/pipeline/chunk-crypto.ts
import { createCipheriv, createDecipheriv, createHmac, randomFillSync, timingSafeEqual } from "node:crypto";

// node_modules/.pnpm/@noble+ciphers@2.4.0/node_modules/@noble/ciphers/utils.js
function clean(...arrays) {
  for (let i = 0; i < arrays.length; i++)
    arrays[i].fill(0);
}
var isLE = new Uint8Array(new Uint32Array([287454020]).buffer)[0] === 68;
function byteSwap(word) {
  return word << 24 & 4278190080 | word << 8 & 16711680 | word >>> 8 & 65280 | word >>> 24 & 255;
}
function byteSwap32(arr) {
  for (let i = 0; i < arr.length; i++)
    arr[i] = byteSwap(arr[i]);
  return arr;
}
var swap32IfBE = isLE ? (u) => u : byteSwap32;

// node_modules/.pnpm/@noble+ciphers@2.4.0/node_modules/@noble/ciphers/_arx.js
function rotl(a, b) {
  return a << b | a >>> 32 - b;
}

// node_modules/.pnpm/@noble+ciphers@2.4.0/node_modules/@noble/ciphers/chacha.js
function chachaCore(s, k, n, out2, cnt, rounds = 20) {
  let y00 = s[0], y01 = s[1], y02 = s[2], y03 = s[3], y04 = k[0], y05 = k[1], y06 = k[2], y07 = k[3], y08 = k[4], y09 = k[5], y10 = k[6], y11 = k[7], y12 = cnt, y13 = n[0], y14 = n[1], y15 = n[2], x00 = y00, x01 = y01, x02 = y02, x03 = y03, x04 = y04, x05 = y05, x06 = y06, x07 = y07, x08 = y08, x09 = y09, x10 = y10, x11 = y11, x12 = y12, x13 = y13, x14 = y14, x15 = y15;
  for (let r = 0; r < rounds; r += 2)
    x00 = x00 + x04 | 0, x12 = rotl(x12 ^ x00, 16), x08 = x08 + x12 | 0, x04 = rotl(x04 ^ x08, 12), x00 = x00 + x04 | 0, x12 = rotl(x12 ^ x00, 8), x08 = x08 + x12 | 0, x04 = rotl(x04 ^ x08, 7), x01 = x01 + x05 | 0, x13 = rotl(x13 ^ x01, 16), x09 = x09 + x13 | 0, x05 = rotl(x05 ^ x09, 12), x01 = x01 + x05 | 0, x13 = rotl(x13 ^ x01, 8), x09 = x09 + x13 | 0, x05 = rotl(x05 ^ x09, 7), x02 = x02 + x06 | 0, x14 = rotl(x14 ^ x02, 16), x10 = x10 + x14 | 0, x06 = rotl(x06 ^ x10, 12), x02 = x02 + x06 | 0, x14 = rotl(x14 ^ x02, 8), x10 = x10 + x14 | 0, x06 = rotl(x06 ^ x10, 7), x03 = x03 + x07 | 0, x15 = rotl(x15 ^ x03, 16), x11 = x11 + x15 | 0, x07 = rotl(x07 ^ x11, 12), x03 = x03 + x07 | 0, x15 = rotl(x15 ^ x03, 8), x11 = x11 + x15 | 0, x07 = rotl(x07 ^ x11, 7), x00 = x00 + x05 | 0, x15 = rotl(x15 ^ x00, 16), x10 = x10 + x15 | 0, x05 = rotl(x05 ^ x10, 12), x00 = x00 + x05 | 0, x15 = rotl(x15 ^ x00, 8), x10 = x10 + x15 | 0, x05 = rotl(x05 ^ x10, 7), x01 = x01 + x06 | 0, x12 = rotl(x12 ^ x01, 16), x11 = x11 + x12 | 0, x06 = rotl(x06 ^ x11, 12), x01 = x01 + x06 | 0, x12 = rotl(x12 ^ x01, 8), x11 = x11 + x12 | 0, x06 = rotl(x06 ^ x11, 7), x02 = x02 + x07 | 0, x13 = rotl(x13 ^ x02, 16), x08 = x08 + x13 | 0, x07 = rotl(x07 ^ x08, 12), x02 = x02 + x07 | 0, x13 = rotl(x13 ^ x02, 8), x08 = x08 + x13 | 0, x07 = rotl(x07 ^ x08, 7), x03 = x03 + x04 | 0, x14 = rotl(x14 ^ x03, 16), x09 = x09 + x14 | 0, x04 = rotl(x04 ^ x09, 12), x03 = x03 + x04 | 0, x14 = rotl(x14 ^ x03, 8), x09 = x09 + x14 | 0, x04 = rotl(x04 ^ x09, 7);
  let oi = 0;
  out2[oi++] = y00 + x00 | 0, out2[oi++] = y01 + x01 | 0, out2[oi++] = y02 + x02 | 0, out2[oi++] = y03 + x03 | 0, out2[oi++] = y04 + x04 | 0, out2[oi++] = y05 + x05 | 0, out2[oi++] = y06 + x06 | 0, out2[oi++] = y07 + x07 | 0, out2[oi++] = y08 + x08 | 0, out2[oi++] = y09 + x09 | 0, out2[oi++] = y10 + x10 | 0, out2[oi++] = y11 + x11 | 0, out2[oi++] = y12 + x12 | 0, out2[oi++] = y13 + x13 | 0, out2[oi++] = y14 + x14 | 0, out2[oi++] = y15 + x15 | 0;
}
function hchacha(s, k, i, out2) {
  let s2 = isLE ? s : swap32IfBE(s.slice(0, 4)), k2 = isLE ? k : swap32IfBE(k.slice(0, 8)), i2 = isLE ? i : swap32IfBE(i.slice(0, 4)), t = new Uint32Array(16);
  chachaCore(s2, k2, i2.subarray(1), t, i2[0]);
  let oi = 0;
  out2[oi++] = t[0] - s2[0] | 0, out2[oi++] = t[1] - s2[1] | 0, out2[oi++] = t[2] - s2[2] | 0, out2[oi++] = t[3] - s2[3] | 0, out2[oi++] = t[12] - i2[0] | 0, out2[oi++] = t[13] - i2[1] | 0, out2[oi++] = t[14] - i2[2] | 0, out2[oi++] = t[15] - i2[3] | 0, swap32IfBE(out2), isLE || clean(s2, k2, i2), clean(t);
}

// runtime/pipeline/codec.ts
import { createRequire } from "node:module";

// runtime/pipeline/errors.ts
var PipelineError = class extends Error {
  code;
  constructor(code, message, options) {
    super(message, options), this.name = "PipelineError", this.code = code;
  }
};
function assert(condition, message) {
  if (!condition) throw new Error(`pb invariant violated: ${message}`);
}

// runtime/pipeline/codec.ts
var CODEC_RAW = 0, CODEC_ZSTD = 1, ZSTD_LEVEL = 3, MIN_COMPRESS_BYTES = 64, MIN_SAVING_BYTES = 16, MAX_PLAIN_BYTES = 4 * 1024 * 1024 + 4096, zstd = createRequire(import.meta.url)("zstd-napi/binding"), cctx = null, dctx = null, scratch = null;
function compressObject(plain) {
  if (plain.length < MIN_COMPRESS_BYTES || plain.length > MAX_PLAIN_BYTES)
    return { codec: CODEC_RAW, payload: plain };
  let limit = plain.length - Math.max(MIN_SAVING_BYTES, plain.length >>> 5);
  cctx ??= new zstd.CCtx(), scratch ??= Buffer.allocUnsafe(MAX_PLAIN_BYTES);
  let written;
  try {
    written = cctx.compress(scratch.subarray(0, limit), plain, ZSTD_LEVEL);
  } catch {
    return { codec: CODEC_RAW, payload: plain };
  }
  return { codec: CODEC_ZSTD, payload: scratch.subarray(0, written) };
}
function decompressObject(codec, payload, limitBytes = MAX_PLAIN_BYTES) {
  if (codec === CODEC_RAW) return payload;
  if (codec !== CODEC_ZSTD) throw new PipelineError("corrupt", `unknown object codec ${codec}`);
  let size;
  try {
    size = zstd.getFrameContentSize(payload);
  } catch (error) {
    throw new PipelineError("corrupt", `zstd frame header is malformed: ${error.message}`);
  }
  if (size === null) throw new PipelineError("corrupt", "zstd frame does not declare its size");
  if (!Number.isSafeInteger(size) || size < 0 || size > Math.min(limitBytes, MAX_PLAIN_BYTES))
    throw new PipelineError(
      "corrupt",
      `zstd frame declares ${size} bytes, more than the ${Math.min(limitBytes, MAX_PLAIN_BYTES)} allowed`
    );
  let out2 = Buffer.allocUnsafe(size), written;
  try {
    dctx ??= new zstd.DCtx(), written = dctx.decompress(out2, payload);
  } catch (error) {
    throw dctx = null, new PipelineError("corrupt", `zstd frame does not decode: ${error.message}`);
  }
  if (written !== size)
    throw new PipelineError("corrupt", `zstd frame declared ${size} bytes and decoded to ${written}`);
  return out2;
}

// runtime/pipeline/chunk-crypto.ts
var NONCE_BYTES = 24, TAG_BYTES = 16, SEAL_OVERHEAD_BYTES = NONCE_BYTES + TAG_BYTES, SIGMA = new Uint32Array([1634760805, 857760878, 2036477234, 1797285236]), littleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
if (!littleEndian) throw new Error("pb chunk-crypto assumes a little-endian host");
function u32(bytes) {
  let copy = new Uint8Array(bytes);
  return new Uint32Array(copy.buffer, 0, copy.length / 4);
}
function xchachaSubkey(key, nonce) {
  if (key.length !== 32)
    throw new PipelineError("invalid-argument", `key must be 32 bytes, got ${key.length}`);
  if (nonce.length !== NONCE_BYTES)
    throw new PipelineError("invalid-argument", `nonce must be ${NONCE_BYTES} bytes, got ${nonce.length}`);
  let out2 = new Uint32Array(8);
  hchacha(SIGMA, u32(key), u32(nonce.subarray(0, 16)), out2);
  let innerNonce = new Uint8Array(12);
  return innerNonce.set(nonce.subarray(16, 24), 4), { subkey: new Uint8Array(out2.buffer), innerNonce };
}
function xchachaDecrypt(key, nonce, sealed, aad) {
  if (sealed.length < TAG_BYTES) throw new PipelineError("corrupt", "ciphertext shorter than its tag");
  let { subkey, innerNonce } = xchachaSubkey(key, nonce), decipher = createDecipheriv("chacha20-poly1305", subkey, innerNonce, { authTagLength: TAG_BYTES }), bodyLength = sealed.length - TAG_BYTES;
  aad && decipher.setAAD(aad, { plaintextLength: bodyLength }), decipher.setAuthTag(sealed.subarray(bodyLength));
  let plain = decipher.update(sealed.subarray(0, bodyLength));
  try {
    decipher.final();
  } catch {
    throw new PipelineError("corrupt", "authentication tag mismatch (wrong key or corrupt data)");
  }
  return plain;
}
function chunkId(chunkIdKey, plaintext) {
  return createHmac("sha256", chunkIdKey).update(plaintext).digest();
}
function sealObjectParts(dataKey, id, plaintext, nonce) {
  let n = Buffer.allocUnsafe(NONCE_BYTES);
  nonce ? n.set(nonce) : randomFillSync(n);
  let { subkey, innerNonce } = xchachaSubkey(dataKey, n), cipher = createCipheriv("chacha20-poly1305", subkey, innerNonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(id, { plaintextLength: plaintext.length });
  let body = cipher.update(plaintext);
  return cipher.final(), [n, body, cipher.getAuthTag()];
}
function objectAad(id, codec) {
  if (codec === CODEC_RAW) return id;
  let aad = Buffer.allocUnsafe(id.length + 1);
  return aad.set(id), aad[id.length] = codec, aad;
}
function sealChunkParts(dataKey, id, plaintext) {
  let { codec, payload } = compressObject(plaintext);
  return { parts: sealObjectParts(dataKey, objectAad(id, codec), payload), codec };
}
function openObject(dataKey, chunkIdKey, id, sealed, codec = CODEC_RAW) {
  if (sealed.length < SEAL_OVERHEAD_BYTES)
    throw new PipelineError(
      "corrupt",
      `object ${hex(id)}: ${sealed.length} bytes is shorter than its envelope`
    );
  let payload;
  try {
    payload = xchachaDecrypt(
      dataKey,
      sealed.subarray(0, NONCE_BYTES),
      sealed.subarray(NONCE_BYTES),
      objectAad(id, codec)
    );
  } catch (error) {
    throw new PipelineError(
      "corrupt",
      `object ${hex(id)} fails authentication: the recovery secret is wrong or the data is corrupt`,
      { cause: error }
    );
  }
  let plain;
  try {
    plain = decompressObject(codec, payload);
  } catch (error) {
    throw new PipelineError("corrupt", `object ${hex(id)}: ${error.message}`, { cause: error });
  }
  let actual = chunkId(chunkIdKey, plain);
  if (actual.length !== id.length || !timingSafeEqual(actual, id))
    throw new PipelineError("corrupt", `object ${hex(id)}: plaintext does not match its id`);
  return plain;
}
function hex(bytes) {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("hex");
}

// runtime/pipeline/fastcdc.ts
import { createHash } from "node:crypto";
var DEFAULT_CHUNKER = {
  minBytes: 256 * 1024,
  avgBytes: 1024 * 1024,
  maxBytes: 4 * 1024 * 1024
}, GEAR = (() => {
  let table = new Int32Array(256);
  for (let i = 0; i < 256; i++) {
    let digest = createHash("sha256").update(Buffer.concat([Buffer.from("pb/v1/fastcdc-gear"), Buffer.from([i])])).digest();
    table[i] = digest.readInt32BE(0);
  }
  return table;
})();
function topBits(bits) {
  return 4294967295 << 32 - bits | 0;
}
function masksFor(avgBytes) {
  let bits = Math.round(Math.log2(avgBytes));
  return { small: topBits(bits + 2), large: topBits(bits - 2) };
}
var ZERO_FIXED = -GEAR[0] | 0, ZERO_BLOCK = Buffer.alloc(1024 * 1024);
function validate(params) {
  let { minBytes, avgBytes, maxBytes } = params;
  assert(
    Number.isInteger(minBytes) && Number.isInteger(avgBytes) && Number.isInteger(maxBytes),
    "chunker sizes are whole numbers"
  ), assert(
    64 <= minBytes && minBytes < avgBytes && avgBytes < maxBytes,
    "chunker sizes: 64 <= min < avg < max"
  ), assert((avgBytes & avgBytes - 1) === 0, "chunker average is a power of two");
}
function skipZeros(buf, from, to) {
  let i = from;
  for (let block = ZERO_BLOCK.length; block >= 4096; block >>= 4)
    for (; i + block <= to && ZERO_BLOCK.compare(buf, i, i + block, 0, block) === 0; ) i += block;
  for (; i < to && buf[i] === 0; ) i++;
  return i;
}
function findCut(buf, start, end, eof, params = DEFAULT_CHUNKER) {
  let available = end - start, { minBytes, avgBytes, maxBytes } = params;
  if (available <= minBytes) return eof ? available : -1;
  if (!eof && available < maxBytes) return -1;
  let masks = params === DEFAULT_CHUNKER ? DEFAULT_MASKS : masksFor(avgBytes), zeroSkip = (ZERO_FIXED & masks.large) !== 0 && (ZERO_FIXED & masks.small) !== 0;
  return scan(
    buf,
    start + minBytes,
    start + Math.min(available, avgBytes),
    start + Math.min(available, maxBytes),
    masks.small,
    masks.large,
    zeroSkip
  ) - start;
}
function scan(buf, from, normal, limit, small, large, zeroSkip) {
  let gear = GEAR, h = 0, i = from;
  for (let phase = 0; phase < 2; phase++) {
    let end = phase === 0 ? normal : limit, mask = phase === 0 ? small : large, end4 = end - 3;
    for (; i < end4; ) {
      if (zeroSkip && h === ZERO_FIXED && buf[i] === 0) {
        let j = skipZeros(buf, i, end);
        if (j > i) {
          i = j;
          continue;
        }
      }
      if (h = (h << 1) + gear[buf[i]] | 0, (h & mask) === 0) return i + 1;
      if (h = (h << 1) + gear[buf[i + 1]] | 0, (h & mask) === 0) return i + 2;
      if (h = (h << 1) + gear[buf[i + 2]] | 0, (h & mask) === 0) return i + 3;
      if (h = (h << 1) + gear[buf[i + 3]] | 0, (h & mask) === 0) return i + 4;
      i += 4;
    }
    for (; i < end; )
      if (h = (h << 1) + gear[buf[i]] | 0, i++, (h & mask) === 0) return i;
  }
  return limit;
}
var DEFAULT_MASKS = masksFor(DEFAULT_CHUNKER.avgBytes);
assert((ZERO_FIXED & DEFAULT_MASKS.large) !== 0, "the gear zero fixed point never cuts");
var Chunker = class {
  buf;
  start = 0;
  end = 0;
  eof = !1;
  params;
  constructor(params = DEFAULT_CHUNKER, bufferBytes = 2 * params.maxBytes) {
    validate(params), assert(bufferBytes >= 2 * params.maxBytes, "chunker buffer holds two maximal chunks"), this.params = params, this.buf = Buffer.allocUnsafe(bufferBytes);
  }
  /** Free space to read into (compacts first). */
  fill() {
    return this.start > 0 && (this.buf.copy(this.buf, 0, this.start, this.end), this.end -= this.start, this.start = 0), this.buf.subarray(this.end);
  }
  commit(bytes) {
    assert(bytes >= 0 && this.end + bytes <= this.buf.length, "chunker commit within the buffer"), this.end += bytes;
  }
  finish() {
    this.eof = !0;
  }
  /** Forget everything (its buffer is kept): the next file starts from an empty buffer. */
  reset() {
    this.start = 0, this.end = 0, this.eof = !1;
  }
  next() {
    if (this.start === this.end) return null;
    let n = findCut(this.buf, this.start, this.end, this.eof, this.params);
    if (n < 0) return null;
    let chunk = this.buf.subarray(this.start, this.start + n);
    return this.start += n, chunk;
  }
};

// runtime/pipeline/file-reader.ts
var DEFAULT_BATCH_BYTES = 4 * 1024 * 1024, ZEROS = Buffer.alloc(DEFAULT_CHUNKER.maxBytes);
function isZero(chunk) {
  return chunk.length <= ZEROS.length && chunk.equals(ZEROS.subarray(0, chunk.length));
}
async function readAndSealFile(path, keys, onBatch, batchBytes = DEFAULT_BATCH_BYTES, drained = () => Promise.resolve()) {
  let handle = await fs.open(Buffer.from(path), "r");
  try {
    let before = await handle.stat({ bigint: !0 }), chunker = new Chunker(), chunkIds = [], batch = [], batchSize = 0, total = 0, zeroIds = /* @__PURE__ */ new Map(), take = async (chunk) => {
      let id;
      if (chunk[0] === 0 && chunk[chunk.length - 1] === 0 && isZero(chunk)) {
        if (id = zeroIds.get(chunk.length), id) {
          chunkIds.push(id);
          return;
        }
        id = chunkId(keys.chunkIdKey, chunk), zeroIds.set(chunk.length, id);
      }
      id ??= chunkId(keys.chunkIdKey, chunk), chunkIds.push(id);
      let { parts, codec } = sealChunkParts(keys.dataKey, id, chunk);
      if (batch.push({ id, parts, plainBytes: chunk.length, codec }), batchSize += chunk.length, batchSize >= batchBytes) {
        let out2 = batch;
        batch = [], batchSize = 0, await onBatch(out2);
      }
    };
    for (; ; ) {
      let space = chunker.fill(), bytesRead = isMainThread ? (await handle.read(space, 0, space.length, null)).bytesRead : readSync(handle.fd, space, 0, space.length, null);
      bytesRead === 0 ? chunker.finish() : (chunker.commit(bytesRead), total += bytesRead);
      for (let chunk = chunker.next(); chunk; chunk = chunker.next()) await take(chunk);
      if (bytesRead === 0) break;
    }
    batch.length > 0 && await onBatch(batch), await drained();
    let after = await handle.stat({ bigint: !0 });
    return readResult(before, after, total, chunkIds, !1);
  } finally {
    await handle.close();
  }
}
function readResult(before, after, total, chunkIds, grew) {
  let changed = grew || before.size !== after.size || before.mtimeNs !== after.mtimeNs || before.ctimeNs !== after.ctimeNs || BigInt(total) !== after.size;
  return {
    size: total,
    mtimeNs: before.mtimeNs.toString(),
    ctimeNs: before.ctimeNs.toString(),
    ino: before.ino.toString(),
    changed,
    chunkIds
  };
}
var SMALL_FILE_BYTES = 64 * 1024, SMALL_READ_LIMIT_BYTES = 4 * SMALL_FILE_BYTES, smallChunker = null;
function readAndSealSmallFile(path, keys) {
  let fd;
  try {
    fd = openSync(Buffer.from(path), "r");
  } catch (error) {
    return { error: errorOf(error) };
  }
  try {
    let before = fstatSync(fd, { bigint: !0 });
    smallChunker ??= new Chunker();
    let chunker = smallChunker;
    chunker.reset();
    let chunkIds = [], chunks = [], total = 0, take = (chunk) => {
      let id = chunkId(keys.chunkIdKey, chunk);
      chunkIds.push(id);
      let { parts, codec } = sealChunkParts(keys.dataKey, id, chunk);
      chunks.push({ id, parts, plainBytes: chunk.length, codec });
    }, grew = !1;
    for (; ; ) {
      let space = chunker.fill(), bytesRead = readSync(fd, space, 0, space.length, null);
      bytesRead === 0 ? chunker.finish() : (chunker.commit(bytesRead), total += bytesRead);
      for (let chunk = chunker.next(); chunk; chunk = chunker.next()) take(chunk);
      if (bytesRead === 0) break;
      if (total > SMALL_READ_LIMIT_BYTES) {
        grew = !0;
        break;
      }
    }
    let after = fstatSync(fd, { bigint: !0 });
    return { result: readResult(before, after, total, chunkIds, grew), chunks };
  } catch (error) {
    return { error: errorOf(error) };
  } finally {
    closeSync(fd);
  }
}
function errorOf(error) {
  let e = error;
  return { code: e.code ?? "EIO", message: String(e.message ?? error) };
}

// runtime/pipeline/restore-land.ts
import { randomBytes } from "node:crypto";
import * as fs2 from "node:fs";

// engine/availability.ts
var DEFAULT_GRACE_MS = 24 * 3600 * 1e3, DEFAULT_ONLINE_WINDOW_MS = 900 * 1e3;

// engine/hash64.ts
var encoder = new TextEncoder();
var out = new Int32Array(2);
var INV_2_16 = 1 / 65536;
var TWO_POW_21 = 2 ** 21, INV_2_53 = 2 ** -53, pairKeyHi = new Int32Array(1), pairKeyLo = new Int32Array(1), pairOut = new Float64Array(1);

// engine/placement.ts
var bestKey = new Float64Array(64), bestIdx = new Int32Array(64), chosenIdx = new Int32Array(64), chosenScore = new Float64Array(64), stripeKeyHalves = new Int32Array(2), LOG_BUCKET_BITS = 12, LOG_BUCKETS = 1 << LOG_BUCKET_BITS, negLogLowerBound = new Float64Array(LOG_BUCKETS + 1);
for (let b = 0; b < LOG_BUCKETS; b++)
  negLogLowerBound[b] = Math.max(0, -Math.log((b + 1) / LOG_BUCKETS) * (1 - 1e-9));

// engine/group/cbor.ts
var utf8Decoder = new TextDecoder("utf-8", { fatal: !0, ignoreBOM: !0 }), utf8Encoder = new TextEncoder();

// engine/group/member-id.ts
var ED25519_PUBLIC_KEY_BYTES = 32, PREFIX = Uint8Array.of(0, 36, 8, 1, 18, 32), MULTIHASH_BYTES = PREFIX.length + ED25519_PUBLIC_KEY_BYTES, ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz", INDEX = new Int8Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) INDEX[ALPHABET.charCodeAt(i)] = i;

// engine/group/ops.ts
var MAX_OP_BYTES = 64 * 1024;
var MAX_INVITE_TTL_MS = 720 * 3600 * 1e3;
var SIGNATURE_CONTEXT = "pb/v1/group-op";
var CONTEXT_BYTES = new TextEncoder().encode(SIGNATURE_CONTEXT), utf8 = new TextEncoder(), HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

// engine/group/fold.ts
var utf82 = new TextEncoder();

// engine/group/iblt.ts
var IBLT_CELL_BYTES = 16, MAX_IBLT_CELLS = 1 << 18, STRATA = 16, STRATUM_CELLS = 24;
var STRATA_BYTES = STRATA * STRATUM_CELLS * IBLT_CELL_BYTES;

// engine/group/sync.ts
var MAX_SYNC_MESSAGE_BYTES = 8 * 1024 * 1024;
var HEX_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < 16; i++) HEX_VALUE["0123456789abcdef".charCodeAt(i)] = i;

// engine/head.ts
var HEAD_SIGNATURE_CONTEXT = "pb/v1/head", MAX_HEAD_BODY_BYTES = 64 * 1024, MAX_HEAD_BYTES = MAX_HEAD_BODY_BYTES + 256, CONTEXT = new TextEncoder().encode(HEAD_SIGNATURE_CONTEXT);

// engine/identity.ts
var utf83 = new TextEncoder();

// engine/units.ts
var SIZE_UNITS = {
  "": 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  m: 1e6,
  mb: 1e6,
  g: 1e9,
  gb: 1e9,
  t: 1e12,
  tb: 1e12,
  p: 1e15,
  pb: 1e15,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40
}, DURATION_UNITS = {
  ms: 1,
  s: 1e3,
  m: 6e4,
  h: 36e5,
  d: 864e5,
  w: 7 * 864e5,
  y: 365 * 864e5
};

// runtime/pipeline/chunk-pool.ts
var SMALL_BATCH_BYTES = 2 * 1024 * 1024, WORKER_URL = new URL("./chunk-worker.mjs", import.meta.url);

// runtime/pipeline/index-db.ts
import Database from "better-sqlite3";

// node_modules/.pnpm/cbor-x@1.6.9/node_modules/cbor-x/decode.js
var decoder;
try {
  decoder = new TextDecoder();
} catch {
}
var src, srcEnd, position = 0;
var EMPTY_ARRAY = [], LEGACY_RECORD_INLINE_ID = 105, RECORD_DEFINITIONS_ID = 57342, RECORD_INLINE_ID = 57343, BUNDLED_STRINGS_ID = 57337;
var PACKED_REFERENCE_TAG_ID = 6, maxArraySize = 11281e4, maxMapSize = 1681e4, maxObjectSize = 1671e4, objectSizeLimit = maxObjectSize, strings = EMPTY_ARRAY, stringPosition = 0, currentDecoder = {}, currentStructures, srcString, srcStringStart = 0, srcStringEnd = 0, bundledStrings, referenceMap, currentExtensions = [], currentExtensionRanges = [], packedValues, dataView, restoreMapsAsObject, defaultOptions = {
  useRecords: !1,
  mapsAsObjects: !0
}, sequentialMode = !1, inlineObjectReadThreshold = 2;
try {
  new Function("");
} catch {
  inlineObjectReadThreshold = 1 / 0;
}
var Decoder = class _Decoder {
  constructor(options) {
    if (options && ((options.keyMap || options._keyMap) && !options.useRecords && (options.useRecords = !1, options.mapsAsObjects = !0), options.useRecords === !1 && options.mapsAsObjects === void 0 && (options.mapsAsObjects = !0), options.getStructures && (options.getShared = options.getStructures), options.getShared && !options.structures && ((options.structures = []).uninitialized = !0), options.keyMap)) {
      this.mapKey = /* @__PURE__ */ new Map();
      for (let [k, v] of Object.entries(options.keyMap)) this.mapKey.set(v, k);
    }
    Object.assign(this, options);
  }
  /*
  decodeKey(key) {
  	return this.keyMap
  		? Object.keys(this.keyMap)[Object.values(this.keyMap).indexOf(key)] || key
  		: key
  }
  */
  decodeKey(key) {
    return this.keyMap && this.mapKey.get(key) || key;
  }
  encodeKey(key) {
    return this.keyMap && this.keyMap.hasOwnProperty(key) ? this.keyMap[key] : key;
  }
  encodeKeys(rec) {
    if (!this._keyMap) return rec;
    let map = /* @__PURE__ */ new Map();
    for (let [k, v] of Object.entries(rec)) map.set(this._keyMap.hasOwnProperty(k) ? this._keyMap[k] : k, v);
    return map;
  }
  decodeKeys(map) {
    if (!this._keyMap || map.constructor.name != "Map") return map;
    if (!this._mapKey) {
      this._mapKey = /* @__PURE__ */ new Map();
      for (let [k, v] of Object.entries(this._keyMap)) this._mapKey.set(v, k);
    }
    let res = {};
    return map.forEach((v, k) => res[safeKey(this._mapKey.has(k) ? this._mapKey.get(k) : k)] = v), res;
  }
  mapDecode(source, end) {
    let res = this.decode(source);
    return this._keyMap && res.constructor.name === "Array" ? res.map((r) => this.decodeKeys(r)) : res;
  }
  decode(source, end) {
    if (src)
      return saveState(() => (clearSource(), this ? this.decode(source, end) : _Decoder.prototype.decode.call(defaultOptions, source, end)));
    srcEnd = end > -1 && end < source.length ? end : source.length, position = 0, stringPosition = 0, srcStringEnd = 0, srcString = null, strings = EMPTY_ARRAY, bundledStrings = null, src = source;
    try {
      dataView = source.dataView || (source.dataView = new DataView(source.buffer, source.byteOffset, source.byteLength));
    } catch (error) {
      throw src = null, source instanceof Uint8Array ? error : new Error("Source must be a Uint8Array or Buffer but was a " + (source && typeof source == "object" ? source.constructor.name : typeof source));
    }
    if (this instanceof _Decoder) {
      if (currentDecoder = this, packedValues = this.sharedValues && (this.pack ? new Array(this.maxPrivatePackedValues || 16).concat(this.sharedValues) : this.sharedValues), this.structures)
        return currentStructures = this.structures, checkedRead();
      (!currentStructures || currentStructures.length > 0) && (currentStructures = []);
    } else
      currentDecoder = defaultOptions, (!currentStructures || currentStructures.length > 0) && (currentStructures = []), packedValues = null;
    return checkedRead();
  }
  decodeMultiple(source, forEach) {
    if (src)
      return saveState(() => (clearSource(), this ? this.decodeMultiple(source, forEach) : defaultDecoder.decodeMultiple(source, forEach)));
    let values, lastPosition = 0;
    try {
      let size = source.length;
      sequentialMode = !0;
      let value = this ? this.decode(source, size) : defaultDecoder.decode(source, size);
      if (forEach) {
        let end = position;
        if (forEach(value) === !1)
          return;
        for (; end < size; )
          if (lastPosition = end, value = checkedRead(), end = position, forEach(value) === !1)
            return;
      } else {
        for (values = [value]; position < size; )
          lastPosition = position, values.push(checkedRead());
        return values;
      }
    } catch (error) {
      throw error && (typeof error == "object" || typeof error == "function") && (error.lastPosition = lastPosition, error.values = values), error;
    } finally {
      sequentialMode = !1, clearSource();
    }
  }
};
var nestedDecodeErrors = /* @__PURE__ */ new WeakSet(), arrayAllocationBudget;
function checkedRead() {
  try {
    arrayAllocationBudget = srcEnd - position;
    let result = read();
    if (bundledStrings) {
      if (position >= bundledStrings.postBundlePosition)
        throw new Error("Unexpected bundle position");
      position = bundledStrings.postBundlePosition, bundledStrings = null;
    }
    if (position == srcEnd)
      currentStructures = null, src = null, referenceMap && (referenceMap = null);
    else if (position > srcEnd) {
      let error = new Error("Unexpected end of CBOR data");
      throw error.incomplete = !0, error;
    } else if (!sequentialMode)
      throw new Error("Data read, but end of buffer not reached");
    return result;
  } catch (error) {
    throw clearSource(), nestedDecodeErrors.has(error) ? error.incomplete && (error.incomplete = !1) : (error instanceof RangeError && position + 8 > srcEnd || error && typeof error.message == "string" && error.message.startsWith("Unexpected end of buffer")) && (error.incomplete = !0), error;
  }
}
function readBreak() {
  return position < srcEnd && src[position] === 255 ? (position++, !0) : !1;
}
function endOfCBORError(neededEnd) {
  let error = new Error("Unexpected end of CBOR data");
  return error.incomplete = !0, neededEnd && (error.neededEnd = neededEnd), error;
}
function read() {
  if (!(position < srcEnd)) throw endOfCBORError();
  let token = src[position++], majorType = token >> 5;
  if (token = token & 31, token > 23)
    switch (token) {
      case 24:
        if (position >= srcEnd) throw endOfCBORError();
        token = src[position++];
        break;
      case 25:
        if (majorType == 7)
          return getFloat16();
        token = dataView.getUint16(position), position += 2;
        break;
      case 26:
        if (majorType == 7) {
          let value = dataView.getFloat32(position);
          if (currentDecoder.useFloat32 > 2) {
            let multiplier = mult10[(src[position] & 127) << 1 | src[position + 1] >> 7];
            return position += 4, (multiplier * value + (value > 0 ? 0.5 : -0.5) >> 0) / multiplier;
          }
          return position += 4, value;
        }
        if (token = dataView.getUint32(position), position += 4, majorType === 1) return -1 - token;
        break;
      case 27:
        if (majorType == 7) {
          let value = dataView.getFloat64(position);
          return position += 8, value;
        }
        if (majorType > 1) {
          if (dataView.getUint32(position) > 0)
            throw new Error("JavaScript does not support arrays, maps, or strings with length over 4294967295");
          token = dataView.getUint32(position + 4);
        } else if (currentDecoder.int64AsNumber) {
          if (token = dataView.getUint32(position) * 4294967296, token += dataView.getUint32(position + 4), position += 8, majorType === 1) return -1 - token;
          break;
        } else token = dataView.getBigUint64(position);
        position += 8;
        break;
      case 31:
        switch (majorType) {
          case 2:
          // byte string
          case 3:
            throw new Error("Indefinite length not supported for byte or text strings");
          case 4:
            let array = [], i = 0;
            for (; !readBreak(); ) {
              if (i >= maxArraySize) throw new Error(`Array length exceeds ${maxArraySize}`);
              array[i++] = read();
            }
            return majorType == 4 ? array : majorType == 3 ? array.join("") : Buffer.concat(array);
          case 5:
            let key;
            if (currentDecoder.mapsAsObjects) {
              let object = {}, i2 = 0;
              if (currentDecoder.keyMap)
                for (; !readBreak(); ) {
                  if (key = read(), i2++ >= objectSizeLimit) throw new Error(`Property count exceeds ${objectSizeLimit}`);
                  object[safeKey(currentDecoder.decodeKey(key))] = read();
                }
              else
                for (; !readBreak(); ) {
                  if (key = read(), i2++ >= objectSizeLimit) throw new Error(`Property count exceeds ${objectSizeLimit}`);
                  object[safeKey(key)] = read();
                }
              return object;
            } else {
              restoreMapsAsObject && (currentDecoder.mapsAsObjects = !0, restoreMapsAsObject = !1);
              let map = /* @__PURE__ */ new Map();
              if (currentDecoder.keyMap) {
                let i2 = 0;
                for (; !readBreak(); ) {
                  if (key = read(), i2++ >= maxMapSize)
                    throw new Error(`Map size exceeds ${maxMapSize}`);
                  map.set(currentDecoder.decodeKey(key), read());
                }
              } else {
                let i2 = 0;
                for (; !readBreak(); ) {
                  if (key = read(), i2++ >= maxMapSize)
                    throw new Error(`Map size exceeds ${maxMapSize}`);
                  map.set(key, read());
                }
              }
              return map;
            }
          case 7:
            throw new Error("Unexpected break stop code outside of an indefinite-length item");
          default:
            throw new Error("Invalid major type for indefinite length " + majorType);
        }
      default:
        throw new Error("Unknown token " + token);
    }
  switch (majorType) {
    case 0:
      return token;
    case 1:
      return ~token;
    case 2:
      if (token > srcEnd - position) throw endOfCBORError(position + token);
      return readBin(token);
    case 3:
      if (srcStringEnd >= position)
        return srcString.slice(position - srcStringStart, (position += token) - srcStringStart);
      if (token > srcEnd - position) throw endOfCBORError(position + token);
      if (srcStringEnd == 0 && srcEnd < 140 && token < 32) {
        let string = token < 16 ? shortStringInJS(token) : longStringInJS(token);
        if (string != null)
          return string;
      }
      return readFixedString(token);
    case 4:
      if (token > maxArraySize) throw new Error(`Array length exceeds ${maxArraySize}`);
      if (token > srcEnd - position || (arrayAllocationBudget -= token) < 0) throw endOfCBORError(position + token);
      let array = new Array(token);
      for (let i = 0; i < token; i++) array[i] = read();
      return array;
    case 5:
      if (currentDecoder.mapsAsObjects) {
        if (token > objectSizeLimit) throw new Error(`Property count exceeds ${objectSizeLimit}`);
        if (token > (srcEnd - position) / 2) throw endOfCBORError(position + 2 * token);
        let object = {};
        if (currentDecoder.keyMap) for (let i = 0; i < token; i++) object[safeKey(currentDecoder.decodeKey(read()))] = read();
        else for (let i = 0; i < token; i++) object[safeKey(read())] = read();
        return object;
      } else {
        if (restoreMapsAsObject && (currentDecoder.mapsAsObjects = !0, restoreMapsAsObject = !1), token > maxMapSize) throw new Error(`Map size exceeds ${maxMapSize}`);
        if (token > (srcEnd - position) / 2) throw endOfCBORError(position + 2 * token);
        let map = /* @__PURE__ */ new Map();
        if (currentDecoder.keyMap) for (let i = 0; i < token; i++) map.set(currentDecoder.decodeKey(read()), read());
        else for (let i = 0; i < token; i++) map.set(read(), read());
        return map;
      }
    case 6:
      if (token >= BUNDLED_STRINGS_ID) {
        let structure = currentStructures[token & 8191];
        if (structure)
          return structure.read || (structure.read = createStructureReader(structure)), structure.read();
        if (token < 65536) {
          if (token == RECORD_INLINE_ID) {
            let length = readJustLength(), id = read(), structure2 = read();
            recordDefinition(id, structure2);
            let object = {};
            if (currentDecoder.keyMap) for (let i = 2; i < length; i++) {
              let key = currentDecoder.decodeKey(structure2[i - 2]);
              object[safeKey(key)] = read();
            }
            else for (let i = 2; i < length; i++) {
              let key = structure2[i - 2];
              object[safeKey(key)] = read();
            }
            return object;
          } else if (token == RECORD_DEFINITIONS_ID) {
            let length = readJustLength(), id = read();
            for (let i = 2; i < length; i++)
              recordDefinition(id++, read());
            return read();
          } else if (token == BUNDLED_STRINGS_ID)
            return readBundleExt();
          if (currentDecoder.getShared && (loadShared(), structure = currentStructures[token & 8191], structure))
            return structure.read || (structure.read = createStructureReader(structure)), structure.read();
        }
      }
      let extension = currentExtensions[token];
      if (extension)
        return extension.handlesRead ? extension(read) : extension(read());
      {
        let input = read();
        for (let i = 0; i < currentExtensionRanges.length; i++) {
          let value = currentExtensionRanges[i](token, input);
          if (value !== void 0)
            return value;
        }
        return new Tag(input, token);
      }
    case 7:
      switch (token) {
        case 20:
          return !1;
        case 21:
          return !0;
        case 22:
          return null;
        case 23:
          return;
        default:
          let packedValue = (packedValues || getPackedValues())[token];
          if (packedValue !== void 0)
            return packedValue;
          throw new Error("Unknown token " + token);
      }
    default:
      throw isNaN(token) ? endOfCBORError() : new Error("Unknown CBOR token " + token);
  }
}
var validName = /^[a-zA-Z_$][a-zA-Z\d_$]*$/;
function createStructureReader(structure) {
  if (!structure) throw new Error("Structure is required in record definition");
  function readObject() {
    let length = src[position++];
    if (length = length & 31, length > 23)
      switch (length) {
        case 24:
          length = src[position++];
          break;
        case 25:
          length = dataView.getUint16(position), position += 2;
          break;
        case 26:
          length = dataView.getUint32(position), position += 4;
          break;
        default:
          throw new Error("Expected array header, but got " + src[position - 1]);
      }
    let compiledReader = this.compiledReader;
    for (; compiledReader; ) {
      if (compiledReader.propertyCount === length)
        return compiledReader(read);
      compiledReader = compiledReader.next;
    }
    if (this.slowReads++ >= inlineObjectReadThreshold) {
      let array = this.length == length ? this : this.slice(0, length);
      return compiledReader = currentDecoder.keyMap ? new Function("r", "return {" + array.map((k) => currentDecoder.decodeKey(k)).map((k) => validName.test(k) ? safeKey(k) + ":r()" : "[" + JSON.stringify(k) + "]:r()").join(",") + "}") : new Function("r", "return {" + array.map((key) => validName.test(key) ? safeKey(key) + ":r()" : "[" + JSON.stringify(key) + "]:r()").join(",") + "}"), this.compiledReader && (compiledReader.next = this.compiledReader), compiledReader.propertyCount = length, this.compiledReader = compiledReader, compiledReader(read);
    }
    let object = {};
    if (currentDecoder.keyMap) for (let i = 0; i < length; i++) object[safeKey(currentDecoder.decodeKey(this[i]))] = read();
    else for (let i = 0; i < length; i++)
      object[safeKey(this[i])] = read();
    return object;
  }
  return structure.slowReads = 0, readObject;
}
function safeKey(key) {
  if (typeof key == "string") return key === "__proto__" ? "__proto_" : key;
  if (typeof key == "number" || typeof key == "boolean" || typeof key == "bigint") return key.toString();
  if (key == null) return key + "";
  throw new Error("Invalid property name type " + typeof key);
}
var readFixedString = readStringJS, readString8 = readStringJS, readString16 = readStringJS, readString32 = readStringJS, isNativeAccelerationEnabled = !1;
function setExtractor(extractStrings) {
  isNativeAccelerationEnabled = !0, readFixedString = readString(1), readString8 = readString(2), readString16 = readString(3), readString32 = readString(5);
  function readString(headerLength) {
    return function(length) {
      let string = strings[stringPosition++];
      if (string == null) {
        if (bundledStrings)
          return readStringJS(length);
        let extraction = extractStrings(position, srcEnd, length, src);
        if (typeof extraction == "string")
          string = extraction, strings = EMPTY_ARRAY;
        else if (strings = extraction, stringPosition = 1, srcStringEnd = 1, string = strings[0], string === void 0)
          throw new Error("Unexpected end of buffer");
      }
      let srcStringLength = string.length;
      return srcStringLength <= length ? (position += length, string) : (srcString = string, srcStringStart = position, srcStringEnd = position + srcStringLength, position += length, string.slice(0, length));
    };
  }
}
function readStringJS(length) {
  let result;
  if (length < 16 && (result = shortStringInJS(length)))
    return result;
  if (length > 64 && decoder)
    return decoder.decode(src.subarray(position, position += length));
  let end = position + length, units = [];
  for (result = ""; position < end; ) {
    let byte1 = src[position++];
    if ((byte1 & 128) === 0)
      units.push(byte1);
    else if ((byte1 & 224) === 192)
      if (byte1 < 194 || position >= end || (src[position] & 192) !== 128)
        units.push(65533);
      else {
        let byte2 = src[position++] & 63;
        units.push((byte1 & 31) << 6 | byte2);
      }
    else if ((byte1 & 240) === 224) {
      let byte2 = position < end ? src[position] : 0;
      if (position >= end || (byte2 & 192) !== 128 || byte1 === 224 && byte2 < 160 || byte1 === 237 && byte2 >= 160)
        units.push(65533);
      else if (position++, position >= end || (src[position] & 192) !== 128)
        units.push(65533);
      else {
        let byte3 = src[position++] & 63;
        units.push((byte1 & 31) << 12 | (byte2 & 63) << 6 | byte3);
      }
    } else if ((byte1 & 248) === 240) {
      let byte2 = position < end ? src[position] : 0;
      if (byte1 > 244 || position >= end || (byte2 & 192) !== 128 || byte1 === 240 && byte2 < 144 || byte1 === 244 && byte2 >= 144)
        units.push(65533);
      else if (position++, position >= end || (src[position] & 192) !== 128)
        units.push(65533);
      else {
        let byte3 = src[position++] & 63;
        if (position >= end || (src[position] & 192) !== 128)
          units.push(65533);
        else {
          let byte4 = src[position++] & 63, unit = (byte1 & 7) << 18 | (byte2 & 63) << 12 | byte3 << 6 | byte4;
          unit -= 65536, units.push(unit >>> 10 & 1023 | 55296), units.push(56320 | unit & 1023);
        }
      }
    } else
      units.push(65533);
    units.length >= 4096 && (result += fromCharCode.apply(String, units), units.length = 0);
  }
  return units.length > 0 && (result += fromCharCode.apply(String, units)), result;
}
var fromCharCode = String.fromCharCode;
function longStringInJS(length) {
  let start = position, bytes = new Array(length);
  for (let i = 0; i < length; i++) {
    let byte = src[position++];
    if ((byte & 128) > 0) {
      position = start;
      return;
    }
    bytes[i] = byte;
  }
  return fromCharCode.apply(String, bytes);
}
function shortStringInJS(length) {
  if (length < 4)
    if (length < 2) {
      if (length === 0)
        return "";
      {
        let a = src[position++];
        if ((a & 128) > 1) {
          position -= 1;
          return;
        }
        return fromCharCode(a);
      }
    } else {
      let a = src[position++], b = src[position++];
      if ((a & 128) > 0 || (b & 128) > 0) {
        position -= 2;
        return;
      }
      if (length < 3)
        return fromCharCode(a, b);
      let c = src[position++];
      if ((c & 128) > 0) {
        position -= 3;
        return;
      }
      return fromCharCode(a, b, c);
    }
  else {
    let a = src[position++], b = src[position++], c = src[position++], d = src[position++];
    if ((a & 128) > 0 || (b & 128) > 0 || (c & 128) > 0 || (d & 128) > 0) {
      position -= 4;
      return;
    }
    if (length < 6) {
      if (length === 4)
        return fromCharCode(a, b, c, d);
      {
        let e = src[position++];
        if ((e & 128) > 0) {
          position -= 5;
          return;
        }
        return fromCharCode(a, b, c, d, e);
      }
    } else if (length < 8) {
      let e = src[position++], f = src[position++];
      if ((e & 128) > 0 || (f & 128) > 0) {
        position -= 6;
        return;
      }
      if (length < 7)
        return fromCharCode(a, b, c, d, e, f);
      let g = src[position++];
      if ((g & 128) > 0) {
        position -= 7;
        return;
      }
      return fromCharCode(a, b, c, d, e, f, g);
    } else {
      let e = src[position++], f = src[position++], g = src[position++], h = src[position++];
      if ((e & 128) > 0 || (f & 128) > 0 || (g & 128) > 0 || (h & 128) > 0) {
        position -= 8;
        return;
      }
      if (length < 10) {
        if (length === 8)
          return fromCharCode(a, b, c, d, e, f, g, h);
        {
          let i = src[position++];
          if ((i & 128) > 0) {
            position -= 9;
            return;
          }
          return fromCharCode(a, b, c, d, e, f, g, h, i);
        }
      } else if (length < 12) {
        let i = src[position++], j = src[position++];
        if ((i & 128) > 0 || (j & 128) > 0) {
          position -= 10;
          return;
        }
        if (length < 11)
          return fromCharCode(a, b, c, d, e, f, g, h, i, j);
        let k = src[position++];
        if ((k & 128) > 0) {
          position -= 11;
          return;
        }
        return fromCharCode(a, b, c, d, e, f, g, h, i, j, k);
      } else {
        let i = src[position++], j = src[position++], k = src[position++], l = src[position++];
        if ((i & 128) > 0 || (j & 128) > 0 || (k & 128) > 0 || (l & 128) > 0) {
          position -= 12;
          return;
        }
        if (length < 14) {
          if (length === 12)
            return fromCharCode(a, b, c, d, e, f, g, h, i, j, k, l);
          {
            let m = src[position++];
            if ((m & 128) > 0) {
              position -= 13;
              return;
            }
            return fromCharCode(a, b, c, d, e, f, g, h, i, j, k, l, m);
          }
        } else {
          let m = src[position++], n = src[position++];
          if ((m & 128) > 0 || (n & 128) > 0) {
            position -= 14;
            return;
          }
          if (length < 15)
            return fromCharCode(a, b, c, d, e, f, g, h, i, j, k, l, m, n);
          let o = src[position++];
          if ((o & 128) > 0) {
            position -= 15;
            return;
          }
          return fromCharCode(a, b, c, d, e, f, g, h, i, j, k, l, m, n, o);
        }
      }
    }
  }
}
function readBin(length) {
  return currentDecoder.copyBuffers ? (
    // specifically use the copying slice (not the node one)
    Uint8Array.prototype.slice.call(src, position, position += length)
  ) : src.subarray(position, position += length);
}
var f32Array = new Float32Array(1), u8Array = new Uint8Array(f32Array.buffer, 0, 4);
function getFloat16() {
  let byte0 = src[position++], byte1 = src[position++], exponent = (byte0 & 127) >> 2;
  if (exponent === 31)
    return byte1 || byte0 & 3 ? NaN : byte0 & 128 ? -1 / 0 : 1 / 0;
  if (exponent === 0) {
    let abs = ((byte0 & 3) << 8 | byte1) / 16777216;
    return byte0 & 128 ? -abs : abs;
  }
  return u8Array[3] = byte0 & 128 | // sign bit
  (exponent >> 1) + 56, u8Array[2] = (byte0 & 7) << 5 | // last exponent bit and first two mantissa bits
  byte1 >> 3, u8Array[1] = byte1 << 5, u8Array[0] = 0, f32Array[0];
}
var keyCache = new Array(4096);
var Tag = class {
  constructor(value, tag) {
    this.value = value, this.tag = tag;
  }
};
currentExtensions[0] = (dateString) => new Date(dateString);
currentExtensions[1] = (epochSec) => new Date(Math.round(epochSec * 1e3));
currentExtensions[2] = (buffer) => {
  let value = BigInt(0);
  for (let i = 0, l = buffer.byteLength; i < l; i++)
    value = BigInt(buffer[i]) + (value << BigInt(8));
  return value;
};
currentExtensions[3] = (buffer) => BigInt(-1) - currentExtensions[2](buffer);
currentExtensions[4] = (fraction) => +(fraction[1] + "e" + fraction[0]);
currentExtensions[5] = (fraction) => fraction[1] * Math.exp(fraction[0] * Math.log(2));
var recordDefinition = (id, structure) => {
  id = id - 57344;
  let existingStructure = currentStructures[id];
  existingStructure && existingStructure.isShared && ((currentStructures.restoreStructures || (currentStructures.restoreStructures = []))[id] = existingStructure), currentStructures[id] = structure, structure.read = createStructureReader(structure);
};
currentExtensions[LEGACY_RECORD_INLINE_ID] = (data) => {
  let length = data.length, structure = data[1];
  recordDefinition(data[0], structure);
  let object = {};
  for (let i = 2; i < length; i++) {
    let key = structure[i - 2];
    object[safeKey(key)] = data[i];
  }
  return object;
};
var legacyRecordDefinition = currentExtensions[LEGACY_RECORD_INLINE_ID];
currentExtensions[14] = (value) => bundledStrings ? bundledStrings[0].slice(bundledStrings.position0, bundledStrings.position0 += value) : new Tag(value, 14);
currentExtensions[15] = (value) => bundledStrings ? bundledStrings[1].slice(bundledStrings.position1, bundledStrings.position1 += value) : new Tag(value, 15);
var glbl = { Error, RegExp };
currentExtensions[27] = (data) => (glbl[data[0]] || Error)(data[1], data[2]);
var packedTable = (read2) => {
  if (!(position < srcEnd)) throw endOfCBORError();
  if (src[position++] != 132)
    throw new Error("Packed values structure must be followed by a 4 element array");
  let newPackedValues = read2();
  if (!Array.isArray(newPackedValues) || !newPackedValues.length)
    throw new Error("Packed values structure must be followed by a 4 element array");
  return packedValues = packedValues ? newPackedValues.concat(packedValues.slice(newPackedValues.length)) : newPackedValues, packedValues.prefixes = read2(), packedValues.suffixes = read2(), read2();
};
packedTable.handlesRead = !0;
currentExtensions[51] = packedTable;
currentExtensions[PACKED_REFERENCE_TAG_ID] = (data) => {
  if (!packedValues)
    if (currentDecoder.getShared)
      loadShared();
    else
      return new Tag(data, PACKED_REFERENCE_TAG_ID);
  if (typeof data == "number")
    return packedValues[16 + (data >= 0 ? 2 * data : -2 * data - 1)];
  throw new Error("No support for non-integer packed references yet");
};
currentExtensions[28] = (read2) => {
  referenceMap || (referenceMap = /* @__PURE__ */ new Map(), referenceMap.id = 0);
  let id = referenceMap.id++, startingPosition = position, token = src[position], target2;
  token >> 5 == 4 ? target2 = [] : target2 = {};
  let refEntry = { target: target2 };
  referenceMap.set(id, refEntry);
  let targetProperties = read2();
  return refEntry.used ? (Object.getPrototypeOf(target2) !== Object.getPrototypeOf(targetProperties) && (position = startingPosition, target2 = targetProperties, referenceMap.set(id, { target: target2 }), targetProperties = read2()), Object.assign(target2, targetProperties)) : (refEntry.target = targetProperties, targetProperties);
};
currentExtensions[28].handlesRead = !0;
currentExtensions[29] = (id) => {
  let refEntry = referenceMap.get(id);
  return refEntry.used = !0, refEntry.target;
};
currentExtensions[258] = (array) => new Set(array);
(currentExtensions[259] = (read2) => {
  let decoder2 = currentDecoder;
  if (decoder2.mapsAsObjects) {
    decoder2.mapsAsObjects = !1, restoreMapsAsObject = !0;
    try {
      return read2();
    } finally {
      restoreMapsAsObject && (decoder2.mapsAsObjects = !0, restoreMapsAsObject = !1);
    }
  }
  return read2();
}).handlesRead = !0;
function combine(a, b) {
  return typeof a == "string" ? a + b : a instanceof Array ? a.concat(b) : Object.assign({}, a, b);
}
function getPackedValues() {
  if (!packedValues)
    if (currentDecoder.getShared)
      loadShared();
    else
      throw new Error("No packed values available");
  return packedValues;
}
var SHARED_DATA_TAG_ID = 1399353956;
currentExtensionRanges.push((tag, input) => {
  if (tag >= 225 && tag <= 255)
    return combine(getPackedValues().prefixes[tag - 224], input);
  if (tag >= 28704 && tag <= 32767)
    return combine(getPackedValues().prefixes[tag - 28672], input);
  if (tag >= 1879052288 && tag <= 2147483647)
    return combine(getPackedValues().prefixes[tag - 1879048192], input);
  if (tag >= 216 && tag <= 223)
    return combine(input, getPackedValues().suffixes[tag - 216]);
  if (tag >= 27647 && tag <= 28671)
    return combine(input, getPackedValues().suffixes[tag - 27639]);
  if (tag >= 1811940352 && tag <= 1879048191)
    return combine(input, getPackedValues().suffixes[tag - 1811939328]);
  if (tag == SHARED_DATA_TAG_ID)
    return {
      packedValues,
      structures: currentStructures.slice(0),
      version: input
    };
  if (tag == 55799)
    return input;
});
var isLittleEndianMachine = new Uint8Array(new Uint16Array([1]).buffer)[0] == 1, typedArrays = [
  Uint8Array,
  Uint8ClampedArray,
  Uint16Array,
  Uint32Array,
  typeof BigUint64Array > "u" ? { name: "BigUint64Array" } : BigUint64Array,
  Int8Array,
  Int16Array,
  Int32Array,
  typeof BigInt64Array > "u" ? { name: "BigInt64Array" } : BigInt64Array,
  Float32Array,
  Float64Array
], typedArrayTags = [64, 68, 69, 70, 71, 72, 77, 78, 79, 85, 86];
for (let i = 0; i < typedArrays.length; i++)
  registerTypedArray(typedArrays[i], typedArrayTags[i]);
function registerTypedArray(TypedArray, tag) {
  let dvMethod = "get" + TypedArray.name.slice(0, -5), bytesPerElement;
  typeof TypedArray == "function" ? bytesPerElement = TypedArray.BYTES_PER_ELEMENT : TypedArray = null;
  for (let littleEndian2 = 0; littleEndian2 < 2; littleEndian2++) {
    if (!littleEndian2 && bytesPerElement == 1)
      continue;
    let sizeShift = bytesPerElement == 2 ? 1 : bytesPerElement == 4 ? 2 : bytesPerElement == 8 ? 3 : 0;
    currentExtensions[littleEndian2 ? tag : tag - 4] = bytesPerElement == 1 || littleEndian2 == isLittleEndianMachine ? (buffer) => {
      if (!TypedArray)
        throw new Error("Could not find typed array for code " + tag);
      return !currentDecoder.copyBuffers && (bytesPerElement === 1 || bytesPerElement === 2 && !(buffer.byteOffset & 1) || bytesPerElement === 4 && !(buffer.byteOffset & 3) || bytesPerElement === 8 && !(buffer.byteOffset & 7)) ? new TypedArray(buffer.buffer, buffer.byteOffset, buffer.byteLength >> sizeShift) : new TypedArray(Uint8Array.prototype.slice.call(buffer, 0).buffer);
    } : (buffer) => {
      if (!TypedArray)
        throw new Error("Could not find typed array for code " + tag);
      let dv = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength), elements = buffer.length >> sizeShift, ta = new TypedArray(elements), method = dv[dvMethod];
      for (let i = 0; i < elements; i++)
        ta[i] = method.call(dv, i << sizeShift, littleEndian2);
      return ta;
    };
  }
}
function readBundleExt() {
  let length = readJustLength(), bundlePosition = position + read();
  for (let i = 2; i < length; i++) {
    let bundleLength = readJustLength();
    position += bundleLength;
  }
  let dataPosition = position;
  return position = bundlePosition, bundledStrings = [readStringJS(readJustLength()), readStringJS(readJustLength())], bundledStrings.position0 = 0, bundledStrings.position1 = 0, bundledStrings.postBundlePosition = position, position = dataPosition, read();
}
function readJustLength() {
  if (!(position < srcEnd)) throw endOfCBORError();
  let token = src[position++] & 31;
  if (token > 23)
    switch (token) {
      case 24:
        if (position >= srcEnd) throw endOfCBORError();
        token = src[position++];
        break;
      case 25:
        if (position + 2 > srcEnd) throw endOfCBORError();
        token = dataView.getUint16(position), position += 2;
        break;
      case 26:
        if (position + 4 > srcEnd) throw endOfCBORError();
        token = dataView.getUint32(position), position += 4;
        break;
    }
  return token;
}
function loadShared() {
  if (currentDecoder.getShared) {
    let sharedData = saveState(() => (src = null, currentDecoder.getShared())) || {}, updatedStructures = sharedData.structures || [];
    currentDecoder.sharedVersion = sharedData.version, packedValues = currentDecoder.sharedValues = sharedData.packedValues, currentStructures === !0 ? currentDecoder.structures = currentStructures = updatedStructures : currentStructures.splice.apply(currentStructures, [0, updatedStructures.length].concat(updatedStructures));
  }
}
function saveState(callback) {
  let savedFragmentEnd = fragmentEnd, savedFragmentReader = fragmentReadString, savedReadFixedString = readFixedString, savedSrcEnd = srcEnd, savedPosition = position, savedStringPosition = stringPosition, savedSrcStringStart = srcStringStart, savedSrcStringEnd = srcStringEnd, savedSrcString = srcString, savedStrings = strings, savedReferenceMap = referenceMap, savedBundledStrings = bundledStrings, savedPackedValues = packedValues, savedSrc = new Uint8Array(src.slice(0, srcEnd)), savedStructures = currentStructures, savedDecoder = currentDecoder, savedSequentialMode = sequentialMode, savedRestoreMapsAsObject = restoreMapsAsObject, savedArrayAllocationBudget = arrayAllocationBudget;
  fragmentEnd = 0, fragmentReadString && (readFixedString = fragmentReadString), fragmentReadString = null, restoreMapsAsObject = !1;
  try {
    return callback();
  } catch (error) {
    throw error && (typeof error == "object" || typeof error == "function") && nestedDecodeErrors.add(error), error;
  } finally {
    fragmentEnd = savedFragmentEnd, fragmentReadString = savedFragmentReader, readFixedString = savedReadFixedString, srcEnd = savedSrcEnd, position = savedPosition, stringPosition = savedStringPosition, srcStringStart = savedSrcStringStart, srcStringEnd = savedSrcStringEnd, srcString = savedSrcString, strings = savedStrings, referenceMap = savedReferenceMap, bundledStrings = savedBundledStrings, packedValues = savedPackedValues, src = savedSrc, sequentialMode = savedSequentialMode, currentStructures = savedStructures, currentDecoder = savedDecoder, restoreMapsAsObject = savedRestoreMapsAsObject, arrayAllocationBudget = savedArrayAllocationBudget, dataView = new DataView(src.buffer, src.byteOffset, src.byteLength);
  }
}
function clearSource() {
  src = null, referenceMap = null, currentStructures = null;
}
var fragmentEnd = 0, fragmentReadString, builtinScanTags = /* @__PURE__ */ new Map([[LEGACY_RECORD_INLINE_ID, legacyRecordDefinition], [259, currentExtensions[259]]]);
var mult10 = new Array(147);
for (let i = 0; i < 256; i++)
  mult10[i] = +("1e" + Math.floor(45.15 - i * 0.30103));
var defaultDecoder = new Decoder({ useRecords: !1 }), decode = defaultDecoder.decode, decodeMultiple = defaultDecoder.decodeMultiple, FLOAT32_OPTIONS = {
  NEVER: 0,
  ALWAYS: 1,
  DECIMAL_ROUND: 3,
  DECIMAL_FIT: 4
};

// node_modules/.pnpm/cbor-x@1.6.9/node_modules/cbor-x/encode.js
var textEncoder;
try {
  textEncoder = new TextEncoder();
} catch {
}
var extensions, extensionClasses, Buffer2 = typeof globalThis == "object" && globalThis.Buffer, hasNodeBuffer = typeof Buffer2 < "u", ByteArrayAllocate = hasNodeBuffer ? Buffer2.allocUnsafeSlow : Uint8Array, ByteArray = hasNodeBuffer ? Buffer2 : Uint8Array, MAX_STRUCTURES = 256, MAX_BUFFER_SIZE = hasNodeBuffer ? 4294967296 : 2144337920;
var throwOnIterable, target, targetView, position2 = 0, safeEnd, bundledStrings2 = null, MAX_BUNDLE_SIZE = 61440, hasNonLatin = /[\u0080-\uFFFF]/, RECORD_SYMBOL = /* @__PURE__ */ Symbol("record-id"), Encoder = class extends Decoder {
  constructor(options) {
    super(options), this.offset = 0;
    let typeBuffer, start, sharedStructures, hasSharedUpdate, structures, referenceMap2;
    options = options || {};
    let encodeUtf8 = ByteArray.prototype.utf8Write ? function(string, position3) {
      return target.utf8Write(string, position3, target.byteLength - position3);
    } : textEncoder && textEncoder.encodeInto ? function(string, position3) {
      return textEncoder.encodeInto(string, target.subarray(position3)).written;
    } : !1, encoder2 = this, hasSharedStructures = options.structures || options.saveStructures, maxSharedStructures = options.maxSharedStructures;
    if (maxSharedStructures == null && (maxSharedStructures = hasSharedStructures ? 128 : 0), maxSharedStructures > 8190)
      throw new Error("Maximum maxSharedStructure is 8190");
    let isSequential = options.sequential;
    isSequential && (maxSharedStructures = 0), this.structures || (this.structures = []), this.saveStructures && (this.saveShared = this.saveStructures);
    let samplingPackedValues, packedObjectMap2, sharedValues = options.sharedValues, sharedPackedObjectMap2;
    if (sharedValues) {
      sharedPackedObjectMap2 = /* @__PURE__ */ Object.create(null);
      for (let i = 0, l = sharedValues.length; i < l; i++)
        sharedPackedObjectMap2[sharedValues[i]] = i;
    }
    let recordIdsToRemove = [], transitionsCount = 0, serializationsSinceTransitionRebuild = 0;
    this.mapEncode = function(value, encodeOptions) {
      return this._keyMap && !this._mapped && value.constructor.name === "Array" && (value = value.map((r) => this.encodeKeys(r))), this.encode(value, encodeOptions);
    }, this.encode = function(value, encodeOptions) {
      if (target || (target = new ByteArrayAllocate(8192), targetView = new DataView(target.buffer, 0, 8192), position2 = 0), safeEnd = target.length - 10, safeEnd - position2 < 2048 ? (target = new ByteArrayAllocate(target.length), targetView = new DataView(target.buffer, 0, target.length), safeEnd = target.length - 10, position2 = 0) : encodeOptions === REUSE_BUFFER_MODE && (position2 = position2 + 7 & 2147483640), start = position2, encoder2.useSelfDescribedHeader && (targetView.setUint32(position2, 3654940416), position2 += 3), referenceMap2 = encoder2.structuredClone ? /* @__PURE__ */ new Map() : null, encoder2.bundleStrings && typeof value != "string" ? (bundledStrings2 = [], bundledStrings2.size = 1 / 0) : bundledStrings2 = null, sharedStructures = encoder2.structures, sharedStructures) {
        if (sharedStructures.uninitialized) {
          let sharedData = encoder2.getShared() || {};
          encoder2.structures = sharedStructures = sharedData.structures || [], encoder2.sharedVersion = sharedData.version;
          let sharedValues2 = encoder2.sharedValues = sharedData.packedValues;
          if (sharedValues2) {
            sharedPackedObjectMap2 = {};
            for (let i = 0, l = sharedValues2.length; i < l; i++)
              sharedPackedObjectMap2[sharedValues2[i]] = i;
          }
        }
        let sharedStructuresLength = sharedStructures.length;
        if (sharedStructuresLength > maxSharedStructures && !isSequential && (sharedStructuresLength = maxSharedStructures), !sharedStructures.transitions) {
          sharedStructures.transitions = /* @__PURE__ */ Object.create(null);
          for (let i = 0; i < sharedStructuresLength; i++) {
            let keys = sharedStructures[i];
            if (!keys)
              continue;
            let nextTransition, transition = sharedStructures.transitions;
            for (let j = 0, l = keys.length; j < l; j++) {
              transition[RECORD_SYMBOL] === void 0 && (transition[RECORD_SYMBOL] = i);
              let key = keys[j];
              nextTransition = transition[key], nextTransition || (nextTransition = transition[key] = /* @__PURE__ */ Object.create(null)), transition = nextTransition;
            }
            transition[RECORD_SYMBOL] = i | 1048576;
          }
        }
        isSequential || (sharedStructures.nextId = sharedStructuresLength);
      }
      if (hasSharedUpdate && (hasSharedUpdate = !1), structures = sharedStructures || [], packedObjectMap2 = sharedPackedObjectMap2, options.pack) {
        let packedValues2 = /* @__PURE__ */ new Map();
        if (packedValues2.values = [], packedValues2.encoder = encoder2, packedValues2.maxValues = options.maxPrivatePackedValues || (sharedPackedObjectMap2 ? 16 : 1 / 0), packedValues2.objectMap = sharedPackedObjectMap2 || !1, packedValues2.samplingPackedValues = samplingPackedValues, findRepetitiveStrings(value, packedValues2), packedValues2.values.length > 0) {
          target[position2++] = 216, target[position2++] = 51, writeArrayHeader(4);
          let valuesArray = packedValues2.values;
          encode2(valuesArray), writeArrayHeader(0), writeArrayHeader(0), packedObjectMap2 = Object.create(sharedPackedObjectMap2 || null);
          for (let i = 0, l = valuesArray.length; i < l; i++)
            packedObjectMap2[valuesArray[i]] = i;
        }
      }
      throwOnIterable = encodeOptions & THROW_ON_ITERABLE;
      try {
        if (throwOnIterable)
          return;
        if (encode2(value), bundledStrings2 && bundledStrings2.position && writeBundles(start, encode2), encoder2.offset = position2, referenceMap2 && referenceMap2.idsToInsert) {
          position2 += referenceMap2.idsToInsert.length * 2, position2 > safeEnd && makeRoom(position2), encoder2.offset = position2;
          let serialized = insertIds(target.subarray(start, position2), referenceMap2.idsToInsert);
          return referenceMap2 = null, serialized;
        }
        return encodeOptions & REUSE_BUFFER_MODE ? (target.start = start, target.end = position2, target) : target.subarray(start, position2);
      } finally {
        if (sharedStructures) {
          if (serializationsSinceTransitionRebuild < 10 && serializationsSinceTransitionRebuild++, sharedStructures.length > maxSharedStructures && (sharedStructures.length = maxSharedStructures), transitionsCount > 1e4)
            sharedStructures.transitions = null, serializationsSinceTransitionRebuild = 0, transitionsCount = 0, recordIdsToRemove.length > 0 && (recordIdsToRemove = []);
          else if (recordIdsToRemove.length > 0 && !isSequential) {
            for (let i = 0, l = recordIdsToRemove.length; i < l; i++)
              recordIdsToRemove[i][RECORD_SYMBOL] = void 0;
            recordIdsToRemove = [];
          }
        }
        if (hasSharedUpdate && encoder2.saveShared) {
          encoder2.structures.length > maxSharedStructures && (encoder2.structures = encoder2.structures.slice(0, maxSharedStructures));
          let returnBuffer = target.subarray(start, position2);
          return encoder2.updateSharedData() === !1 ? encoder2.encode(value) : returnBuffer;
        }
        encodeOptions & RESET_BUFFER_MODE && (position2 = start);
      }
    }, this.findCommonStringsToPack = () => (samplingPackedValues = /* @__PURE__ */ new Map(), sharedPackedObjectMap2 || (sharedPackedObjectMap2 = /* @__PURE__ */ Object.create(null)), (options2) => {
      let threshold = options2 && options2.threshold || 4, position3 = this.pack ? options2.maxPrivatePackedValues || 16 : 0;
      sharedValues || (sharedValues = this.sharedValues = []);
      for (let [key, status] of samplingPackedValues)
        status.count > threshold && (sharedPackedObjectMap2[key] = position3++, sharedValues.push(key), hasSharedUpdate = !0);
      for (; this.saveShared && this.updateSharedData() === !1; )
        ;
      samplingPackedValues = null;
    });
    let encode2 = (value) => {
      position2 > safeEnd && (target = makeRoom(position2));
      var type = typeof value, length;
      if (type === "string") {
        if (packedObjectMap2) {
          let packedPosition = packedObjectMap2[value];
          if (packedPosition >= 0) {
            packedPosition < 16 ? target[position2++] = packedPosition + 224 : (target[position2++] = 198, packedPosition & 1 ? encode2(15 - packedPosition >> 1) : encode2(packedPosition - 16 >> 1));
            return;
          } else if (samplingPackedValues && !options.pack) {
            let status = samplingPackedValues.get(value);
            status ? status.count++ : samplingPackedValues.set(value, {
              count: 1
            });
          }
        }
        let strLength = value.length;
        if (bundledStrings2 && strLength >= 4 && strLength < 1024) {
          if ((bundledStrings2.size += strLength) > MAX_BUNDLE_SIZE) {
            let extStart, maxBytes2 = (bundledStrings2[0] ? bundledStrings2[0].length * 3 + bundledStrings2[1].length : 0) + 10;
            position2 + maxBytes2 > safeEnd && (target = makeRoom(position2 + maxBytes2)), target[position2++] = 217, target[position2++] = 223, target[position2++] = 249, target[position2++] = bundledStrings2.position ? 132 : 130, target[position2++] = 26, extStart = position2 - start, position2 += 4, bundledStrings2.position && writeBundles(start, encode2), bundledStrings2 = ["", ""], bundledStrings2.size = 0, bundledStrings2.position = extStart;
          }
          let twoByte = hasNonLatin.test(value);
          bundledStrings2[twoByte ? 0 : 1] += value, target[position2++] = twoByte ? 206 : 207, encode2(strLength);
          return;
        }
        let headerSize;
        strLength < 32 ? headerSize = 1 : strLength < 256 ? headerSize = 2 : strLength < 65536 ? headerSize = 3 : headerSize = 5;
        let maxBytes = strLength * 3;
        if (position2 + maxBytes > safeEnd && (target = makeRoom(position2 + maxBytes)), strLength < 64 || !encodeUtf8) {
          let i, c1, c2, strPosition = position2 + headerSize;
          for (i = 0; i < strLength; i++)
            c1 = value.charCodeAt(i), c1 < 128 ? target[strPosition++] = c1 : c1 < 2048 ? (target[strPosition++] = c1 >> 6 | 192, target[strPosition++] = c1 & 63 | 128) : (c1 & 64512) === 55296 && ((c2 = value.charCodeAt(i + 1)) & 64512) === 56320 ? (c1 = 65536 + ((c1 & 1023) << 10) + (c2 & 1023), i++, target[strPosition++] = c1 >> 18 | 240, target[strPosition++] = c1 >> 12 & 63 | 128, target[strPosition++] = c1 >> 6 & 63 | 128, target[strPosition++] = c1 & 63 | 128) : (target[strPosition++] = c1 >> 12 | 224, target[strPosition++] = c1 >> 6 & 63 | 128, target[strPosition++] = c1 & 63 | 128);
          length = strPosition - position2 - headerSize;
        } else
          length = encodeUtf8(value, position2 + headerSize, maxBytes);
        length < 24 ? target[position2++] = 96 | length : length < 256 ? (headerSize < 2 && target.copyWithin(position2 + 2, position2 + 1, position2 + 1 + length), target[position2++] = 120, target[position2++] = length) : length < 65536 ? (headerSize < 3 && target.copyWithin(position2 + 3, position2 + 2, position2 + 2 + length), target[position2++] = 121, target[position2++] = length >> 8, target[position2++] = length & 255) : (headerSize < 5 && target.copyWithin(position2 + 5, position2 + 3, position2 + 3 + length), target[position2++] = 122, targetView.setUint32(position2, length), position2 += 4), position2 += length;
      } else if (type === "number")
        if (!this.alwaysUseFloat && value >>> 0 === value)
          value < 24 ? target[position2++] = value : value < 256 ? (target[position2++] = 24, target[position2++] = value) : value < 65536 ? (target[position2++] = 25, target[position2++] = value >> 8, target[position2++] = value & 255) : (target[position2++] = 26, targetView.setUint32(position2, value), position2 += 4);
        else if (!this.alwaysUseFloat && value >> 0 === value)
          value >= -24 ? target[position2++] = 31 - value : value >= -256 ? (target[position2++] = 56, target[position2++] = ~value) : value >= -65536 ? (target[position2++] = 57, targetView.setUint16(position2, ~value), position2 += 2) : (target[position2++] = 58, targetView.setUint32(position2, ~value), position2 += 4);
        else if (!this.alwaysUseFloat && value < 0 && value >= -4294967296 && Math.floor(value) === value)
          target[position2++] = 58, targetView.setUint32(position2, -1 - value), position2 += 4;
        else {
          let useFloat32;
          if ((useFloat32 = this.useFloat32) > 0 && value < 4294967296 && value >= -2147483648) {
            target[position2++] = 250, targetView.setFloat32(position2, value);
            let xShifted;
            if (useFloat32 < 4 || // this checks for rounding of numbers that were encoded in 32-bit float to nearest significant decimal digit that could be preserved
            (xShifted = value * mult10[(target[position2] & 127) << 1 | target[position2 + 1] >> 7]) >> 0 === xShifted) {
              position2 += 4;
              return;
            } else
              position2--;
          }
          target[position2++] = 251, targetView.setFloat64(position2, value), position2 += 8;
        }
      else if (type === "object")
        if (!value)
          target[position2++] = 246;
        else {
          if (referenceMap2) {
            let referee = referenceMap2.get(value);
            if (referee) {
              if (target[position2++] = 216, target[position2++] = 29, target[position2++] = 25, !referee.references) {
                let idsToInsert = referenceMap2.idsToInsert || (referenceMap2.idsToInsert = []);
                referee.references = [], idsToInsert.push(referee);
              }
              referee.references.push(position2 - start), position2 += 2;
              return;
            } else
              referenceMap2.set(value, { offset: position2 - start });
          }
          let constructor = value.constructor;
          if (constructor === Object)
            this.skipFunction === !0 && (value = Object.fromEntries([...Object.keys(value).filter((x) => typeof value[x] != "function").map((x) => [x, value[x]])])), writeObject(value);
          else if (constructor === Array) {
            length = value.length, length < 24 ? target[position2++] = 128 | length : writeArrayHeader(length);
            for (let i = 0; i < length; i++)
              encode2(value[i]);
          } else if (constructor === Map)
            if ((this.mapsAsObjects ? this.useTag259ForMaps !== !1 : this.useTag259ForMaps) && (target[position2++] = 217, target[position2++] = 1, target[position2++] = 3), length = value.size, length < 24 ? target[position2++] = 160 | length : length < 256 ? (target[position2++] = 184, target[position2++] = length) : length < 65536 ? (target[position2++] = 185, target[position2++] = length >> 8, target[position2++] = length & 255) : (target[position2++] = 186, targetView.setUint32(position2, length), position2 += 4), encoder2.keyMap)
              for (let [key, entryValue] of value)
                encode2(encoder2.encodeKey(key)), encode2(entryValue);
            else
              for (let [key, entryValue] of value)
                encode2(key), encode2(entryValue);
          else {
            for (let i = 0, l = extensions.length; i < l; i++) {
              let extensionClass = extensionClasses[i];
              if (value instanceof extensionClass) {
                let extension = extensions[i], tag = extension.tag;
                tag == null && (tag = extension.getTag && extension.getTag.call(this, value)), tag < 24 ? target[position2++] = 192 | tag : tag < 256 ? (target[position2++] = 216, target[position2++] = tag) : tag < 65536 ? (target[position2++] = 217, target[position2++] = tag >> 8, target[position2++] = tag & 255) : tag > -1 && (target[position2++] = 218, targetView.setUint32(position2, tag), position2 += 4), extension.encode.call(this, value, encode2, makeRoom);
                return;
              }
            }
            if (value[Symbol.iterator]) {
              if (throwOnIterable) {
                let error = new Error("Iterable should be serialized as iterator");
                throw error.iteratorNotHandled = !0, error;
              }
              target[position2++] = 159;
              for (let entry of value)
                encode2(entry);
              target[position2++] = 255;
              return;
            }
            if (value[Symbol.asyncIterator] || isBlob(value)) {
              let error = new Error("Iterable/blob should be serialized as iterator");
              throw error.iteratorNotHandled = !0, error;
            }
            if (this.useToJSON && value.toJSON) {
              let json = value.toJSON();
              if (json !== value)
                return encode2(json);
            }
            if (constructor === DataView) {
              writeBuffer(new Uint8Array(value.buffer, value.byteOffset, value.byteLength), makeRoom);
              return;
            }
            writeObject(value);
          }
        }
      else if (type === "boolean")
        target[position2++] = value ? 245 : 244;
      else if (type === "bigint") {
        if (value < BigInt(1) << BigInt(64) && value >= 0)
          target[position2++] = 27, targetView.setBigUint64(position2, value);
        else if (value > -(BigInt(1) << BigInt(64)) && value < 0)
          target[position2++] = 59, targetView.setBigUint64(position2, -value - BigInt(1));
        else if (this.largeBigIntToFloat)
          target[position2++] = 251, targetView.setFloat64(position2, Number(value));
        else {
          value >= BigInt(0) ? target[position2++] = 194 : (target[position2++] = 195, value = BigInt(-1) - value);
          let bytes = [];
          for (; value; )
            bytes.push(Number(value & BigInt(255))), value >>= BigInt(8);
          writeBuffer(new Uint8Array(bytes.reverse()), makeRoom);
          return;
        }
        position2 += 8;
      } else if (type === "undefined")
        target[position2++] = 247;
      else
        throw new Error("Unknown type: " + type);
    }, writeObject = this.useRecords === !1 ? this.variableMapSize ? (object) => {
      let keys = Object.keys(object), vals = Object.values(object), length = keys.length;
      length < 24 ? target[position2++] = 160 | length : length < 256 ? (target[position2++] = 184, target[position2++] = length) : length < 65536 ? (target[position2++] = 185, target[position2++] = length >> 8, target[position2++] = length & 255) : (target[position2++] = 186, targetView.setUint32(position2, length), position2 += 4);
      let key;
      if (encoder2.keyMap)
        for (let i = 0; i < length; i++)
          encode2(encoder2.encodeKey(keys[i])), encode2(vals[i]);
      else
        for (let i = 0; i < length; i++)
          encode2(keys[i]), encode2(vals[i]);
    } : (object) => {
      target[position2++] = 185;
      let objectOffset = position2 - start;
      position2 += 2;
      let size = 0;
      if (encoder2.keyMap)
        for (let key in object) (typeof object.hasOwnProperty != "function" || object.hasOwnProperty(key)) && (encode2(encoder2.encodeKey(key)), encode2(object[key]), size++);
      else
        for (let key in object) (typeof object.hasOwnProperty != "function" || object.hasOwnProperty(key)) && (encode2(key), encode2(object[key]), size++);
      if (size < 65536)
        target[objectOffset++ + start] = size >> 8, target[objectOffset + start] = size & 255;
      else {
        position2 + 2 > safeEnd && makeRoom(position2 + 2);
        let headerPosition = objectOffset + start;
        target.copyWithin(headerPosition + 4, headerPosition + 2, position2), position2 += 2, target[headerPosition - 1] = 186, targetView.setUint32(headerPosition, size);
      }
    } : (object, skipValues) => {
      let nextTransition, transition = structures.transitions || (structures.transitions = /* @__PURE__ */ Object.create(null)), newTransitions = 0, length = 0, parentRecordId, keys;
      if (this.keyMap) {
        keys = Object.keys(object).map((k) => this.encodeKey(k)), length = keys.length;
        for (let i = 0; i < length; i++) {
          let key = keys[i];
          nextTransition = transition[key], nextTransition || (nextTransition = transition[key] = /* @__PURE__ */ Object.create(null), newTransitions++), transition = nextTransition;
        }
      } else
        for (let key in object) (typeof object.hasOwnProperty != "function" || object.hasOwnProperty(key)) && (nextTransition = transition[key], nextTransition || (transition[RECORD_SYMBOL] & 1048576 && (parentRecordId = transition[RECORD_SYMBOL] & 65535), nextTransition = transition[key] = /* @__PURE__ */ Object.create(null), newTransitions++), transition = nextTransition, length++);
      let recordId = transition[RECORD_SYMBOL];
      if (recordId !== void 0)
        recordId &= 65535, target[position2++] = 217, target[position2++] = recordId >> 8 | 224, target[position2++] = recordId & 255;
      else if (keys || (keys = transition.__keys__ || (transition.__keys__ = Object.keys(object))), parentRecordId === void 0 ? (recordId = structures.nextId++, recordId || (recordId = 0, structures.nextId = 1), recordId >= MAX_STRUCTURES && (structures.nextId = (recordId = maxSharedStructures) + 1)) : recordId = parentRecordId, structures[recordId] = keys, recordId < maxSharedStructures) {
        target[position2++] = 217, target[position2++] = recordId >> 8 | 224, target[position2++] = recordId & 255, transition = structures.transitions;
        for (let i = 0; i < length; i++)
          (transition[RECORD_SYMBOL] === void 0 || transition[RECORD_SYMBOL] & 1048576) && (transition[RECORD_SYMBOL] = recordId), transition = transition[keys[i]];
        transition[RECORD_SYMBOL] = recordId | 1048576, hasSharedUpdate = !0;
      } else {
        if (transition[RECORD_SYMBOL] = recordId, targetView.setUint32(position2, 3655335680), position2 += 3, newTransitions && (transitionsCount += serializationsSinceTransitionRebuild * newTransitions), recordIdsToRemove.length >= MAX_STRUCTURES - maxSharedStructures && (recordIdsToRemove.shift()[RECORD_SYMBOL] = void 0), recordIdsToRemove.push(transition), writeArrayHeader(length + 2), encode2(57344 + recordId), encode2(keys), skipValues) return;
        for (let key in object)
          (typeof object.hasOwnProperty != "function" || object.hasOwnProperty(key)) && encode2(object[key]);
        return;
      }
      if (length < 24 ? target[position2++] = 128 | length : writeArrayHeader(length), !skipValues)
        for (let key in object)
          (typeof object.hasOwnProperty != "function" || object.hasOwnProperty(key)) && encode2(object[key]);
    }, makeRoom = (end) => {
      let newSize;
      if (end > 16777216) {
        if (end - start > MAX_BUFFER_SIZE)
          throw new Error("Encoded buffer would be larger than maximum buffer size");
        newSize = Math.min(
          MAX_BUFFER_SIZE,
          Math.round(Math.max((end - start) * (end > 67108864 ? 1.25 : 2), 4194304) / 4096) * 4096
        );
      } else
        newSize = (Math.max(end - start << 2, target.length - 1) >> 12) + 1 << 12;
      let newBuffer = new ByteArrayAllocate(newSize);
      return targetView = new DataView(newBuffer.buffer, 0, newSize), target.copy ? target.copy(newBuffer, 0, start, end) : newBuffer.set(target.slice(start, end)), position2 -= start, start = 0, safeEnd = newBuffer.length - 10, target = newBuffer;
    }, chunkThreshold = 100, continuedChunkThreshold = 1e3;
    this.encodeAsIterable = function(value, options2) {
      return startEncoding(value, options2, encodeObjectAsIterable);
    }, this.encodeAsAsyncIterable = function(value, options2) {
      return startEncoding(value, options2, encodeObjectAsAsyncIterable);
    };
    function* encodeObjectAsIterable(object, iterateProperties, finalIterable) {
      let constructor = object.constructor;
      if (constructor === Object) {
        let useRecords = encoder2.useRecords !== !1;
        useRecords ? writeObject(object, !0) : writeEntityLength(Object.keys(object).length, 160);
        for (let key in object) {
          let value = object[key];
          useRecords || encode2(key), value && typeof value == "object" ? iterateProperties[key] ? yield* encodeObjectAsIterable(value, iterateProperties[key]) : yield* tryEncode(value, iterateProperties, key) : encode2(value);
        }
      } else if (constructor === Array) {
        let length = object.length;
        writeArrayHeader(length);
        for (let i = 0; i < length; i++) {
          let value = object[i];
          value && (typeof value == "object" || position2 - start > chunkThreshold) ? iterateProperties.element ? yield* encodeObjectAsIterable(value, iterateProperties.element) : yield* tryEncode(value, iterateProperties, "element") : encode2(value);
        }
      } else if (object[Symbol.iterator] && !object.buffer) {
        target[position2++] = 159;
        for (let value of object)
          value && (typeof value == "object" || position2 - start > chunkThreshold) ? iterateProperties.element ? yield* encodeObjectAsIterable(value, iterateProperties.element) : yield* tryEncode(value, iterateProperties, "element") : encode2(value);
        target[position2++] = 255;
      } else isBlob(object) ? (writeEntityLength(object.size, 64), yield target.subarray(start, position2), yield object, restartEncoding()) : object[Symbol.asyncIterator] ? (target[position2++] = 159, yield target.subarray(start, position2), yield object, restartEncoding(), target[position2++] = 255) : encode2(object);
      finalIterable && position2 > start ? yield target.subarray(start, position2) : position2 - start > chunkThreshold && (yield target.subarray(start, position2), restartEncoding());
    }
    function* tryEncode(value, iterateProperties, key) {
      let restart = position2 - start;
      try {
        encode2(value), position2 - start > chunkThreshold && (yield target.subarray(start, position2), restartEncoding());
      } catch (error) {
        if (error.iteratorNotHandled)
          iterateProperties[key] = {}, position2 = start + restart, yield* encodeObjectAsIterable.call(this, value, iterateProperties[key]);
        else throw error;
      }
    }
    function restartEncoding() {
      chunkThreshold = continuedChunkThreshold, encoder2.encode(null, THROW_ON_ITERABLE);
    }
    function startEncoding(value, options2, encodeIterable) {
      return options2 && options2.chunkThreshold ? chunkThreshold = continuedChunkThreshold = options2.chunkThreshold : chunkThreshold = 100, value && typeof value == "object" ? (encoder2.encode(null, THROW_ON_ITERABLE), encodeIterable(value, encoder2.iterateProperties || (encoder2.iterateProperties = {}), !0)) : [encoder2.encode(value)];
    }
    async function* encodeObjectAsAsyncIterable(value, iterateProperties) {
      for (let encodedValue of encodeObjectAsIterable(value, iterateProperties, !0)) {
        let constructor = encodedValue.constructor;
        if (constructor === ByteArray || constructor === Uint8Array)
          yield encodedValue;
        else if (isBlob(encodedValue)) {
          let reader = encodedValue.stream().getReader(), next;
          for (; !(next = await reader.read()).done; )
            yield next.value;
        } else if (encodedValue[Symbol.asyncIterator])
          for await (let asyncValue of encodedValue)
            restartEncoding(), asyncValue ? yield* encodeObjectAsAsyncIterable(asyncValue, iterateProperties.async || (iterateProperties.async = {})) : yield encoder2.encode(asyncValue);
        else
          yield encodedValue;
      }
    }
  }
  useBuffer(buffer) {
    target = buffer, targetView = new DataView(target.buffer, target.byteOffset, target.byteLength), position2 = 0;
  }
  clearSharedData() {
    this.structures && (this.structures = []), this.sharedValues && (this.sharedValues = void 0);
  }
  updateSharedData() {
    let lastVersion = this.sharedVersion || 0;
    this.sharedVersion = lastVersion + 1;
    let structuresCopy = this.structures.slice(0), sharedData = new SharedData(structuresCopy, this.sharedValues, this.sharedVersion), saveResults = this.saveShared(
      sharedData,
      (existingShared) => (existingShared && existingShared.version || 0) == lastVersion
    );
    return saveResults === !1 ? (sharedData = this.getShared() || {}, this.structures = sharedData.structures || [], this.sharedValues = sharedData.packedValues, this.sharedVersion = sharedData.version, this.structures.nextId = this.structures.length) : structuresCopy.forEach((structure, i) => this.structures[i] = structure), saveResults;
  }
};
function writeEntityLength(length, majorValue) {
  length < 24 ? target[position2++] = majorValue | length : length < 256 ? (target[position2++] = majorValue | 24, target[position2++] = length) : length < 65536 ? (target[position2++] = majorValue | 25, target[position2++] = length >> 8, target[position2++] = length & 255) : (target[position2++] = majorValue | 26, targetView.setUint32(position2, length), position2 += 4);
}
var SharedData = class {
  constructor(structures, values, version) {
    this.structures = structures, this.packedValues = values, this.version = version;
  }
};
function writeArrayHeader(length) {
  length < 24 ? target[position2++] = 128 | length : length < 256 ? (target[position2++] = 152, target[position2++] = length) : length < 65536 ? (target[position2++] = 153, target[position2++] = length >> 8, target[position2++] = length & 255) : (target[position2++] = 154, targetView.setUint32(position2, length), position2 += 4);
}
var BlobConstructor = typeof Blob > "u" ? function() {
} : Blob;
function isBlob(object) {
  if (object instanceof BlobConstructor)
    return !0;
  let tag = object[Symbol.toStringTag];
  return tag === "Blob" || tag === "File";
}
function findRepetitiveStrings(value, packedValues2) {
  switch (typeof value) {
    case "string":
      if (value.length > 3) {
        if (packedValues2.objectMap[value] > -1 || packedValues2.values.length >= packedValues2.maxValues)
          return;
        let packedStatus = packedValues2.get(value);
        if (packedStatus)
          ++packedStatus.count == 2 && packedValues2.values.push(value);
        else if (packedValues2.set(value, {
          count: 1
        }), packedValues2.samplingPackedValues) {
          let status = packedValues2.samplingPackedValues.get(value);
          status ? status.count++ : packedValues2.samplingPackedValues.set(value, {
            count: 1
          });
        }
      }
      break;
    case "object":
      if (value)
        if (value instanceof Array)
          for (let i = 0, l = value.length; i < l; i++)
            findRepetitiveStrings(value[i], packedValues2);
        else {
          let includeKeys = !packedValues2.encoder.useRecords;
          for (var key in value)
            value.hasOwnProperty(key) && (includeKeys && findRepetitiveStrings(key, packedValues2), findRepetitiveStrings(value[key], packedValues2));
        }
      break;
    case "function":
      console.log(value);
  }
}
var isLittleEndianMachine2 = new Uint8Array(new Uint16Array([1]).buffer)[0] == 1;
extensionClasses = [
  Date,
  Set,
  Error,
  RegExp,
  Tag,
  ArrayBuffer,
  Uint8Array,
  Uint8ClampedArray,
  Uint16Array,
  Uint32Array,
  typeof BigUint64Array > "u" ? function() {
  } : BigUint64Array,
  Int8Array,
  Int16Array,
  Int32Array,
  typeof BigInt64Array > "u" ? function() {
  } : BigInt64Array,
  Float32Array,
  Float64Array,
  SharedData
];
extensions = [
  {
    // Date
    tag: 1,
    encode(date, encode2) {
      let seconds = date.getTime() / 1e3;
      (this.useTimestamp32 || date.getMilliseconds() === 0) && seconds >= 0 && seconds < 4294967296 ? (target[position2++] = 26, targetView.setUint32(position2, seconds), position2 += 4) : (target[position2++] = 251, targetView.setFloat64(position2, seconds), position2 += 8);
    }
  },
  {
    // Set
    tag: 258,
    // https://github.com/input-output-hk/cbor-sets-spec/blob/master/CBOR_SETS.md
    encode(set, encode2) {
      let array = Array.from(set);
      encode2(array);
    }
  },
  {
    // Error
    tag: 27,
    // http://cbor.schmorp.de/generic-object
    encode(error, encode2) {
      encode2([error.name, error.message]);
    }
  },
  {
    // RegExp
    tag: 27,
    // http://cbor.schmorp.de/generic-object
    encode(regex, encode2) {
      encode2(["RegExp", regex.source, regex.flags]);
    }
  },
  {
    // Tag
    getTag(tag) {
      return tag.tag;
    },
    encode(tag, encode2) {
      encode2(tag.value);
    }
  },
  {
    // ArrayBuffer
    encode(arrayBuffer, encode2, makeRoom) {
      writeBuffer(arrayBuffer, makeRoom);
    }
  },
  {
    // Uint8Array
    getTag(typedArray) {
      if (typedArray.constructor === Uint8Array && (this.tagUint8Array || hasNodeBuffer && this.tagUint8Array !== !1))
        return 64;
    },
    encode(typedArray, encode2, makeRoom) {
      writeBuffer(typedArray, makeRoom);
    }
  },
  typedArrayEncoder(68, 1),
  typedArrayEncoder(69, 2),
  typedArrayEncoder(70, 4),
  typedArrayEncoder(71, 8),
  typedArrayEncoder(72, 1),
  typedArrayEncoder(77, 2),
  typedArrayEncoder(78, 4),
  typedArrayEncoder(79, 8),
  typedArrayEncoder(85, 4),
  typedArrayEncoder(86, 8),
  {
    encode(sharedData, encode2) {
      let packedValues2 = sharedData.packedValues || [], sharedStructures = sharedData.structures || [];
      if (packedValues2.values.length > 0) {
        target[position2++] = 216, target[position2++] = 51, writeArrayHeader(4);
        let valuesArray = packedValues2.values;
        encode2(valuesArray), writeArrayHeader(0), writeArrayHeader(0), packedObjectMap = Object.create(sharedPackedObjectMap || null);
        for (let i = 0, l = valuesArray.length; i < l; i++)
          packedObjectMap[valuesArray[i]] = i;
      }
      if (sharedStructures) {
        targetView.setUint32(position2, 3655335424), position2 += 3;
        let definitions = sharedStructures.slice(0);
        definitions.unshift(57344), definitions.push(new Tag(sharedData.version, 1399353956)), encode2(definitions);
      } else
        encode2(new Tag(sharedData.version, 1399353956));
    }
  }
];
function typedArrayEncoder(tag, size) {
  return !isLittleEndianMachine2 && size > 1 && (tag -= 4), {
    tag,
    encode: function(typedArray, encode2) {
      let length = typedArray.byteLength, offset = typedArray.byteOffset || 0, buffer = typedArray.buffer || typedArray;
      encode2(hasNodeBuffer ? Buffer2.from(buffer, offset, length) : new Uint8Array(buffer, offset, length));
    }
  };
}
function writeBuffer(buffer, makeRoom) {
  let length = buffer.byteLength;
  length < 24 ? target[position2++] = 64 + length : length < 256 ? (target[position2++] = 88, target[position2++] = length) : length < 65536 ? (target[position2++] = 89, target[position2++] = length >> 8, target[position2++] = length & 255) : (target[position2++] = 90, targetView.setUint32(position2, length), position2 += 4), position2 + length >= target.length && makeRoom(position2 + length), target.set(buffer.buffer ? buffer : new Uint8Array(buffer), position2), position2 += length;
}
function insertIds(serialized, idsToInsert) {
  let nextId, distanceToMove = idsToInsert.length * 2, lastEnd = serialized.length - distanceToMove;
  idsToInsert.sort((a, b) => a.offset > b.offset ? 1 : -1);
  for (let id = 0; id < idsToInsert.length; id++) {
    let referee = idsToInsert[id];
    referee.id = id;
    for (let position3 of referee.references)
      serialized[position3++] = id >> 8, serialized[position3] = id & 255;
  }
  for (; nextId = idsToInsert.pop(); ) {
    let offset = nextId.offset;
    serialized.copyWithin(offset + distanceToMove, offset, lastEnd), distanceToMove -= 2;
    let position3 = offset + distanceToMove;
    serialized[position3++] = 216, serialized[position3++] = 28, lastEnd = offset;
  }
  return serialized;
}
function writeBundles(start, encode2) {
  targetView.setUint32(bundledStrings2.position + start, position2 - bundledStrings2.position - start + 1);
  let writeStrings = bundledStrings2;
  bundledStrings2 = null, encode2(writeStrings[0]), encode2(writeStrings[1]);
}
var defaultEncoder = new Encoder({ useRecords: !1 }), encode = defaultEncoder.encode, encodeAsIterable = defaultEncoder.encodeAsIterable, encodeAsAsyncIterable = defaultEncoder.encodeAsAsyncIterable, { NEVER, ALWAYS, DECIMAL_ROUND, DECIMAL_FIT } = FLOAT32_OPTIONS, REUSE_BUFFER_MODE = 512, RESET_BUFFER_MODE = 1024, THROW_ON_ITERABLE = 2048;

// node_modules/.pnpm/cbor-x@1.6.9/node_modules/cbor-x/node-index.js
import { createRequire as createRequire2 } from "module";
var nativeAccelerationDisabled = process.env.CBOR_NATIVE_ACCELERATION_DISABLED !== void 0 && process.env.CBOR_NATIVE_ACCELERATION_DISABLED.toLowerCase() === "true";
if (!nativeAccelerationDisabled) {
  let extractor;
  try {
    typeof __require == "function" ? extractor = __require("cbor-extract") : extractor = createRequire2(import.meta.url)("cbor-extract"), extractor && setExtractor(extractor.extractStrings);
  } catch {
  }
}

// runtime/pipeline/tree.ts
var MAX_SNAPSHOT_CONFIG_BYTES = 1024 * 1024;
var MAX_METADATA_BYTES = 512 * 1024 * 1024, cbor = new Encoder({ useRecords: !1, mapsAsObjects: !1, tagUint8Array: !1 });
var NO_LINK = Buffer.alloc(0);

// runtime/pipeline/scan.ts
var SLASH = Buffer.from("/");
function showPath(path) {
  return JSON.stringify(path.toString("utf8")).slice(1, -1);
}

// runtime/pipeline/restore-land.ts
var HOLE_BLOCK_BYTES = 4096, ZEROS2 = Buffer.alloc(4 * 1024 * 1024 + 64);
function tempBeside(dest) {
  return Buffer.concat([dest, Buffer.from(`.pb-tmp-${randomBytes(6).toString("hex")}`)]);
}
function dataRuns(plain, position3) {
  let runs = [], from = 0;
  for (; from < plain.length; ) {
    let to = Math.min(plain.length, from + HOLE_BLOCK_BYTES - (position3 + from) % HOLE_BLOCK_BYTES);
    if (!plain.subarray(from, to).equals(ZEROS2.subarray(0, to - from))) {
      let last = runs.at(-1);
      last !== void 0 && last[1] === from ? last[1] = to : runs.push([from, to]);
    }
    from = to;
  }
  return runs;
}
function mtimeSeconds(meta) {
  return meta.mtimeSec + meta.mtimeNsec / 1e9;
}
var isRoot = () => process.getuid?.() === 0;
function landSmallFile(dest, body, meta) {
  let temp = tempBeside(dest), fd = -1, step = "create";
  try {
    fd = fs2.openSync(temp, "wx", 384);
    let runs = dataRuns(body, 0), whole = runs.length === 1 && runs[0][0] === 0 && runs[0][1] === body.length;
    step = "write", !whole && body.length > 0 && fs2.ftruncateSync(fd, body.length);
    for (let [from, to] of runs)
      for (let done = from; done < to; ) done += fs2.writeSync(fd, body, done, to - done, done);
    step = "set the metadata of", isRoot() && tryOwner(() => fs2.fchownSync(fd, meta.uid, meta.gid)), fs2.fchmodSync(fd, meta.mode & 4095), fs2.futimesSync(fd, mtimeSeconds(meta), mtimeSeconds(meta)), step = "close", fs2.closeSync(fd), fd = -1, step = "rename into place", fs2.renameSync(temp, dest);
  } catch (error) {
    throw fd >= 0 && fs2.closeSync(fd), fs2.rmSync(temp, { force: !0 }), new Error(`cannot ${step} ${showPath(temp)}: ${error.message}`);
  }
}
function tryOwner(change) {
  try {
    change();
  } catch {
  }
}
function openAndLand(keys, area, o) {
  let plain;
  try {
    if (o.offset + o.sealedBytes > area.length) throw new Error("object lies outside its stripe");
    plain = openObject(
      keys.dataKey,
      keys.chunkIdKey,
      o.id,
      area.subarray(o.offset, o.offset + o.sealedBytes),
      o.codec
    );
  } catch (error) {
    return { error: error.message };
  }
  let landed = (o.land ?? []).map((l) => {
    try {
      return landSmallFile(Buffer.from(l.dest.buffer, l.dest.byteOffset, l.dest.byteLength), plain, l.meta), null;
    } catch (error) {
      return error.message;
    }
  });
  return { plain: o.keepPlain ? plain : null, landed };
}

// runtime/pipeline/chunk-worker-main.ts
var port = parentPort;
if (!port) throw new Error("chunk-worker-main runs only as a worker thread");
var MAX_UNACKED_BATCHES = 2, unacked = 0, waitingAck = null;
function whenUnackedBelow(limit) {
  return unacked < limit ? Promise.resolve() : new Promise((resolve) => {
    waitingAck = () => {
      unacked < limit && (waitingAck = null, resolve());
    };
  });
}
port.on(
  "message",
  (msg) => {
    if (msg.type === "ack") {
      unacked--, waitingAck?.();
      return;
    }
    if (msg.type === "open") {
      openAll(msg);
      return;
    }
    if (msg.type === "smallFiles") {
      sealSmallFiles(msg);
      return;
    }
    if (msg.type !== "file" || !msg.path || !msg.keys) return;
    let { jobId, path, keys } = msg;
    readAndSealFile(path, keys, async (chunks) => {
      let transfer = /* @__PURE__ */ new Set();
      for (let c of chunks)
        for (let part of c.parts) {
          let ab = part.buffer;
          part.byteOffset === 0 && part.byteLength === ab.byteLength && transfer.add(ab);
        }
      unacked++, port.postMessage({ type: "chunks", jobId, chunks }, [...transfer]), await whenUnackedBelow(MAX_UNACKED_BATCHES);
    }, void 0, () => whenUnackedBelow(1)).then((result) => port.postMessage({ type: "done", jobId, result })).catch(
      (error) => port.postMessage({
        type: "error",
        jobId,
        code: error.code ?? "EIO",
        message: String(error.message ?? error)
      })
    );
  }
);
function openAll(req) {
  let transfer = [], results = req.objects.map((o) => {
    let r = openAndLand(req.keys, req.area, o);
    if ("error" in r || r.plain === null) return r;
    let p = r.plain, owned = p.byteOffset === 0 && p.byteLength === p.buffer.byteLength ? p : new Uint8Array(p);
    return transfer.push(owned.buffer), { plain: owned, landed: r.landed };
  }), area = req.area;
  area.byteOffset === 0 && area.byteLength === area.buffer.byteLength && transfer.push(area.buffer), port.postMessage({ type: "opened", jobId: req.jobId, results, area }, transfer);
}
function sealSmallFiles(req) {
  let files = req.paths.map((path) => readAndSealSmallFile(path, req.keys)), transfer = /* @__PURE__ */ new Set();
  for (let f of files)
    if ("chunks" in f)
      for (let c of f.chunks)
        for (let part of c.parts) {
          let ab = part.buffer;
          part.byteOffset === 0 && part.byteLength === ab.byteLength && transfer.add(ab);
        }
  port.postMessage({ type: "smallDone", jobId: req.jobId, files }, [...transfer]);
}
export {
  MAX_UNACKED_BATCHES
};
