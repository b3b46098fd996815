import { createHash } from 'node:crypto';
import { Encoder } from 'cbor-x';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { deriveMemberKeys } from '../../engine/index.ts';
import { chunkId, sealObject } from '../../runtime/pipeline/chunk-crypto.ts';
import { encodeParity, reconstructData } from '../../runtime/pipeline/erasure.ts';
import { PipelineError } from '../../runtime/pipeline/errors.ts';
import { buildShards, decodeShard, decodeShardHeader } from '../../runtime/pipeline/shard-format.ts';
import { decodeHead, encodeHead } from '../../runtime/pipeline/snapshot.ts';
import { directoryBytes, readDirectory, writeDirectory } from '../../runtime/pipeline/stripe-layout.ts';
import {
  decodeSnapshot,
  decodeTree,
  ENTRY_DIR,
  ENTRY_FILE,
  ENTRY_SYMLINK,
  encodeSnapshot,
  encodeTree,
  NO_LINK,
  type TreeEntry,
} from '../../runtime/pipeline/tree.ts';
import { detBytes } from './helpers.ts';

/** CBOR as pb writes it (tree.ts): arrays, no records. */
const cbor = new Encoder({ useRecords: false, mapsAsObjects: false, tagUint8Array: false });

const keys = deriveMemberKeys(Buffer.alloc(32, 0x11));
const ID7 = Buffer.alloc(32, 7);

describe('docs/formats.md test vectors', () => {
  it('keys, chunk id and sealed object', () => {
    expect(Buffer.from(keys.publicKey).toString('hex')).toBe(
      '91bd400642ba1e269da8d5c64bab0f2365b270d1e92d5303123a0999b35af9d0',
    );
    const plain = Buffer.from('pb chunk');
    const id = chunkId(keys.chunkIdKey, plain);
    expect(id.toString('hex')).toBe('7f0716157ddbb5a420f90591d0e0b4d74b4429d18343d10e2c86f2aabb1771ed');
    expect(sealObject(keys.dataKey, id, plain, Buffer.alloc(24, 0x24)).toString('hex')).toBe(
      `${'24'.repeat(24)}8f0161017498c8d581964113733b54910e65fd843eef4166`,
    );
  });

  it('shard trailer and shard ids (format v2)', () => {
    const shards = buildShards(
      'owner/1/0',
      'owner',
      2,
      2,
      [0, 1, 2, 3].map((i) => Buffer.alloc(16, i)),
    );
    const first = shards[0]!.bytes;
    expect(first.length).toBe(206);
    expect(first.subarray(0, 16).equals(Buffer.alloc(16, 0))).toBe(true); // the body comes first
    expect(first.subarray(first.length - 48, first.length - 32).toString('hex')).toBe(
      '50425348020202001000000009000500',
    );
    expect(shards.map((s) => s.id)).toEqual([
      '212886b414a62445c33cc283b65dc1a59fe2e045622004b7fbe36752025120f1',
      '25c2f3d3968703952ca603e7d2bb91f39cb73011652ac710686186eac7e9e4b3',
      '04bb2c748e43508f0a50e71a938173364a8df873ca57e500b47f20e51e647de7',
      '438d4acd125f1a7ac0a7871b8125e3864566ade1e09aec604b721438dff60c9b',
    ]);
    // The id is SHA-256 of the whole file: a store verifies it without knowing the format.
    for (const s of shards) expect(createHash('sha256').update(s.bytes).digest('hex')).toBe(s.id);
    const { header, body } = decodeShard(shards[3]!.bytes);
    expect(header).toMatchObject({
      stripeId: 'owner/1/0',
      owner: 'owner',
      k: 2,
      m: 2,
      index: 3,
      bodyBytes: 16,
    });
    expect(body.equals(Buffer.alloc(16, 3))).toBe(true);
  });

  it('tree encoding', () => {
    const entries: TreeEntry[] = [
      {
        type: ENTRY_DIR,
        name: Buffer.from('d'),
        mode: 0o40755,
        uid: 1000,
        gid: 1000,
        mtimeSec: 1700000000,
        mtimeNsec: 5,
        tree: [ID7],
      },
      {
        type: ENTRY_FILE,
        name: Buffer.from('f'),
        mode: 0o100644,
        uid: 1000,
        gid: 1000,
        mtimeSec: 1700000000,
        mtimeNsec: 6,
        size: 3,
        chunks: [ID7],
        flags: 0,
        link: NO_LINK,
      },
      {
        type: ENTRY_SYMLINK,
        name: Buffer.from([0xff, 0x0a]),
        mode: 0o120777,
        uid: 0,
        gid: 0,
        mtimeSec: 1,
        mtimeNsec: 0,
        target: Buffer.from('../x'),
      },
    ];
    const encoded = encodeTree(entries);
    // Version 2: a file has an 11th field, its link identity (empty: no other link).
    expect(encoded.toString('hex')).toBe(
      '820283880041641941ed1903e81903e81a6553f10005815820' +
        '07'.repeat(32) +
        '8b0141661981a41903e81903e81a6553f100060381582007' +
        '07'.repeat(31) +
        '0040880242ff0a19a1ff00000100442e2e2f78',
    );
    expect(decodeTree(encoded)).toEqual(entries);
    // Version 1 (written before links were kept) still decodes: its files have no link.
    const v1 =
      '820183880041641941ed1903e81903e81a6553f10005815820' +
      '07'.repeat(32) +
      '8a0141661981a41903e81903e81a6553f100060381582007' +
      '07'.repeat(31) +
      '00880242ff0a19a1ff00000100442e2e2f78';
    expect(decodeTree(Buffer.from(v1, 'hex'))).toEqual(entries);
    const linked = entries.map((e) => (e.type === ENTRY_FILE ? { ...e, link: Buffer.alloc(16, 9) } : e));
    expect(decodeTree(encodeTree(linked))).toEqual(linked);
    const badLink = entries.map((e) => (e.type === ENTRY_FILE ? { ...e, link: Buffer.alloc(5) } : e));
    expect(() => decodeTree(encodeTree(badLink))).toThrow(/link is not 0 or 16 bytes/);
  });

  it('head: signed by the owner, sealed with the data key', () => {
    const head = { owner: 'o', headSeq: 1, snapshotId: ID7, timeMs: 1700000000000 };
    const bytes = encodeHead(head, keys, Buffer.alloc(24, 0x24));
    expect(bytes.subarray(0, 8).toString('hex')).toBe('82585b8401616f01');
    expect(decodeHead(bytes, keys)).toEqual(head);
    const other = deriveMemberKeys(Buffer.alloc(32, 0x22));
    expect(() => decodeHead(bytes, other)).toThrow(/wrong recovery secret/);
    const tampered = Buffer.from(bytes);
    tampered[20]! ^= 1;
    expect(() => decodeHead(tampered, keys)).toThrow(PipelineError);
  });
});

describe('defensive decoding', () => {
  it('rejects damaged shard headers', () => {
    const [shard] = buildShards('s/1/0', 'o', 1, 1, [Buffer.alloc(8, 1), Buffer.alloc(8, 2)]);
    const bytes = shard!.bytes;
    const tail = bytes.length - 48;
    for (const i of [
      0,
      5,
      tail,
      tail + 4,
      tail + 5,
      tail + 7,
      tail + 8,
      tail + 12,
      tail + 14,
      bytes.length - 9,
    ]) {
      const bad = Buffer.from(bytes);
      bad[i]! ^= 0x40;
      expect(() => decodeShard(bad)).toThrow(PipelineError);
    }
    expect(() => decodeShardHeader(bytes.subarray(0, 20))).toThrow(/truncated|short/);
    expect(() => decodeShardHeader(bytes.subarray(bytes.length - 60))).toThrow(/truncated/);
    expect(() => decodeShard(Buffer.concat([Buffer.alloc(8), bytes]))).toThrow(/trailer says/);
  });

  it('rejects trees with bad names, order, types or sizes', () => {
    const file = (name: string): Extract<TreeEntry, { type: typeof ENTRY_FILE }> => ({
      type: ENTRY_FILE,
      name: Buffer.from(name),
      mode: 0o100644,
      uid: 0,
      gid: 0,
      mtimeSec: 0,
      mtimeNsec: 0,
      size: 0,
      chunks: [],
      flags: 0,
    });
    for (const name of ['', '.', '..', 'a/b', 'a\0b'])
      expect(() => decodeTree(encodeTree([file(name)]))).toThrow(/invalid name/);
    expect(() => decodeTree(encodeTree([file('b'), file('a')]))).toThrow(/out of order/);
    expect(() => decodeTree(Buffer.from('ff', 'hex'))).toThrow(PipelineError);
    expect(() => decodeTree(encodeTree([{ ...file('a'), chunks: [Buffer.alloc(31)] }]))).toThrow(/32 bytes/);
    expect(() => decodeSnapshot(encodeTree([]))).toThrow(PipelineError);
  });

  it('snapshot round trip', () => {
    const snap = {
      timeMs: 1700000000000,
      host: 'h',
      roots: [
        {
          path: Buffer.from('/home/a'),
          dir: {
            type: ENTRY_DIR as 0,
            name: Buffer.from('a'),
            mode: 0o40755,
            uid: 1,
            gid: 1,
            mtimeSec: 2,
            mtimeNsec: 3,
            tree: [ID7],
          },
        },
      ],
      files: 1,
      bytes: 2,
      warnings: ['w'],
      config: 'name = "a"\n',
    };
    expect(decodeSnapshot(encodeSnapshot(snap))).toEqual(snap);
    expect(decodeSnapshot(encodeSnapshot({ ...snap, config: null })).config).toBeNull();
    // Version 1 (7 fields, no config) still decodes; a config that is no text is corrupt.
    const v1 = cbor.encode([1, ...(cbor.decode(encodeSnapshot(snap)) as unknown[]).slice(1, 7)]);
    expect(decodeSnapshot(v1)).toEqual({ ...snap, config: null });
    const badConfig = cbor.encode([...(cbor.decode(encodeSnapshot(snap)) as unknown[]).slice(0, 7), 5]);
    expect(() => decodeSnapshot(badConfig)).toThrow(/snapshot config/);
  });

  it('stripe directory round trip', () => {
    const entries = [
      { id: ID7, kind: 0, offset: 0, sealedBytes: 100, plainBytes: 60, codec: 0 as const },
      { id: Buffer.alloc(32, 9), kind: 1, offset: 100, sealedBytes: 50, plainBytes: 10, codec: 1 as const },
    ];
    const area = Buffer.alloc(150 + directoryBytes(2) + 16);
    writeDirectory(area, 'x/1/0', keys.dataKey, entries);
    expect(readDirectory(area, 'x/1/0', keys.dataKey)).toEqual(entries);
    expect(() => readDirectory(area, 'x/2/0', keys.dataKey)).toThrow(PipelineError);
  });
});

describe('Reed-Solomon', () => {
  it('rebuilds the data from any k of k+m shards (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 64 }),
        fc.integer(),
        async (k, m, words, seed) => {
          const shardBytes = words * 8;
          const data = detBytes(`rs${seed}`, k * shardBytes);
          const parity = await encodeParity(k, m, data, shardBytes);
          const bodies: (Buffer | null)[] = [];
          for (let i = 0; i < k; i++) bodies.push(data.subarray(i * shardBytes, (i + 1) * shardBytes));
          for (let i = 0; i < m; i++) bodies.push(parity.subarray(i * shardBytes, (i + 1) * shardBytes));
          // drop m shards chosen from the seed
          const order = bodies
            .map((_, i) => i)
            .sort((a, b) => ((a * 7919 + seed) % 97) - ((b * 7919 + seed) % 97));
          for (const i of order.slice(0, m)) bodies[i] = null;
          expect((await reconstructData(k, m, bodies, shardBytes)).equals(data)).toBe(true);
          bodies[order[m]!] = null;
          await expect(reconstructData(k, m, bodies, shardBytes)).rejects.toThrow(/are needed/);
        },
      ),
      { numRuns: 60 },
    );
  });
});
