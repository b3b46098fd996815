/**
 * Bandwidth: every transfer reserves the sender's upload and the receiver's download in order
 * (one transfer at a time per direction), at min(upload, download) bytes per second.
 */
import type { Member } from './model.ts';

export class Links {
  constructor(
    private readonly uploadBytesPerSecond: number,
    private readonly downloadBytesPerSecond: number,
  ) {}

  /** When a transfer of `bytes` would end, given when the two ends are free. */
  endMs(upFreeAtMs: number, downFreeAtMs: number, bytes: number, notBeforeMs: number): number {
    const start = Math.max(notBeforeMs, upFreeAtMs, downFreeAtMs);
    return start + (bytes / Math.min(this.uploadBytesPerSecond, this.downloadBytesPerSecond)) * 1000;
  }

  /** Reserve sender upload and receiver download for one transfer; returns its end time. */
  reserve(from: Member, to: Member, bytes: number, notBeforeMs: number): number {
    const end = this.endMs(from.upFreeAtMs, to.downFreeAtMs, bytes, notBeforeMs);
    from.upFreeAtMs = end;
    to.downFreeAtMs = end;
    return end;
  }

  /**
   * A repair's read phase: the sources send one shard each to the repairer at once (each on its
   * own upload, sharing the repairer's download). Returns when it would end; reserves nothing.
   */
  readEndMs(repairer: Member, sources: readonly Member[], shardBytes: number, nowMs: number): number {
    if (sources.length === 0) return nowMs;
    let start = Math.max(nowMs, repairer.downFreeAtMs);
    for (const src of sources) start = Math.max(start, src.upFreeAtMs);
    const seconds = Math.max(
      (sources.length * shardBytes) / this.downloadBytesPerSecond,
      shardBytes / this.uploadBytesPerSecond,
    );
    return start + seconds * 1000;
  }
}
