/**
 * The pledge reservation (docs/design.md §7): a file that really holds the pledged space on disk
 * (`fallocate`, never a sparse `truncate`), so other data cannot eat what was promised. It shrinks
 * as shards arrive and grows back as they leave: `size = pledgeBytes - storedBytes`, always.
 *
 * Where the filesystem cannot fallocate, the file is written out with zeros instead (slow, but
 * just as real) and `mode` says so, with a warning through `onWarning`.
 *
 * Growing never fills the disk: the free space is checked first (counting what the file already
 * holds), and a growth that fails all the same (another writer took the space meanwhile) is
 * undone, the file back at its old size, before the error is thrown (`no-space`, with `room`).
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import { promisify } from 'node:util';
import type { ReservationRoom } from '../../engine/index.ts';
import { describeNoRoom, roomAt } from './free-space.ts';

const execFileAsync = promisify(execFile);

export type ReservationMode = 'fallocate' | 'written';
/** Zero-fill chunk when fallocate is not available. */
const FILL_CHUNK_BYTES = 4 * 1024 * 1024;

export class ReservationError extends Error {
  readonly code: 'io' | 'no-space';
  /** For `no-space`: what was asked, held and free when the growth was refused. */
  readonly room: ReservationRoom | null;
  constructor(
    code: 'io' | 'no-space',
    message: string,
    options?: { cause?: unknown; room?: ReservationRoom },
  ) {
    super(message, options);
    this.name = 'ReservationError';
    this.code = code;
    this.room = options?.room ?? null;
  }
}

export class Reservation {
  private queue: Promise<unknown> = Promise.resolve();
  /** The size the queued resizes lead to (updated at once, so concurrent shrinks add up). */
  private targetBytes = 0;

  private constructor(
    readonly path: string,
    private sizeBytes: number,
    private modeUsed: ReservationMode,
    private readonly onWarning: (text: string) => void,
  ) {}

  /** Opens (or creates) the reservation file and makes it exactly `sizeBytes`, really allocated. */
  static async open(
    path: string,
    sizeBytes: number,
    onWarning: (text: string) => void = (t) => process.stderr.write(`warning: ${t}\n`),
  ): Promise<Reservation> {
    const r = new Reservation(path, -1, 'fallocate', onWarning);
    await r.resize(sizeBytes);
    return r;
  }

  get bytes(): number {
    return this.sizeBytes;
  }

  get mode(): ReservationMode {
    return this.modeUsed;
  }

  /** Bytes the filesystem really allocated to the file (st_blocks x 512). */
  async allocatedBytes(): Promise<number> {
    const stat = await fs.stat(this.path);
    return stat.blocks * 512;
  }

  /** Sets the file to `sizeBytes`, allocated; serialized with other resizes. */
  resize(sizeBytes: number): Promise<void> {
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes < 0) {
      return Promise.reject(
        new ReservationError('io', `a reservation is a whole number of bytes >= 0, got ${sizeBytes}`),
      );
    }
    this.targetBytes = sizeBytes;
    const run = this.queue.then(() => this.apply(sizeBytes));
    this.queue = run.catch(() => {
      // Failed and nothing queued after it: the target is the size the file kept.
      if (this.targetBytes === sizeBytes) this.targetBytes = Math.max(0, this.sizeBytes);
    });
    return run;
  }

  /** Gives `bytes` back to the filesystem (a shard is about to be written). */
  shrinkBy(bytes: number): Promise<void> {
    return this.resize(Math.max(0, this.targetBytes - bytes));
  }

  /** Takes `bytes` back (a shard left, or a write failed). */
  growBy(bytes: number): Promise<void> {
    return this.resize(this.targetBytes + bytes);
  }

  private async apply(sizeBytes: number): Promise<void> {
    const handle = await fs.open(this.path, 'a+', 0o600);
    try {
      const stat = await handle.stat();
      const current = stat.size;
      if (sizeBytes < current || sizeBytes === 0) {
        await handle.truncate(sizeBytes);
      } else if (sizeBytes > current || this.sizeBytes < 0) {
        await handle.close().catch(() => undefined);
        const room = roomAt(this.path, sizeBytes, Math.min(sizeBytes, stat.blocks * 512));
        if (!room.fits)
          throw new ReservationError('no-space', `cannot reserve: ${describeNoRoom(room, this.path)}`, {
            room,
          });
        try {
          await this.allocate(sizeBytes, current);
        } catch (error) {
          await this.undoGrowth(current);
          if (!(error instanceof ReservationError) || error.code !== 'no-space') throw error;
          const held = Math.min(sizeBytes, (await fs.stat(this.path)).blocks * 512);
          const after = roomAt(this.path, sizeBytes, held);
          throw new ReservationError('no-space', `cannot reserve: ${describeNoRoom(after, this.path)}`, {
            cause: error,
            room: after,
          });
        }
        this.sizeBytes = sizeBytes;
        return;
      }
      await handle.sync();
      this.sizeBytes = sizeBytes;
    } finally {
      await handle.close().catch(() => undefined);
    }
  }

  /**
   * Back to `sizeBytes` after a failed growth, every block past it freed: up one byte and down
   * again, because shrinking is what makes a filesystem drop blocks a failed fallocate left
   * allocated past the end of the file.
   */
  private async undoGrowth(sizeBytes: number): Promise<void> {
    try {
      await fs.truncate(this.path, sizeBytes + 1);
      await fs.truncate(this.path, sizeBytes);
    } catch (error) {
      this.onWarning(`cannot give back a failed reservation at ${this.path}: ${String(error)}`);
    }
  }

  private async allocate(sizeBytes: number, currentBytes: number): Promise<void> {
    if (this.modeUsed === 'fallocate') {
      try {
        await execFileAsync('fallocate', ['-l', String(sizeBytes), this.path]);
        return;
      } catch (error) {
        const text = String((error as { stderr?: string }).stderr ?? error);
        if (/No space left/i.test(text)) {
          throw new ReservationError(
            'no-space',
            `cannot reserve ${sizeBytes} bytes at ${this.path}: no space left on the device`,
            { cause: error },
          );
        }
        this.modeUsed = 'written';
        this.onWarning(
          `fallocate is not available for ${this.path} (${text.trim().slice(0, 200)}); writing the reservation out with zeros instead`,
        );
      }
    }
    const handle = await fs.open(this.path, 'r+');
    try {
      const zeros = new Uint8Array(FILL_CHUNK_BYTES);
      for (let offset = currentBytes; offset < sizeBytes; offset += FILL_CHUNK_BYTES) {
        const n = Math.min(FILL_CHUNK_BYTES, sizeBytes - offset);
        await handle.write(zeros, 0, n, offset);
      }
      await handle.sync();
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code === 'ENOSPC' ? 'no-space' : 'io';
      throw new ReservationError(
        code,
        `cannot reserve ${sizeBytes} bytes at ${this.path}: ${String(error)}`,
        { cause: error },
      );
    } finally {
      await handle.close();
    }
  }
}
