/** The spec's test vectors, and agreement with the libraries another member would use. */
import { readFileSync } from 'node:fs';
import { publicKeyFromRaw } from '@libp2p/crypto/keys';
import { peerIdFromPublicKey } from '@libp2p/peer-id';
import { ed25519 } from '@noble/curves/ed25519.js';
import { decode as cborxDecode } from 'cbor-x';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  base58btcDecode,
  base58btcEncode,
  decodeCbor,
  decodeOp,
  EngineError,
  encodeCbor,
  memberIdFromPublicKey,
  nobleVerify,
  publicKeyFromMemberId,
  SIGNATURE_CONTEXT,
} from '../../../engine/index.ts';
import { nodeEd25519Signer, nodeEd25519Verifier } from '../../../runtime/crypto/ed25519.ts';
import { computeVectors, formatVectors, parseVectors } from './vectors.ts';

const doc = readFileSync(new URL('../../../docs/group-log.md', import.meta.url), 'utf8');
const hexBytes = (hex: string) => Uint8Array.from(Buffer.from(hex, 'hex'));

describe('docs/group-log.md test vectors', () => {
  it('the document states exactly the values the code computes', () => {
    const computed = computeVectors();
    const written = parseVectors(doc);
    expect(
      Object.fromEntries(written),
      `regenerate with: npx tsx test/engine/group/vectors.ts\n${formatVectors(computed)}`,
    ).toEqual(Object.fromEntries(computed));
  });

  it('each vector op decodes, with both verifiers, to its stated hash', () => {
    const v = parseVectors(doc);
    for (const name of ['create', 'invite', 'request', 'approve', 'pledge']) {
      const bytes = hexBytes(v.get(`op.${name}.bytes`)!);
      expect(decodeOp(bytes).hash).toBe(v.get(`op.${name}.hash`));
      expect(decodeOp(bytes, { verify: nodeEd25519Verifier() }).hash).toBe(v.get(`op.${name}.hash`));
    }
  });
});

describe('interoperability', () => {
  it('member ids are the libp2p PeerIds of the keys, and parse back', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (seed) => {
        const pub = ed25519.getPublicKey(seed);
        const id = memberIdFromPublicKey(pub);
        expect(id).toBe(peerIdFromPublicKey(publicKeyFromRaw(pub)).toString());
        expect(id.startsWith('12D3KooW')).toBe(true);
        expect(publicKeyFromMemberId(id)).toEqual(pub);
      }),
      { numRuns: 50 },
    );
    expect(() => publicKeyFromMemberId('QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N')).toThrow(
      EngineError,
    );
    expect(() => publicKeyFromMemberId('12D3KooW0000')).toThrow(EngineError);
  });

  it('base58btc round-trips, leading zeros included', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        expect(base58btcDecode(base58btcEncode(bytes))).toEqual(bytes);
      }),
    );
    expect(base58btcEncode(Uint8Array.of(0, 0, 1))).toBe('112');
  });

  it('pb-cbor is CBOR: cbor-x reads what we write, and we refuse non-canonical forms', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.nat(), fc.string({ maxLength: 10 }), fc.uint8Array({ maxLength: 10 })), {
          maxLength: 6,
        }),
        (value) => {
          const bytes = encodeCbor(value);
          const plain = (xs: unknown[]) =>
            xs.map((x) => (x instanceof Uint8Array ? `bytes:${Buffer.from(x).toString('hex')}` : x));
          expect(plain(cborxDecode(bytes))).toEqual(plain(value));
          expect(decodeCbor(bytes)).toEqual(value);
        },
      ),
    );
    for (const hex of [
      '1817',
      '190010',
      '9f00ff',
      'a0',
      '20',
      'f6',
      'fb3ff0000000000000',
      'c000',
      '6161ff',
      '0000',
    ]) {
      expect(() => decodeCbor(hexBytes(hex)), hex).toThrow(expect.objectContaining({ code: 'bad-encoding' }));
    }
  });

  it('node:crypto and @noble (strict RFC 8032) give the same verdicts, non-canonical S included', () => {
    const node = nodeEd25519Verifier();
    const seed = new Uint8Array(32).fill(9);
    const pub = ed25519.getPublicKey(seed);
    const msg = new TextEncoder().encode(`${SIGNATURE_CONTEXT}hello`);
    const sig = ed25519.sign(msg, seed);
    expect(node(sig, msg, pub)).toBe(true);
    expect(nodeEd25519Signer()(msg, seed)).toEqual(sig); // deterministic: the same bytes as @noble
    expect(nobleVerify(sig, msg, pub)).toBe(true);
    // S + L (the group order) verifies under lax rules; both strict verifiers refuse it
    const L = 2n ** 252n + 27742317777372353535851937790883648493n;
    let s = 0n;
    for (let i = 31; i >= 0; i--) s = (s << 8n) | BigInt(sig[32 + i]!);
    const sPlusL = s + L;
    const malleated = sig.slice();
    for (let i = 0; i < 32; i++) malleated[32 + i] = Number((sPlusL >> BigInt(8 * i)) & 0xffn);
    expect(node(malleated, msg, pub)).toBe(false);
    expect(nobleVerify(malleated, msg, pub)).toBe(false);
    fc.assert(
      fc.property(fc.nat(63), fc.nat(7), fc.boolean(), (byte, bit, inKey) => {
        const s2 = sig.slice();
        const k2 = pub.slice();
        if (inKey) k2[byte % 32]! ^= 1 << bit;
        else s2[byte]! ^= 1 << bit;
        expect(node(s2, msg, k2)).toBe(nobleVerify(s2, msg, k2));
      }),
      { numRuns: 100 },
    );
  });
});
