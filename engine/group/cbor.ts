/**
 * pb-cbor v1: the strict, deterministic CBOR subset (RFC 8949) that group ops use.
 *
 * Allowed: unsigned integers (major type 0, up to 2^53-1), byte strings (2), UTF-8 text strings (3)
 * and arrays (4), all with definite lengths and every length or value in its shortest form
 * (RFC 8949 section 4.2.1, "core deterministic encoding"). Nothing else: no negative integers, maps,
 * tags, floats, simple values or indefinite lengths. Because the subset has exactly one encoding
 * per value, a decoded op never needs re-encoding: its hash and signature cover the bytes received.
 * Any standard CBOR decoder (cbor-x included) reads these bytes; this decoder rejects everything
 * outside the subset with a `GroupError('bad-encoding')` naming the offset.
 */
import { GroupError } from './errors.ts';

export type CborValue = number | Uint8Array | string | CborValue[];

/** Nesting bound: ops are at most three levels deep. */
export const CBOR_MAX_DEPTH = 4;

const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();

/** A growable output buffer. */
class Writer {
  buf = new Uint8Array(256);
  len = 0;
  ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
  head(major: number, value: number): void {
    this.ensure(9);
    const m = major << 5;
    const b = this.buf;
    if (value < 24) b[this.len++] = m | value;
    else if (value < 0x100) {
      b[this.len++] = m | 24;
      b[this.len++] = value;
    } else if (value < 0x10000) {
      b[this.len++] = m | 25;
      b[this.len++] = value >>> 8;
      b[this.len++] = value & 0xff;
    } else if (value < 0x100000000) {
      b[this.len++] = m | 26;
      b[this.len++] = value >>> 24;
      b[this.len++] = (value >>> 16) & 0xff;
      b[this.len++] = (value >>> 8) & 0xff;
      b[this.len++] = value & 0xff;
    } else {
      const hi = Math.floor(value / 0x100000000);
      const lo = value >>> 0;
      b[this.len++] = m | 27;
      b[this.len++] = hi >>> 24;
      b[this.len++] = (hi >>> 16) & 0xff;
      b[this.len++] = (hi >>> 8) & 0xff;
      b[this.len++] = hi & 0xff;
      b[this.len++] = lo >>> 24;
      b[this.len++] = (lo >>> 16) & 0xff;
      b[this.len++] = (lo >>> 8) & 0xff;
      b[this.len++] = lo & 0xff;
    }
  }
  bytes(data: Uint8Array): void {
    this.ensure(data.length);
    this.buf.set(data, this.len);
    this.len += data.length;
  }
}

function encodeInto(w: Writer, value: CborValue, depth: number): void {
  if (depth > CBOR_MAX_DEPTH)
    throw new GroupError('invalid-argument', `value nests deeper than ${CBOR_MAX_DEPTH}`);
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new GroupError('invalid-argument', `only whole numbers 0..2^53-1 are encodable, got ${value}`);
    }
    w.head(0, value);
  } else if (value instanceof Uint8Array) {
    w.head(2, value.length);
    w.bytes(value);
  } else if (typeof value === 'string') {
    const data = utf8Encoder.encode(value);
    w.head(3, data.length);
    w.bytes(data);
  } else if (Array.isArray(value)) {
    w.head(4, value.length);
    for (const item of value) encodeInto(w, item, depth + 1);
  } else {
    throw new GroupError('invalid-argument', `cannot encode a value of type ${typeof value}`);
  }
}

/** Encodes a value of the subset deterministically. */
export function encodeCbor(value: CborValue): Uint8Array {
  const w = new Writer();
  encodeInto(w, value, 0);
  return w.buf.slice(0, w.len);
}

class Reader {
  pos = 0;
  constructor(
    readonly data: Uint8Array,
    readonly what: string,
  ) {}
  fail(message: string): never {
    throw new GroupError('bad-encoding', `${this.what}: ${message} at byte ${this.pos}`);
  }
  /** Reads one head; returns [major, value] with the shortest-form rule enforced. */
  head(): [number, number] {
    const d = this.data;
    if (this.pos >= d.length) this.fail('unexpected end of input');
    const first = d[this.pos]!;
    const major = first >>> 5;
    const info = first & 0x1f;
    this.pos++;
    if (info < 24) return [major, info];
    let size: number;
    if (info === 24) size = 1;
    else if (info === 25) size = 2;
    else if (info === 26) size = 4;
    else if (info === 27) size = 8;
    else {
      this.pos--;
      return this.fail(`additional info ${info} (indefinite length or reserved) is not allowed`);
    }
    if (this.pos + size > d.length) this.fail('unexpected end of input in a length');
    let value = 0;
    if (size === 8) {
      const hi =
        ((d[this.pos]! << 24) | (d[this.pos + 1]! << 16) | (d[this.pos + 2]! << 8) | d[this.pos + 3]!) >>> 0;
      const lo =
        ((d[this.pos + 4]! << 24) | (d[this.pos + 5]! << 16) | (d[this.pos + 6]! << 8) | d[this.pos + 7]!) >>>
        0;
      if (hi > 0x1fffff) this.fail('integer exceeds 2^53-1');
      value = hi * 0x100000000 + lo;
    } else {
      for (let i = 0; i < size; i++) value = value * 256 + d[this.pos + i]!;
    }
    this.pos += size;
    const minimum = size === 1 ? 24 : size === 2 ? 0x100 : size === 4 ? 0x10000 : 0x100000000;
    if (value < minimum) {
      this.pos -= size + 1;
      this.fail(`integer ${value} is not in its shortest form`);
    }
    return [major, value];
  }
  value(depth: number): CborValue {
    if (depth > CBOR_MAX_DEPTH) this.fail(`nesting deeper than ${CBOR_MAX_DEPTH}`);
    const start = this.pos;
    const [major, n] = this.head();
    switch (major) {
      case 0:
        return n;
      case 2: {
        if (n > this.data.length - this.pos) this.fail(`byte string of ${n} bytes runs past the end`);
        const out = this.data.slice(this.pos, this.pos + n);
        this.pos += n;
        return out;
      }
      case 3: {
        if (n > this.data.length - this.pos) this.fail(`text string of ${n} bytes runs past the end`);
        let text: string;
        try {
          text = utf8Decoder.decode(this.data.subarray(this.pos, this.pos + n));
        } catch {
          return this.fail('text string is not valid UTF-8');
        }
        this.pos += n;
        return text;
      }
      case 4: {
        // Every item takes at least one byte: a count beyond the rest of the input is a lie.
        if (n > this.data.length - this.pos) this.fail(`array of ${n} items runs past the end`);
        const out: CborValue[] = new Array(n);
        for (let i = 0; i < n; i++) out[i] = this.value(depth + 1);
        return out;
      }
      default:
        this.pos = start;
        return this.fail(`major type ${major} is not allowed (only uint, bytes, text, array)`);
    }
  }
}

/** Decodes exactly one value of the subset from `data`; trailing bytes are an error. */
export function decodeCbor(data: Uint8Array, what = 'cbor'): CborValue {
  const r = new Reader(data, what);
  const value = r.value(0);
  if (r.pos !== data.length) r.fail(`${data.length - r.pos} trailing byte(s)`);
  return value;
}
