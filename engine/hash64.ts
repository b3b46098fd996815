/**
 * pb-hash64 v1: the fixed 64-bit hash behind placement (specified in docs/placement.md).
 *
 *   hash64(text):  the UTF-8 bytes of `text` (length L), read as little-endian 32-bit words
 *                  (the last one zero-padded), absorbed into two 32-bit lanes seeded with
 *                  0x9747b28c ^ L and 0x5bd1e995 ^ L:
 *                    h1 = rotl32(h1 ^ (rotl32(w * 0xcc9e2d51, 15) * 0x1b873593), 13) * 5 + 0xe6546b64
 *                    h2 = rotl32(h2 ^ (rotl32(w * 0x85ebca6b, 17) * 0xc2b2ae35), 11) * 5 + 0x561ccd1b
 *                  (all mod 2^32), then fmix64(h1 << 32 | h2).
 *   stripeKey      = hash64(stripeId)
 *   memberKey      = fmix64(hash64(memberId))
 *   score64        = fmix64(stripeKey XOR memberKey)
 *   u              = ((score64 >>> 11) + 0.5) / 2^53        (uniform in the open interval (0, 1))
 *
 * fmix64 is MurmurHash3's 64-bit finaliser (constants 0xff51afd7ed558ccd, 0xc4ceb9fe1a85ec53).
 * Everything runs on unsigned 32-bit halves so that no BigInt is needed on the hot path. Changing
 * any of this moves stored data: golden vectors in test/engine pin it.
 */

/** A 64-bit value as two unsigned 32-bit halves. */
export interface U64 {
  hi: number;
  lo: number;
}

const encoder = new TextEncoder();

const rotl32 = (x: number, r: number): number => (x << r) | (x >>> (32 - r));

/**
 * The last hashed or mixed 64-bit value, as two 32-bit halves ([0] high, [1] low, as int32): the
 * hot paths below return their result here instead of allocating a U64 per call (callers copy it
 * out right away). A typed array, not two module variables: storing a uint32 above 2^30 into a
 * variable boxes it as a heap number, one allocation per store.
 */
const out = new Int32Array(2);

/** pb-hash64 v1 of the UTF-8 bytes of `text`. */
export function hash64(text: string): U64 {
  hash64Halves(text);
  return { hi: out[0]! >>> 0, lo: out[1]! >>> 0 };
}

/**
 * hash64 into `out` (read it before the next call).
 * Full 4-char blocks first, then a tail of 1-3 chars: the same words as the zero-padded spec.
 */
function hash64Halves(text: string): void {
  const len = text.length;
  let h1 = 0x9747b28c ^ len;
  let h2 = 0x5bd1e995 ^ len;
  let seen = 0;
  const full = len & ~3;
  let i = 0;
  for (; i < full; i += 4) {
    const c0 = text.charCodeAt(i);
    const c1 = text.charCodeAt(i + 1);
    const c2 = text.charCodeAt(i + 2);
    const c3 = text.charCodeAt(i + 3);
    seen |= c0 | c1 | c2 | c3;
    const w = c0 | (c1 << 8) | (c2 << 16) | (c3 << 24);
    h1 =
      (Math.imul(rotl32(h1 ^ Math.imul(rotl32(Math.imul(w, 0xcc9e2d51), 15), 0x1b873593), 13), 5) +
        0xe6546b64) |
      0;
    h2 =
      (Math.imul(rotl32(h2 ^ Math.imul(rotl32(Math.imul(w, 0x85ebca6b), 17), 0xc2b2ae35), 11), 5) +
        0x561ccd1b) |
      0;
  }
  if (i < len) {
    const c0 = text.charCodeAt(i);
    const c1 = i + 1 < len ? text.charCodeAt(i + 1) : 0;
    const c2 = i + 2 < len ? text.charCodeAt(i + 2) : 0;
    seen |= c0 | c1 | c2;
    const w = c0 | (c1 << 8) | (c2 << 16);
    h1 =
      (Math.imul(rotl32(h1 ^ Math.imul(rotl32(Math.imul(w, 0xcc9e2d51), 15), 0x1b873593), 13), 5) +
        0xe6546b64) |
      0;
    h2 =
      (Math.imul(rotl32(h2 ^ Math.imul(rotl32(Math.imul(w, 0x85ebca6b), 17), 0xc2b2ae35), 11), 5) +
        0x561ccd1b) |
      0;
  }
  // Not ASCII: the code units are not the UTF-8 bytes, so hash the encoded bytes instead.
  if (seen > 0x7f) hash64Bytes(encoder.encode(text));
  else fmix64Halves(h1, h2);
}

function hash64Bytes(bytes: Uint8Array): void {
  const len = bytes.length;
  let h1 = (0x9747b28c ^ len) | 0;
  let h2 = (0x5bd1e995 ^ len) | 0;
  for (let i = 0; i < len; i += 4) {
    const w =
      bytes[i]! | ((bytes[i + 1] ?? 0) << 8) | ((bytes[i + 2] ?? 0) << 16) | ((bytes[i + 3] ?? 0) << 24);
    h1 =
      (Math.imul(rotl32(h1 ^ Math.imul(rotl32(Math.imul(w, 0xcc9e2d51), 15), 0x1b873593), 13), 5) +
        0xe6546b64) |
      0;
    h2 =
      (Math.imul(rotl32(h2 ^ Math.imul(rotl32(Math.imul(w, 0x85ebca6b), 17), 0xc2b2ae35), 11), 5) +
        0x561ccd1b) |
      0;
  }
  fmix64Halves(h1, h2);
}

const C1_HI = 0xff51afd7;
const C1_LO = 0xed558ccd;
const C2_HI = 0xc4ceb9fe;
const C2_LO = 0x1a85ec53;
const INV_2_16 = 1 / 65536;

/*
 * 64-bit multiply mod 2^64 on 32-bit halves: (hi, lo) * (cHi, cLo) =
 *   lo' = lo * cLo mod 2^32                                   (Math.imul)
 *   hi' = mulhi32(lo, cLo) + hi * cLo + lo * cHi mod 2^32
 * where mulhi32(lo, cLo), the high half of the 64-bit product, is computed exactly in doubles from
 * the 16-bit halves of the constant: lo * cLoHigh16 and lo * cLoLow16 are < 2^48, so
 *   mulhi32 = floor((lo * cLoHigh16 + floor(lo * cLoLow16 / 2^16)) / 2^16)
 * never rounds (every intermediate is an integer below 2^53, and / 2^16 is exact).
 */

/** fmix64 of (hi, lo) into `out`. */
function fmix64Halves(hi: number, lo: number): void {
  lo ^= hi >>> 1;
  let u = lo >>> 0;
  let mh = Math.floor((u * 0xed55 + Math.floor(u * 0x8ccd * INV_2_16)) * INV_2_16);
  hi = (mh + Math.imul(hi, C1_LO) + Math.imul(lo, C1_HI)) | 0;
  lo = Math.imul(lo, C1_LO) ^ (hi >>> 1);
  u = lo >>> 0;
  mh = Math.floor((u * 0x1a85 + Math.floor(u * 0xec53 * INV_2_16)) * INV_2_16);
  hi = (mh + Math.imul(hi, C2_LO) + Math.imul(lo, C2_HI)) | 0;
  lo = Math.imul(lo, C2_LO) ^ (hi >>> 1);
  out[0] = hi;
  out[1] = lo;
}

/** MurmurHash3 fmix64, in place on `x`: k ^= k >>> 33; k *= C1; k ^= k >>> 33; k *= C2; k ^= k >>> 33. */
export function fmix64(x: U64): U64 {
  fmix64Halves(x.hi | 0, x.lo | 0);
  x.hi = out[0]! >>> 0;
  x.lo = out[1]! >>> 0;
  return x;
}

export function memberKey(memberId: string): U64 {
  hash64Halves(memberId);
  return fmix64({ hi: out[0]! >>> 0, lo: out[1]! >>> 0 });
}

export function stripeKey(stripeId: string): U64 {
  return hash64(stripeId);
}

/**
 * stripeKey without an allocation, for the placement hot path: writes the key's halves, as int32,
 * to `into[0]` (high) and `into[1]` (low).
 */
export function stripeKeyInto(stripeId: string, into: Int32Array): void {
  hash64Halves(stripeId);
  into[0] = out[0]!;
  into[1] = out[1]!;
}

const TWO_POW_21 = 2 ** 21;
/** 2^-53: multiplying by it is exact, the same as dividing by 2^53, and faster. */
const INV_2_53 = 2 ** -53;

const pairKeyHi = new Int32Array(1);
const pairKeyLo = new Int32Array(1);
const pairOut = new Float64Array(1);

/** u in (0, 1) for a (stripe, member) pair, from precomputed keys: fmix64(stripe XOR member), top 53 bits. */
export function pairUniform(stripe: U64, member: U64): number {
  pairKeyHi[0] = member.hi;
  pairKeyLo[0] = member.lo;
  pairUniformsInto(stripe.hi | 0, stripe.lo | 0, pairKeyHi, pairKeyLo, pairOut, 1);
  return pairOut[0]!;
}

/**
 * pairUniform of one stripe key (its int32 halves) with the first `count` member keys, into
 * `scores[0..count)`: the placement hot path. fmix64 is inlined on int32 values (see
 * fmix64Halves) and the results go to a typed array, so nothing is allocated: a double returned
 * from a call that is not inlined is boxed, one heap number per pair. The copy of fmix64Halves'
 * lines is deliberate: calling it here measured 5-15% slower per placement (it is not always
 * inlined into the placement loop); the golden vectors pin both copies to the spec.
 */
export function pairUniformsInto(
  sHi: number,
  sLo: number,
  keyHi: Int32Array,
  keyLo: Int32Array,
  scores: Float64Array,
  count: number,
): void {
  for (let i = 0; i < count; i++) {
    let hi = sHi ^ keyHi[i]!;
    let lo = sLo ^ keyLo[i]! ^ (hi >>> 1);
    let u = lo >>> 0;
    let mh = Math.floor((u * 0xed55 + Math.floor(u * 0x8ccd * INV_2_16)) * INV_2_16);
    hi = (mh + Math.imul(hi, C1_LO) + Math.imul(lo, C1_HI)) | 0;
    lo = Math.imul(lo, C1_LO) ^ (hi >>> 1);
    u = lo >>> 0;
    mh = Math.floor((u * 0x1a85 + Math.floor(u * 0xec53 * INV_2_16)) * INV_2_16);
    hi = (mh + Math.imul(hi, C2_LO) + Math.imul(lo, C2_HI)) | 0;
    lo = Math.imul(lo, C2_LO) ^ (hi >>> 1);
    scores[i] = ((hi >>> 0) * TWO_POW_21 + (lo >>> 11) + 0.5) * INV_2_53;
  }
}

/** The full 64-bit score as a lowercase hex string (for documentation and golden vectors). */
export function pairScoreHex(stripeId: string, memberId: string): string {
  const s = stripeKey(stripeId);
  const m = memberKey(memberId);
  const x = fmix64({ hi: (s.hi ^ m.hi) >>> 0, lo: (s.lo ^ m.lo) >>> 0 });
  return x.hi.toString(16).padStart(8, '0') + x.lo.toString(16).padStart(8, '0');
}
