/**
 * `copyBytes`: copies bytes into a buffer that may live in shared memory, at memcpy speed.
 *
 * Why: `TypedArray.prototype.set` (and `Buffer.copy`, which calls it) copies into a
 * SharedArrayBuffer with relaxed atomic stores, one word at a time, because another thread may
 * read the memory meanwhile. A restore lands every shard body it receives in a shared stripe area
 * (pipeline/area-pool.ts) that its workers read in place: that copy was a tenth of the restore's
 * main thread in a group restore (`v8::internal::relaxed_memmove`, 0.37 CPU s per GiB). Node's
 * `Buffer.prototype.fill` with a buffer value copies that value once with memcpy and stops when
 * the range is exactly its length: 3 to 5 times faster here (docs/design.md §6.1). No other thread
 * touches an area while it is being filled (the workers get it only once it is whole), so the
 * plain copy is safe.
 */

/** Copies all of `from` into `into` at byte offset `at`; returns the count copied. */
export function copyBytes(into: Uint8Array, at: number, from: Uint8Array): number {
  const n = from.length;
  if (!Number.isSafeInteger(at) || at < 0 || at + n > into.length)
    throw new RangeError(`copyBytes: ${n} bytes at ${at} do not fit a buffer of ${into.length}`);
  if (n === 0) return 0;
  if (!(into.buffer instanceof SharedArrayBuffer)) {
    into.set(from, at);
    return n;
  }
  const target = Buffer.isBuffer(into) ? into : Buffer.from(into.buffer, into.byteOffset, into.length);
  target.fill(from, at, at + n);
  return n;
}
