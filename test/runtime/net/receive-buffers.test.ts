/**
 * The holder's reusable receive buffers (receive-buffers.ts) with the hash thread that moves
 * their memory away and back: the hash is of the view's bytes only, the memory comes back whole
 * and is reused, detached or foreign memory is not taken, and the spares stay bounded.
 */
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sha256OffThread } from '../../../runtime/crypto/hash-thread.ts';
import { ReceiveBuffers } from '../../../runtime/net/receive-buffers.ts';

const MiB = 1024 * 1024;

describe('receive buffers', () => {
  it('hash a pooled view off-thread, come back whole, and are reused for the next body', async () => {
    const buffers = new ReceiveBuffers();
    const body = randomBytes(3 * MiB + 5);
    const view = buffers.take(body.length);
    expect(view.length).toBe(body.length);
    expect(view.buffer.byteLength).toBe(4 * MiB);
    view.set(body);
    const memory = view.buffer;
    const { bytes, sha256 } = await sha256OffThread(view);
    expect(sha256).toBe(createHash('sha256').update(body).digest('hex'));
    expect(view.buffer.byteLength).toBe(0); // moved to the worker: the old view is detached
    expect(Buffer.from(bytes).equals(body)).toBe(true);
    expect(bytes.buffer.byteLength).toBe(4 * MiB);
    buffers.give(view); // detached: ignored
    expect(buffers.spareCount).toBe(0);
    buffers.give(bytes);
    expect(buffers.spareCount).toBe(1);
    const next = buffers.take(3 * MiB + 100);
    expect(next.buffer).toBe(bytes.buffer);
    expect(next.buffer).not.toBe(memory);
    expect(buffers.spareCount).toBe(0);
  });

  it('keep at most four spares, none above 16 MiB, and never memory they could not have made', () => {
    const buffers = new ReceiveBuffers();
    const views = Array.from({ length: 6 }, () => buffers.take(2 * MiB));
    for (const v of views) buffers.give(v);
    expect(buffers.spareCount).toBe(4);
    buffers.give(buffers.take(4 * MiB)); // a fifth: the oldest goes
    expect(buffers.spareCount).toBe(4);
    const big = buffers.take(17 * MiB);
    expect(big.buffer.byteLength).toBe(17 * MiB);
    buffers.give(big);
    buffers.give(Buffer.alloc(1000)); // a Node pool slice: not whole MiB
    buffers.give(new Uint8Array(new SharedArrayBuffer(MiB)));
    expect(buffers.spareCount).toBe(4);
    expect(buffers.take(0).length).toBe(0);
    expect(() => buffers.take(-1)).toThrow(/not valid/);
  });
});
