import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deriveMemberKeys, memberIdFromPublicKey } from '../../../engine/index.ts';
import { OPEN_POLICY } from '../../../runtime/net/access.ts';
import { NetError } from '../../../runtime/net/errors.ts';
import { encodeMessage, FrameReader, sendBytes } from '../../../runtime/net/framing.ts';
import { libp2pKeyFromSeed } from '../../../runtime/net/keys.ts';
import { RemoteShardStore } from '../../../runtime/net/remote-shard-store.ts';
import { SHARD_MSG, SHARD_PROTOCOL, serveShards } from '../../../runtime/net/shard-protocol.ts';
import { PledgedShardStore } from '../../../runtime/store/pledged-shard-store.ts';
import { ShardStoreError } from '../../../runtime/store/shard-store.ts';
import { isRefused, setPolicy, type TestNode, testNode } from './_helpers.ts';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const MiB = 1024 * 1024;

describe('libp2p identity', () => {
  it('the libp2p PeerId is the member id of the identity derived from the secret', async () => {
    const keys = deriveMemberKeys(new Uint8Array(32).fill(1));
    const key = await libp2pKeyFromSeed(keys.signingSeed, keys.publicKey);
    const { peerIdFromPrivateKey } = await import('@libp2p/peer-id');
    expect(peerIdFromPrivateKey(key).toString()).toBe(memberIdFromPublicKey(keys.publicKey));
    expect(memberIdFromPublicKey(keys.publicKey)).toBe(
      '12D3KooWQmKqDsh5L6eP9UEqqZXzW1SWudHNrFPvGKXSRApXaaYG',
    );
  });
});

describe('/pb/shard/1 between two in-process nodes over TCP', () => {
  let dir: string;
  let server: TestNode;
  let member: TestNode;
  let stranger: TestNode;
  let store: PledgedShardStore;
  const allowed = new Set<string>();

  beforeAll(async () => {
    dir = await fs.mkdtemp(join(tmpdir(), 'pb-shard-'));
    server = await testNode(setPolicy(allowed));
    member = await testNode(() => OPEN_POLICY);
    stranger = await testNode(() => OPEN_POLICY);
    allowed.add(member.id);
    store = await PledgedShardStore.open(join(dir, 'pledged'), {
      pledgeBytes: 40 * MiB,
      isMember: (id) => allowed.has(id),
    });
    await serveShards(server.node, setPolicy(allowed), store);
    await member.node.dial(server.node.getMultiaddrs()[0]!);
  });

  afterAll(async () => {
    await Promise.all([server.node.stop(), member.node.stop(), stranger.node.stop()]);
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('puts, gets, lists, deletes a 32 MiB shard; the reservation shrinks and grows back, allocated', async () => {
    const remote = new RemoteShardStore(member.node, server.id);
    const before = await store.report();
    expect(before.reservationBytes).toBe(40 * MiB);
    expect(before.reservationAllocatedBytes).toBeGreaterThanOrEqual(40 * MiB);
    const bytes = randomBytes(32 * MiB);
    const id = sha(bytes);
    await remote.put(id, bytes);
    expect(await remote.has(id)).toBe(true);
    expect(Buffer.from(await remote.get(id)).equals(bytes)).toBe(true);
    expect(await remote.list()).toEqual([id]);
    expect(await remote.usage()).toEqual({ usedBytes: 32 * MiB, capacityBytes: 40 * MiB });
    const after = await store.report();
    expect(after.reservationBytes).toBe(8 * MiB);
    expect(after.reservationAllocatedBytes).toBeGreaterThanOrEqual(8 * MiB);
    expect(after.reservationAllocatedBytes).toBeLessThan(9 * MiB);
    // Over the pledge: refused with the reason, nothing stored.
    const big = randomBytes(9 * MiB);
    const refused = await remote.put(sha(big), big).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ShardStoreError);
    expect((refused as ShardStoreError).code).toBe('no-space');
    expect((refused as Error).message).toMatch(/over-pledge/);
    // Lowering the pledge below what is stored is refused.
    await expect(store.setPledge(16 * MiB)).rejects.toThrow(/move shards away/);
    await remote.delete(id);
    expect(await remote.has(id)).toBe(false);
    expect((await store.report()).reservationBytes).toBe(40 * MiB);
    const missing = await remote.get(id).catch((e: unknown) => e);
    expect((missing as ShardStoreError).code).toBe('not-found');
  });

  it('reads a range of a shard straight into a buffer; a missing shard is not-found and writes nothing', async () => {
    const remote = new RemoteShardStore(member.node, server.id);
    const bytes = randomBytes(3 * MiB + 17);
    const id = sha(bytes);
    await remote.put(id, bytes);
    try {
      const into = Buffer.alloc(4 * MiB, 0xee);
      // Bytes [1000, 1000 + 2 MiB) at 12345; the rest of the answer is read and dropped.
      expect(await remote.readInto(id, 1000, into, 12345, 2 * MiB)).toBe(2 * MiB);
      expect(into.subarray(12345, 12345 + 2 * MiB).equals(bytes.subarray(1000, 1000 + 2 * MiB))).toBe(true);
      expect(into.subarray(0, 12345).every((b) => b === 0xee)).toBe(true);
      expect(into.subarray(12345 + 2 * MiB).every((b) => b === 0xee)).toBe(true);
      // Past the end: the count says how much there was.
      const tail = Buffer.alloc(MiB);
      expect(await remote.readInto(id, 3 * MiB, tail, 0, MiB)).toBe(17);
      expect(tail.subarray(0, 17).equals(bytes.subarray(3 * MiB))).toBe(true);
      const before = Buffer.from(into);
      const missing = await remote.readInto('ab'.repeat(32), 0, into, 0, 10).catch((e: unknown) => e);
      expect((missing as ShardStoreError).code).toBe('not-found');
      expect(into.equals(before)).toBe(true);
      await expect(remote.readInto(id, 0, into, 4 * MiB - 5, 10)).rejects.toThrow(/do not fit/);
      // The stream is still fine for the next request.
      expect(Buffer.from(await remote.get(id)).equals(bytes)).toBe(true);
    } finally {
      await remote.delete(id);
    }
  });

  it('refuses a put whose bytes do not hash to the id', async () => {
    const remote = new RemoteShardStore(member.node, server.id);
    const bytes = randomBytes(1000);
    const err = await remote.put(sha(randomBytes(10)), bytes).catch((e: unknown) => e);
    expect((err as ShardStoreError).code).toBe('corrupt');
    expect(await store.list()).toEqual([]);
  });

  it('refuses a stranger at the connection, and removes access at once', async () => {
    const opening = encodeMessage(SHARD_MSG.list, ['', 10]);
    expect(await isRefused(stranger.node, server.node.getMultiaddrs()[0]!, SHARD_PROTOCOL, opening)).toMatch(
      /^refused/,
    );
    expect(await isRefused(member.node, server.node.getMultiaddrs()[0]!, SHARD_PROTOCOL, opening)).toMatch(
      /^accepted/,
    );
    const remote = new RemoteShardStore(member.node, server.id);
    allowed.delete(member.id);
    const bytes = randomBytes(100);
    const err = await remote.put(sha(bytes), bytes).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ShardStoreError);
    expect(String((err as Error).message)).toMatch(/unauthorized/);
    allowed.add(member.id);
    expect(await store.has(sha(bytes))).toBe(false);
  });

  it('fuzzed frames are refused with an error frame and change nothing', async () => {
    const cases: Uint8Array[] = [
      new Uint8Array([0, 0, 0, 1, 0xff]),
      new Uint8Array([0xff, 0xff, 0xff, 0xff]),
      new Uint8Array([0, 0, 0, 3, 0x83, 0x02, 0x01]),
      new Uint8Array([0, 0, 0, 4, 0x83, 0x01, 0x01, 0x60]),
      new Uint8Array([0, 0, 0, 2, 0x82, 0x01]),
    ];
    for (let i = 0; i < 40; i++) cases.push(randomBytes(1 + (i % 60)));
    for (const frame of cases) {
      await member.node.dial(server.node.getMultiaddrs()[0]!);
      const stream = await member.node.dialProtocol(server.node.peerId, SHARD_PROTOCOL);
      await sendBytes(stream, frame);
      await stream.close().catch(() => undefined);
      const reader = new FrameReader(stream, 5000);
      const err = await reader.readMessage(4096).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NetError);
    }
    expect(await store.list()).toEqual([]);
    expect((await store.report()).reservationBytes).toBe(40 * MiB);
  });
});

describe('/pb/shard/1 range requests', () => {
  let dir: string;
  let ranged: TestNode;
  let older: TestNode;
  let member: TestNode;
  let store: PledgedShardStore;
  const calls = { ranges: [] as [number, number][], gets: 0 };

  beforeAll(async () => {
    dir = await fs.mkdtemp(join(tmpdir(), 'pb-shard-range-'));
    member = await testNode(() => OPEN_POLICY);
    const allowed = new Set([member.id]);
    store = await PledgedShardStore.open(join(dir, 'pledged'), {
      pledgeBytes: 16 * MiB,
      isMember: (id) => allowed.has(id),
    });
    // The same store behind two members: one reads ranges, one predates them (no readRange).
    const counted = {
      putFrom: store.putFrom.bind(store),
      get: (id: string) => {
        calls.gets++;
        return store.get(id);
      },
      has: store.has.bind(store),
      list: store.list.bind(store),
      delete: store.delete.bind(store),
      usage: store.usage.bind(store),
    };
    ranged = await testNode(setPolicy(allowed));
    older = await testNode(setPolicy(allowed));
    await serveShards(ranged.node, setPolicy(allowed), {
      ...counted,
      readRange: (id, offset, length) => {
        calls.ranges.push([offset, length]);
        return store.readRange(id, offset, length);
      },
    });
    await serveShards(older.node, setPolicy(allowed), counted);
    await member.node.dial(ranged.node.getMultiaddrs()[0]!);
    await member.node.dial(older.node.getMultiaddrs()[0]!);
  });

  afterAll(async () => {
    await Promise.all([ranged.node.stop(), older.node.stop(), member.node.stop()]);
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('asks for the range only, and the member reads and sends just those bytes', async () => {
    const remote = new RemoteShardStore(member.node, ranged.id);
    const bytes = randomBytes(2 * MiB + 17);
    const id = sha(bytes);
    await remote.put(id, bytes);
    calls.ranges.length = 0;
    calls.gets = 0;
    const into = Buffer.alloc(MiB, 0xee);
    expect(await remote.readInto(id, 5000, into, 100, 4096)).toBe(4096);
    expect(into.subarray(100, 4196).equals(bytes.subarray(5000, 9096))).toBe(true);
    expect(into.subarray(0, 100).every((b) => b === 0xee)).toBe(true);
    expect(into.subarray(4196).every((b) => b === 0xee)).toBe(true);
    // Past the end: the member sends what there is.
    expect(await remote.readInto(id, 2 * MiB, into, 0, 1000)).toBe(17);
    expect(into.subarray(0, 17).equals(bytes.subarray(2 * MiB))).toBe(true);
    expect(calls.ranges).toEqual([
      [5000, 4096],
      [2 * MiB, 1000],
    ]);
    expect(calls.gets).toBe(0);
    const missing = await remote.readInto('cd'.repeat(32), 0, into, 0, 10).catch((e: unknown) => e);
    expect((missing as ShardStoreError).code).toBe('not-found');
    await expect(remote.readInto(id, 64 * MiB, into, 0, 10)).rejects.toThrow(/bad range/);
  });

  it('gets the whole shard from a member that does not read ranges, and asks it no range again', async () => {
    const bytes = randomBytes(MiB + 3);
    const id = sha(bytes);
    await new RemoteShardStore(member.node, ranged.id).put(id, bytes);
    const remote = new RemoteShardStore(member.node, older.id);
    calls.ranges.length = 0;
    calls.gets = 0;
    for (const offset of [0, 777, MiB]) {
      const into = Buffer.alloc(64);
      const n = await remote.readInto(id, offset, into, 0, 64);
      expect(n).toBe(Math.min(64, bytes.length - offset));
      expect(into.subarray(0, n).equals(bytes.subarray(offset, offset + n))).toBe(true);
    }
    // One whole get per read; the refused range request was not sent again.
    expect(calls.gets).toBe(3);
    expect(calls.ranges).toEqual([]);
  });

  it('refuses a malformed range request with a clear error and goes on serving', async () => {
    const ask = async (fields: (string | number)[]) => {
      const stream = await member.node.dialProtocol(ranged.node.getMultiaddrs()[0]!, SHARD_PROTOCOL);
      await sendBytes(stream, encodeMessage(SHARD_MSG.getRange, fields));
      return new FrameReader(stream, 5000).readMessage(4096).catch((e: unknown) => e);
    };
    const id = 'ab'.repeat(32);
    expect(String(await ask([id, 0]))).toMatch(/get range/);
    expect(String(await ask([id, 0, 65 * MiB]))).toMatch(/length/);
    expect(String(await ask([id, 'x', 10]))).toMatch(/offset/);
    expect(String(await ask(['nothex', 0, 10]))).toMatch(/shard id/);
    expect((await ask([id, 0, 10])) as NetError).toMatchObject({ code: 'not-found' });
  });
});
