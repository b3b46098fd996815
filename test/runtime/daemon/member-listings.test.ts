/**
 * Listings asked whole only when they changed (runtime/daemon/shards/member-listings.ts,
 * docs/protocols.md §4 list version): a holder's catalog version over /pb/shard/1 between two
 * libp2p nodes, the listing kept while the version holds (its young rows aged), asked again after
 * a put, a delete or a restart, and every round from a member that keeps no version.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deriveMemberKeys } from '../../../engine/index.ts';
import { refreshListing } from '../../../runtime/daemon/shards/member-listings.ts';
import { CatalogBackend, ShardCatalog } from '../../../runtime/daemon/shards/shard-catalog.ts';
import { encodeMessage, FrameReader, sendBytes } from '../../../runtime/net/framing.ts';
import { RemoteShardStore } from '../../../runtime/net/remote-shard-store.ts';
import {
  type CatalogVersion,
  type ListQuery,
  SHARD_MSG,
  SHARD_PROTOCOL,
  type ShardBackend,
  serveShards,
} from '../../../runtime/net/shard-protocol.ts';
import { buildShards } from '../../../runtime/pipeline/shard-format.ts';
import { PledgedShardStore } from '../../../runtime/store/pledged-shard-store.ts';
import { ShardStoreError } from '../../../runtime/store/shard-store.ts';
import { setPolicy, type TestNode, testNode } from '../net/_helpers.ts';

const MiB = 1024 * 1024;
const SETTLE_MS = 60_000;

function ownerHex(n: number): string {
  return Buffer.from(deriveMemberKeys(new Uint8Array(32).fill(n)).publicKey).toString('hex');
}

/** A pb stripe's three shard files (k=2, m=1; the parity is not Reed-Solomon: the trailer is what counts). */
function stripeFiles(owner: string, stripeId: string): { id: string; bytes: Buffer }[] {
  const bodies = [randomBytes(2048), randomBytes(2048), randomBytes(2048)];
  return buildShards(stripeId, owner, 2, 1, bodies);
}

describe('listings asked again only when they changed', () => {
  let dir: string;
  let client: TestNode;
  let holder: TestNode;
  let plain: TestNode;
  let faulty: TestNode;
  let store: PledgedShardStore;
  let backend: CatalogBackend;
  const pages: ListQuery[] = [];
  let badVersion: CatalogVersion = { epoch: '', changes: 0 };
  const allowed = new Set<string>();

  beforeAll(async () => {
    dir = fs.mkdtempSync(join(tmpdir(), 'pb-listings-'));
    client = await testNode(setPolicy(allowed));
    holder = await testNode(setPolicy(allowed));
    plain = await testNode(setPolicy(allowed));
    faulty = await testNode(setPolicy(allowed));
    for (const n of [client, holder, plain, faulty]) allowed.add(n.id);
    store = await PledgedShardStore.open(join(dir, 'holder'), { pledgeBytes: 16 * MiB });
    backend = new CatalogBackend(store, new ShardCatalog(store), async () => undefined);
    // The holder's catalog backend, its pages counted (what a full listing costs it).
    const counted: ShardBackend = Object.assign(Object.create(backend) as CatalogBackend, {
      listPage: (q: ListQuery) => {
        pages.push(q);
        return backend.listPage(q);
      },
    });
    await serveShards(holder.node, setPolicy(allowed), counted);
    // A member without a catalog: it lists ids only and keeps no version.
    const plainStore = await PledgedShardStore.open(join(dir, 'plain'), { pledgeBytes: 16 * MiB });
    await serveShards(plain.node, setPolicy(allowed), plainStore);
    // A member whose version answer is malformed (the fault injected: what a broken peer sends).
    const faultyBackend = new CatalogBackend(plainStore, new ShardCatalog(plainStore), async () => undefined);
    await serveShards(
      faulty.node,
      setPolicy(allowed),
      Object.assign(Object.create(faultyBackend) as CatalogBackend, { listVersion: async () => badVersion }),
    );
    for (const n of [holder, plain, faulty]) await client.node.dial(n.node.getMultiaddrs()[0]!);
  });

  afterAll(async () => {
    await Promise.all([client, holder, plain, faulty].map((n) => n.node.stop()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a version stays while nothing changes, moves on a put and a delete, and is another after a restart', async () => {
    const remote = new RemoteShardStore(client.node, holder.id);
    const files = stripeFiles(ownerHex(7), 'v/1');
    await remote.put(files[0]!.id, files[0]!.bytes);
    const first = await remote.listVersion();
    expect(first).not.toBeNull();
    expect(first!.epoch).toMatch(/^[0-9a-f]{16}$/);
    expect(await remote.listVersion()).toEqual(first);
    await remote.put(files[1]!.id, files[1]!.bytes);
    const afterPut = await remote.listVersion();
    expect(afterPut!.epoch).toBe(first!.epoch);
    expect(afterPut!.changes).toBeGreaterThan(first!.changes);
    await backend.delete(files[1]!.id);
    const afterDelete = await remote.listVersion();
    expect(afterDelete!.changes).toBeGreaterThan(afterPut!.changes);
    // A restart fills a new catalog from the same files: another epoch, whatever its count.
    const restarted = new CatalogBackend(store, new ShardCatalog(store), async () => undefined);
    expect((await restarted.listVersion()).epoch).not.toBe(first!.epoch);
    await backend.delete(files[0]!.id);
  });

  it('keeps the listing while the version holds, ages its young rows, and lists again after a put', async () => {
    const remote = new RemoteShardStore(client.node, holder.id);
    const files = stripeFiles(ownerHex(8), 'v/2');
    await remote.put(files[0]!.id, files[0]!.bytes);
    const t0 = Date.now();
    pages.length = 0;
    const first = await refreshListing(remote, undefined, {
      nowMs: t0,
      timeoutMs: 10_000,
      ageMattersBelowMs: SETTLE_MS,
    });
    expect(first.reused).toBe(false);
    expect(pages.length).toBe(1);
    expect([...first.rows].map((r) => r.id)).toEqual([files[0]!.id]);
    const listedAge = [...first.rows][0]!.info!.ageMs;
    expect(listedAge).toBeLessThan(SETTLE_MS);
    // Nothing changed: the version alone is asked; the young row is 25 s older, not listed again.
    const second = await refreshListing(remote, first, {
      nowMs: t0 + 25_000,
      timeoutMs: 10_000,
      ageMattersBelowMs: SETTLE_MS,
    });
    expect(second).toMatchObject({ reused: true, fresh: true, askedAtMs: t0 + 25_000, listedAtMs: t0 });
    expect(pages.length).toBe(1);
    expect([...second.rows][0]!.info!.ageMs).toBe(listedAge + 25_000);
    // Aged from the listing, not from the last round: a third round 40 s later adds 40 s in all.
    const third = await refreshListing(remote, second, {
      nowMs: t0 + 40_000,
      timeoutMs: 10_000,
      ageMattersBelowMs: SETTLE_MS,
    });
    expect([...third.rows][0]!.info!.ageMs).toBe(listedAge + 40_000);
    expect([...first.rows][0]!.info!.ageMs).toBe(listedAge); // the listing kept is not changed
    // A wall clock set back before the listing: no time passed, not an error.
    const back = await refreshListing(remote, third, {
      nowMs: t0 - 5_000,
      timeoutMs: 10_000,
      ageMattersBelowMs: SETTLE_MS,
    });
    expect([back.reused, [...back.rows][0]!.info!.ageMs]).toEqual([true, listedAge]);
    // A row already past the age that matters is left at its listed age.
    const old = await refreshListing(remote, third, {
      nowMs: t0 + 50_000,
      timeoutMs: 10_000,
      ageMattersBelowMs: listedAge,
    });
    expect([...old.rows][0]).toEqual(third.listed.at(0));
    expect(third.listed.at(0).info!.ageMs).toBe(listedAge);
    // A put: listed whole again, with the new shard.
    await remote.put(files[1]!.id, files[1]!.bytes);
    const fourth = await refreshListing(remote, third, {
      nowMs: t0 + 60_000,
      timeoutMs: 10_000,
      ageMattersBelowMs: SETTLE_MS,
    });
    expect(fourth.reused).toBe(false);
    expect(pages.length).toBe(2);
    expect([...fourth.rows].map((r) => r.id).sort()).toEqual([files[0]!.id, files[1]!.id].sort());
  });

  it('decodes rows with the stripe ids and owners shared through the caller’s interner', async () => {
    const remote = new RemoteShardStore(client.node, holder.id);
    const seen: string[] = [];
    const rows = await remote.listDetailed(null, {
      intern: (text) => {
        seen.push(text);
        return text;
      },
    });
    expect(rows.length).toBeGreaterThan(0);
    const named = rows.flatMap((r) => (r.info === null ? [] : [r.info.stripeId, r.info.owner]));
    expect(seen).toEqual(named);
  });

  it('lists a member that keeps no version every round', async () => {
    const remote = new RemoteShardStore(client.node, plain.id);
    const bytes = randomBytes(1000);
    const id = (await import('node:crypto')).createHash('sha256').update(bytes).digest('hex');
    await remote.put(id, bytes);
    expect(await remote.listVersion()).toBeNull();
    // Without details the listing itself is refused by this member; what matters here is that
    // the version is not taken for one: each round asks for the listing.
    const source = {
      listVersion: (o: { timeoutMs?: number }) => remote.listVersion(o),
      calls: 0,
      async listEach(_owner: null, visit: (row: { id: string; info: null }) => void) {
        this.calls++;
        for (const x of await remote.list()) visit({ id: x, info: null });
      },
    };
    const options = { nowMs: Date.now(), timeoutMs: 10_000, ageMattersBelowMs: SETTLE_MS };
    const a = await refreshListing(source, undefined, options);
    const b = await refreshListing(source, a, options);
    expect([a.reused, b.reused, source.calls]).toEqual([false, false, 2]);
    expect([...b.rows]).toEqual([{ id, info: null }]);
  });

  it('refuses a malformed version answer as an error (never as unchanged), and a malformed request', async () => {
    const remote = new RemoteShardStore(client.node, faulty.id);
    for (const bad of [
      { epoch: '', changes: 1 },
      { epoch: 'e'.repeat(33), changes: 1 },
      { epoch: 'abc', changes: 1.5 },
      { epoch: 'abc', changes: -1 },
    ]) {
      badVersion = bad;
      const error = await remote.listVersion().catch((e: unknown) => e);
      expect(error, JSON.stringify(bad)).toBeInstanceOf(ShardStoreError);
      expect((error as ShardStoreError).code).toBe('io');
    }
    const stream = await client.node.dialProtocol(holder.node.getMultiaddrs()[0]!, SHARD_PROTOCOL);
    await sendBytes(stream, encodeMessage(SHARD_MSG.listVersion, ['extra']));
    const answer = await new FrameReader(stream, 5000).readMessage(4096).catch((e: unknown) => e);
    expect(String(answer)).toMatch(/list version/);
    // The holder goes on answering.
    expect(await new RemoteShardStore(client.node, holder.id).listVersion()).not.toBeNull();
  });
});
