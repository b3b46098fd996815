import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPEN_POLICY } from '../../../runtime/net/access.ts';
import { RemoteShardStore } from '../../../runtime/net/remote-shard-store.ts';
import { serveShards } from '../../../runtime/net/shard-protocol.ts';
import { WIDE_YAMUX_PROTOCOL, wideCredit } from '../../../runtime/net/wide-yamux.ts';
import { PledgedShardStore } from '../../../runtime/store/pledged-shard-store.ts';
import { type TestNode, testNode } from './_helpers.ts';

const MiB = 1024 * 1024;
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

describe('the wide-window yamux muxer (negotiated, with a fallback to plain yamux)', () => {
  let dir: string;
  let holder: TestNode;
  let current: TestNode;
  let older: TestNode;

  beforeAll(async () => {
    dir = await fs.mkdtemp(join(tmpdir(), 'pb-wide-yamux-'));
    holder = await testNode(() => OPEN_POLICY);
    current = await testNode(() => OPEN_POLICY);
    older = await testNode(() => OPEN_POLICY, { wideYamux: false });
    const store = await PledgedShardStore.open(join(dir, 'pledged'), { pledgeBytes: 64 * MiB });
    await serveShards(holder.node, () => OPEN_POLICY, store);
  });

  afterAll(async () => {
    await Promise.all([holder.node.stop(), current.node.stop(), older.node.stop()]);
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('two current members pick it; a member without it gets plain yamux; 8 MiB shards round-trip on both', async () => {
    const addr = holder.node.getMultiaddrs()[0]!;
    const wide = await current.node.dial(addr);
    const plain = await older.node.dial(addr);
    expect(wide.multiplexer).toBe(WIDE_YAMUX_PROTOCOL);
    expect(plain.multiplexer).toBe('/yamux/1.0.0');
    for (const client of [current, older]) {
      const creditBefore = { ...wideCredit };
      const remote = new RemoteShardStore(client.node, holder.id);
      // Several bodies larger than the window, in flight at once.
      const shards = Array.from({ length: 3 }, () => randomBytes(8 * MiB));
      await Promise.all(shards.map((b) => remote.put(sha(b), b)));
      const back = await Promise.all(shards.map((b) => remote.get(sha(b))));
      for (const [i, b] of back.entries()) expect(Buffer.from(b).equals(shards[i]!)).toBe(true);
      for (const b of shards) await remote.delete(sha(b));
      const sent = wideCredit.sent - creditBefore.sent;
      const heldBack = wideCredit.heldBack - creditBefore.heldBack;
      if (client === older) expect({ sent, heldBack }).toEqual({ sent: 0, heldBack: 0 });
      else {
        // 48 MiB crossed (3 x 8 MiB each way): three updates per 8 MiB (one per 2 MiB and a
        // frame spent) and the acknowledgement that opens each stream; never fewer than one per
        // 4 MiB window (the sender would stall), not one per data frame (256 KiB writes, more
        // than 190 frames; frames queued together may arrive as one larger frame).
        expect(sent).toBeGreaterThanOrEqual(12);
        expect(sent).toBeLessThanOrEqual(36);
      }
    }
  }, 120_000);
});
