/**
 * What a holder keeps for owners no longer in the group (shard-catalog.ts `bytesForNonMembers`,
 * the status report's `pledge.formerMembersBytes`): counted per owner as shards come and go, over
 * a real store; unknown (null) until every trailer has been read; in the status words.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { deriveMemberKeys, memberIdFromPublicKey } from '../../../engine/index.ts';
import { CatalogBackend, ShardCatalog } from '../../../runtime/daemon/shards/shard-catalog.ts';
import { buildShards } from '../../../runtime/pipeline/shard-format.ts';
import { PledgedShardStore } from '../../../runtime/store/pledged-shard-store.ts';

const MiB = 1024 * 1024;
const identity = (n: number): { id: string; hex: string } => {
  const keys = deriveMemberKeys(new Uint8Array(32).fill(n));
  return { id: memberIdFromPublicKey(keys.publicKey), hex: Buffer.from(keys.publicKey).toString('hex') };
};

describe('bytes held for former members', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });

  it('counts each owner’s shard files as they come and go, and says null until the catalog is read', async () => {
    const dir = fs.mkdtempSync(join(tmpdir(), 'pb-former-'));
    dirs.push(dir);
    const store = await PledgedShardStore.open(join(dir, 'store'), { pledgeBytes: 64 * MiB, durable: false });
    const stay = identity(41);
    const gone = identity(42);
    const put = async (backend: CatalogBackend, owner: string, stripe: number, bodyBytes: number) => {
      const files = buildShards(`${owner}/${stripe}/0`, owner, 2, 1, [
        randomBytes(bodyBytes),
        randomBytes(bodyBytes),
        randomBytes(bodyBytes),
      ]);
      for (const f of files) await backend.putFrom('peer', f.id, f.bytes);
      return files;
    };
    const first = new CatalogBackend(store, new ShardCatalog(store), async () => undefined);
    const kept = await put(first, stay.hex, 1, 4096);
    const formers = [...(await put(first, gone.hex, 1, 8192)), ...(await put(first, gone.hex, 2, 1000))];
    const formerBytes = formers.reduce((n, f) => n + f.bytes.length, 0);
    const isMember = (id: string): boolean => id === stay.id;

    // A daemon restarted over the same store: nothing is known until the trailers are read.
    const catalog = new ShardCatalog(store);
    const backend = new CatalogBackend(store, catalog, async () => undefined);
    expect(catalog.bytesForNonMembers(isMember)).toBeNull();
    await catalog.load();
    expect(catalog.bytesForNonMembers(isMember)).toBe(formerBytes);
    expect(catalog.bytesForNonMembers(() => true)).toBe(0);
    // Every owner a former member: the whole store.
    expect(catalog.bytesForNonMembers(() => false)).toBe((await store.usage()).usedBytes);

    // Deletes and puts after the load move the count; a shard without a pb trailer counts for nobody.
    await backend.delete(formers[0]!.id);
    expect(catalog.bytesForNonMembers(isMember)).toBe(formerBytes - formers[0]!.bytes.length);
    const more = await put(backend, gone.hex, 3, 2000);
    expect(catalog.bytesForNonMembers(isMember)).toBe(
      formerBytes - formers[0]!.bytes.length + more.reduce((n, f) => n + f.bytes.length, 0),
    );
    const plain = randomBytes(500);
    await backend.putFrom('peer', createHash('sha256').update(plain).digest('hex'), plain);
    expect(catalog.bytesForNonMembers(() => false)).toBe((await store.usage()).usedBytes - plain.length);
    for (const f of kept) await backend.delete(f.id);
    expect(catalog.bytesForNonMembers(() => false)).toBe((await store.usage()).usedBytes - plain.length);
  });
});
