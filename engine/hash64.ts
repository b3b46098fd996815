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

/** pb-hash64 v1 of the UTF-8 bytes of `text`. */
export function hash64(text: string): U64 {
  const len = text.length;
  let h1 = (0x9747b28c ^ len) | 0;
  let h2 = (0x5bd1e995 ^ len) | 0;
  let seen = 0;
  for (let i = 0; i < len; i += 4) {
    const c0 = text.charCodeAt(i);
    const c1 = i + 1 < len ? text.charCodeAt(i + 1) : 0;
    const c2 = i + 2 < len ? text.charCodeAt(i + 2) : 0;
    const c3 = i + 3 < len ? text.charCodeAt(i + 3) : 0;
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
  // Not ASCII: the code units are not the UTF-8 bytes, so hash the encoded bytes instead.
  if (seen > 0x7f) return hash64Bytes(encoder.encode(text));
  return fmix64({ hi: h1 >>> 0, lo: h2 >>> 0 });
}

function hash64Bytes(bytes: Uint8Array): U64 {
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
  return fmix64({ hi: h1 >>> 0, lo: h2 >>> 0 });
}

const C1_HI = 0xff51afd7;
const C1_LO = 0xed558ccd;
const C2_HI = 0xc4ceb9fe;
const C2_LO = 0x1a85ec53;

/**
 * (hi, lo) * (cHi, cLo) mod 2^64 for unsigned 32-bit halves, high half returned and the low half
 * left in `mulLo`: the low 32x32 product is split into 16-bit limbs so every step is exact.
 */
let mulLo = 0;
function mul64Hi(hi: number, lo: number, cHi: number, cLo: number): number {
  const a0 = lo & 0xffff;
  const a1 = lo >>> 16;
  const b0 = cLo & 0xffff;
  const b1 = cLo >>> 16;
  const p00 = a0 * b0;
  const p01 = a0 * b1;
  const p10 = a1 * b0;
  const p11 = a1 * b1;
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  mulLo = (((mid & 0xffff) << 16) | (p00 & 0xffff)) >>> 0;
  return (p11 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16) + Math.imul(hi, cLo) + Math.imul(lo, cHi)) >>> 0;
}

/** MurmurHash3 fmix64, in place on `x`: k ^= k >>> 33; k *= C1; k ^= k >>> 33; k *= C2; k ^= k >>> 33. */
export function fmix64(x: U64): U64 {
  let hi = x.hi >>> 0;
  let lo = (x.lo ^ (hi >>> 1)) >>> 0;
  hi = mul64Hi(hi, lo, C1_HI, C1_LO);
  lo = (mulLo ^ (hi >>> 1)) >>> 0;
  hi = mul64Hi(hi, lo, C2_HI, C2_LO);
  lo = (mulLo ^ (hi >>> 1)) >>> 0;
  x.hi = hi;
  x.lo = lo;
  return x;
}

export function memberKey(memberId: string): U64 {
  return fmix64(hash64(memberId));
}

export function stripeKey(stripeId: string): U64 {
  return hash64(stripeId);
}

const TWO_POW_21 = 2 ** 21;
const TWO_POW_53 = 2 ** 53;

/** u in (0, 1) for a (stripe, member) pair, from precomputed keys: fmix64(stripe XOR member), top 53 bits. */
export function pairUniform(stripe: U64, member: U64): number {
  return pairUniformHalves(stripe.hi, stripe.lo, member.hi, member.lo);
}

/** pairUniform on the keys' 32-bit halves (the placement hot path keeps keys in typed arrays). */
export function pairUniformHalves(sHi: number, sLo: number, mHi: number, mLo: number): number {
  let hi = (sHi ^ mHi) >>> 0;
  let lo = (sLo ^ mLo ^ (hi >>> 1)) >>> 0;
  // (hi, lo) *= C1, inlined (see mul64Hi)
  let a0 = lo & 0xffff;
  let a1 = lo >>> 16;
  let p00 = a0 * 0x8ccd;
  let p01 = a0 * 0xed55;
  let p10 = a1 * 0x8ccd;
  let mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  let nlo = (((mid & 0xffff) << 16) | (p00 & 0xffff)) >>> 0;
  hi =
    (a1 * 0xed55 +
      (p01 >>> 16) +
      (p10 >>> 16) +
      (mid >>> 16) +
      Math.imul(hi, C1_LO) +
      Math.imul(lo, C1_HI)) >>>
    0;
  lo = (nlo ^ (hi >>> 1)) >>> 0;
  // (hi, lo) *= C2
  a0 = lo & 0xffff;
  a1 = lo >>> 16;
  p00 = a0 * 0xec53;
  p01 = a0 * 0x1a85;
  p10 = a1 * 0xec53;
  mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  nlo = (((mid & 0xffff) << 16) | (p00 & 0xffff)) >>> 0;
  hi =
    (a1 * 0x1a85 +
      (p01 >>> 16) +
      (p10 >>> 16) +
      (mid >>> 16) +
      Math.imul(hi, C2_LO) +
      Math.imul(lo, C2_HI)) >>>
    0;
  lo = (nlo ^ (hi >>> 1)) >>> 0;
  return (hi * TWO_POW_21 + (lo >>> 11) + 0.5) / TWO_POW_53;
}

/** The full 64-bit score as a lowercase hex string (for documentation and golden vectors). */
export function pairScoreHex(stripeId: string, memberId: string): string {
  const s = stripeKey(stripeId);
  const m = memberKey(memberId);
  const x = fmix64({ hi: (s.hi ^ m.hi) >>> 0, lo: (s.lo ^ m.lo) >>> 0 });
  return x.hi.toString(16).padStart(8, '0') + x.lo.toString(16).padStart(8, '0');
}
