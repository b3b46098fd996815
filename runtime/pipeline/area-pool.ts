/**
 * Shared stripe areas, reused (docs/design.md §6.1, "How a restore reads stripes").
 *
 * A restore reads each stripe's k data shards into one SharedArrayBuffer of about 8 MiB. A fresh
 * one each time is new memory: the kernel maps it a 4 KiB page at a time as the reads fill it,
 * and on a virtual machine each such page fault costs about 10 us (21,000 of them on the real
 * tree, a fifth of a second of CPU). Areas given back are kept, a few at most, and handed out
 * again for a stripe that fits.
 *
 * The pool never decides when an area is free: its owner (StripeReader) gives one back only when
 * no cache entry and no lease refers to it.
 */

/** Areas kept for reuse; more are left to the garbage collector. */
export const SPARE_AREAS = 2;
/** New areas are whole multiples of this. */
export const AREA_GRAIN_BYTES = 1 << 20;

function roundUp(bytes: number, grain: number): number {
  return Math.ceil(bytes / grain) * grain;
}

export class AreaPool {
  private readonly spares: SharedArrayBuffer[] = [];
  /** The areas this pool made (only those come back). */
  private readonly made = new WeakSet<ArrayBufferLike>();

  /**
   * An area of exactly `bytes` (stale contents): a view of the smallest spare that holds it (and
   * wastes at most half of itself), or of new memory rounded up to a whole MiB (stripes differ in
   * size by a few KiB: their shards are cut to what they hold).
   */
  take(bytes: number): Buffer {
    if (!Number.isSafeInteger(bytes) || bytes <= 0)
      throw new Error(`area size ${bytes} is not a positive integer`);
    let best = -1;
    this.spares.forEach((s, i) => {
      if (
        s.byteLength >= bytes &&
        s.byteLength <= 2 * bytes &&
        (best < 0 || s.byteLength < this.spares[best]!.byteLength)
      )
        best = i;
    });
    const memory =
      best >= 0 ? this.spares.splice(best, 1)[0]! : new SharedArrayBuffer(roundUp(bytes, AREA_GRAIN_BYTES));
    this.made.add(memory);
    return Buffer.from(memory, 0, bytes);
  }

  /** Takes back an area this pool made, once nothing reads it any more; others are ignored. */
  give(area: Buffer): void {
    const memory = area.buffer;
    if (!this.made.has(memory) || this.spares.includes(memory as SharedArrayBuffer)) return;
    this.spares.push(memory as SharedArrayBuffer);
    if (this.spares.length > SPARE_AREAS) this.spares.shift();
  }

  /** Spares held now (tests). */
  get spareCount(): number {
    return this.spares.length;
  }
}
