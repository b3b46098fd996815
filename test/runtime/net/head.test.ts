import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeHead, deriveMemberKeys, headIsNewer, signHead } from '../../../engine/index.ts';
import { HeadStore } from '../../../runtime/daemon/shards/head-store.ts';
import { NetError } from '../../../runtime/net/errors.ts';
import { getHead, putHead, StaleHeadError, serveHeads } from '../../../runtime/net/head-protocol.ts';
import { setPolicy, type TestNode, testNode } from './_helpers.ts';

const a = deriveMemberKeys(new Uint8Array(32).fill(1));
const b = deriveMemberKeys(new Uint8Array(32).fill(2));

describe('signed heads (engine)', () => {
  it('round-trips, and every bit flip is refused', () => {
    const head = signHead(a, 7, new Uint8Array([1, 2, 3]));
    const back = decodeHead(head.bytes);
    expect(back.owner).toBe('12D3KooWQmKqDsh5L6eP9UEqqZXzW1SWudHNrFPvGKXSRApXaaYG');
    expect(back.seq).toBe(7);
    fc.assert(
      fc.property(fc.nat(head.bytes.length * 8 - 1), (bit) => {
        const bad = head.bytes.slice();
        bad[bit >> 3]! ^= 1 << (bit & 7);
        expect(() => decodeHead(bad)).toThrow();
      }),
    );
    expect(headIsNewer(back, signHead(a, 8, new Uint8Array()))).toBe(true);
    expect(headIsNewer(back, signHead(a, 7, new Uint8Array([9])))).toBe(false);
  });
});

describe('/pb/head/1', () => {
  let dir: string;
  let server: TestNode;
  let client: TestNode;
  const members = new Set<string>();

  beforeAll(async () => {
    dir = await fs.mkdtemp(join(tmpdir(), 'pb-head-'));
    server = await testNode(setPolicy(members));
    client = await testNode(setPolicy(members));
    members
      .add(client.id)
      .add(server.id)
      .add(decodeHead(signHead(a, 0, new Uint8Array()).bytes).owner);
    const store = new HeadStore(
      join(dir, 'heads'),
      (owner) => members.has(owner),
      () => {},
    );
    await serveHeads(server.node, setPolicy(members), store);
    await client.node.dial(server.node.getMultiaddrs()[0]!);
  });

  afterAll(async () => {
    await Promise.all([server.node.stop(), client.node.stop()]);
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('keeps the newest valid head per owner and refuses stale, forged and non-member heads', async () => {
    const owner = decodeHead(signHead(a, 0, new Uint8Array()).bytes).owner;
    await expect(getHead(client.node, server.id, owner)).rejects.toMatchObject({ code: 'not-found' });
    expect(await putHead(client.node, server.id, signHead(a, 2, new Uint8Array([2])).bytes)).toBe(2);
    const stale = await putHead(client.node, server.id, signHead(a, 1, new Uint8Array([1])).bytes).catch(
      (e: unknown) => e,
    );
    expect(stale).toBeInstanceOf(NetError);
    expect((stale as NetError).code).toBe('stale');
    // The held and offered seqs arrive as fields (the pusher tells a re-push from an index behind).
    expect(stale).toBeInstanceOf(StaleHeadError);
    expect(stale).toMatchObject({ offeredSeq: 1, heldSeq: 2, remote: true });
    const forged = signHead(a, 9, new Uint8Array([9])).bytes.slice();
    forged[forged.length - 1]! ^= 1;
    expect(await putHead(client.node, server.id, forged).catch((e: NetError) => e.code)).toBe(
      'bad-signature',
    );
    expect(
      await putHead(client.node, server.id, signHead(b, 1, new Uint8Array()).bytes).catch(
        (e: NetError) => e.code,
      ),
    ).toBe('unauthorized');
    expect(decodeHead(await getHead(client.node, server.id, owner)).seq).toBe(2);
    expect(await putHead(client.node, server.id, signHead(a, 3, new Uint8Array([3])).bytes)).toBe(3);
    // Survives a reload from disk.
    const reloaded = new HeadStore(
      join(dir, 'heads'),
      () => true,
      () => {},
    );
    expect(reloaded.get(owner)?.seq).toBe(3);
  });
});
