import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CIPHER_SLICE_BYTES,
  chunkId,
  openObject,
  sealObject,
  xchachaDecrypt,
  xchachaEncrypt,
} from '../../runtime/pipeline/chunk-crypto.ts';
import { PipelineError } from '../../runtime/pipeline/errors.ts';
import { detBytes } from './helpers.ts';

describe('XChaCha20-Poly1305 (HChaCha20 + node:crypto)', () => {
  it('is byte-identical to @noble/ciphers xchacha20poly1305 (property)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 24, maxLength: 24 }),
        fc.uint8Array({ maxLength: 3000 }),
        fc.option(fc.uint8Array({ maxLength: 64 }), { nil: undefined }),
        (key, nonce, plain, aad) => {
          const ours = xchachaEncrypt(key, nonce, plain, aad);
          const theirs = xchacha20poly1305(key, nonce, aad).encrypt(plain);
          expect(Buffer.from(ours).equals(Buffer.from(theirs))).toBe(true);
          expect(Buffer.from(xchachaDecrypt(key, nonce, ours, aad)).equals(Buffer.from(plain))).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('matches @noble on a 1 MiB chunk and on the draft-irtf-cfrg-xchacha vector', () => {
    const key = detBytes('key', 32);
    const nonce = detBytes('nonce', 24);
    const plain = detBytes('plain', 1 << 20);
    expect(
      xchachaEncrypt(key, nonce, plain).equals(Buffer.from(xchacha20poly1305(key, nonce).encrypt(plain))),
    ).toBe(true);
    // draft-irtf-cfrg-xchacha-03, appendix A.3.1
    const k = Buffer.from('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f', 'hex');
    const n = Buffer.from('404142434445464748494a4b4c4d4e4f5051525354555657', 'hex');
    const aad = Buffer.from('50515253c0c1c2c3c4c5c6c7', 'hex');
    const pt = Buffer.from(
      "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
    );
    const ct = xchachaEncrypt(k, n, pt, aad);
    expect(ct.subarray(ct.length - 16).toString('hex')).toBe('c0875924c1c7987947deafd8780acf49');
    expect(ct.subarray(0, 16).toString('hex')).toBe('bd6d179d3e83d43b9576579493c0e939');
  });

  it('objects: sealed with the id as associated data; wrong key, wrong id or a flipped bit is refused', () => {
    const dataKey = detBytes('d', 32);
    const idKey = detBytes('i', 32);
    const plain = detBytes('p', 5000);
    const id = chunkId(idKey, plain);
    const sealed = sealObject(dataKey, id, plain);
    expect(sealed.length).toBe(plain.length + 40);
    expect(openObject(dataKey, idKey, id, sealed).equals(plain)).toBe(true);
    expect(() => openObject(detBytes('x', 32), idKey, id, sealed)).toThrow(PipelineError);
    const other = chunkId(idKey, Buffer.from('other'));
    expect(() => openObject(dataKey, idKey, other, sealed)).toThrow(/fails authentication/);
    const flipped = Buffer.from(sealed);
    flipped[100]! ^= 1;
    expect(() => openObject(dataKey, idKey, id, flipped)).toThrow(/fails authentication/);
    expect(() => openObject(dataKey, idKey, id, sealed.subarray(0, 10))).toThrow(/shorter/);
  });

  it('decrypts a large object a slice at a time into the buffer given, or the scratch, and refuses a bad one whole', () => {
    const dataKey = detBytes('d', 32);
    const idKey = detBytes('i', 32);
    const size = 4 * CIPHER_SLICE_BYTES + 7; // several slices and a short last one
    const [a, b] = [detBytes('a', size), detBytes('b', size - 100)];
    const [idA, idB] = [chunkId(idKey, a), chunkId(idKey, b)];
    const [sealedA, sealedB] = [sealObject(dataKey, idA, a), sealObject(dataKey, idB, b)];
    const nonce = sealedA.subarray(0, 24);
    const into = Buffer.alloc(size + 10, 0xee);
    const out = xchachaDecrypt(dataKey, nonce, sealedA.subarray(24), idA, into);
    expect(out.buffer).toBe(into.buffer);
    expect(out.equals(a)).toBe(true);
    expect(into[size]).toBe(0xee); // nothing past the plaintext
    expect(() => xchachaDecrypt(dataKey, nonce, sealedA.subarray(24), idA, Buffer.alloc(size - 1))).toThrow(
      /does not fit/,
    );
    // Landed and dropped: both plaintexts in this thread's scratch, the second over the first.
    const inScratchA = openObject(dataKey, idKey, idA, sealedA, 0, true);
    expect(inScratchA.equals(a)).toBe(true);
    const inScratchB = openObject(dataKey, idKey, idB, sealedB, 0, true);
    expect(inScratchB.equals(b)).toBe(true);
    expect(inScratchB.buffer).toBe(inScratchA.buffer);
    // Kept: a buffer of its own.
    expect(openObject(dataKey, idKey, idA, sealedA).buffer).not.toBe(inScratchA.buffer);
    const flipped = Buffer.from(sealedA);
    flipped[24 + 3 * CIPHER_SLICE_BYTES]! ^= 1; // in a late slice: the tag still refuses it
    expect(() => openObject(dataKey, idKey, idA, flipped, 0, true)).toThrow(/fails authentication/);
  });

  it('chunk id is HMAC-SHA256 (RFC 4231 test case 2)', () => {
    expect(chunkId(Buffer.from('Jefe'), Buffer.from('what do ya want for nothing?')).toString('hex')).toBe(
      '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    );
  });
});
