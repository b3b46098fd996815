/**
 * Reusable buffers for shard bodies a holder receives (puts): a body lives only until it is
 * hashed and written, and a fresh 4-8 MiB buffer per put sends the collector through the old
 * generation again and again (a third of a holder's main thread during a group backup). Buffers
 * are whole ArrayBuffers, so the hash thread can take and hand them back (hash-thread.ts); sizes
 * are rounded up to 1 MiB; at most MAX_SPARES wait for reuse, none above MAX_POOLED_BYTES.
 */
const GRAIN_BYTES = 1024 * 1024;
const MAX_POOLED_BYTES = 16 * 1024 * 1024;
const MAX_SPARES = 4;

export class ReceiveBuffers {
  private readonly spares: ArrayBuffer[] = [];

  /** A view of exactly `bytes` (stale contents) over a whole ArrayBuffer of its own. */
  take(bytes: number): Uint8Array {
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw new RangeError(`buffer size ${bytes} is not valid`);
    if (bytes > MAX_POOLED_BYTES || bytes === 0) return new Uint8Array(bytes);
    const size = Math.ceil(bytes / GRAIN_BYTES) * GRAIN_BYTES;
    const i = this.spares.findIndex((s) => s.byteLength === size);
    const memory = i >= 0 ? this.spares.splice(i, 1)[0]! : new ArrayBuffer(size);
    return new Uint8Array(memory, 0, bytes);
  }

  /** Takes back a view's memory once nothing reads it any more (a detached one is ignored). */
  give(view: Uint8Array): void {
    const memory = view.buffer;
    if (!(memory instanceof ArrayBuffer) || memory.byteLength === 0) return;
    if (memory.byteLength > MAX_POOLED_BYTES || memory.byteLength % GRAIN_BYTES !== 0) return;
    if (this.spares.includes(memory)) return;
    this.spares.push(memory);
    if (this.spares.length > MAX_SPARES) this.spares.shift();
  }

  get spareCount(): number {
    return this.spares.length;
  }
}
