/**
 * Free space for a pledge's reservation (engine/reservation-room.ts decides; this reads the
 * filesystem and words the refusal). Free means free to this user (`bavail`), what `df` shows.
 */
import * as fs from 'node:fs';
import { dirname, resolve } from 'node:path';
import { type ReservationRoom, reservationRoom } from '../../engine/index.ts';
import { formatSize } from '../daemon/units.ts';

/** Path components walked up to find an existing ancestor (a path has fewer). */
const MAX_PATH_DEPTH = 4096;

/** Bytes free on the filesystem that holds `path`, or would hold it (its nearest existing ancestor). */
export function freeBytesAt(path: string): number {
  let p = resolve(path);
  for (let depth = 0; depth < MAX_PATH_DEPTH; depth++) {
    try {
      const s = fs.statfsSync(p);
      return s.bavail * s.bsize;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(p) === p) throw error;
      p = dirname(p);
    }
  }
  throw new Error(`no existing directory above ${path}`);
}

/** `280.0 MiB (293601280 bytes)`. */
export const sizeAndBytes = (bytes: number): string => `${formatSize(bytes)} (${bytes} bytes)`;

/** Room for a reservation of `askedBytes` at `path` whose file already holds `heldBytes`. */
export function roomAt(path: string, askedBytes: number, heldBytes: number): ReservationRoom {
  return reservationRoom(askedBytes, heldBytes, freeBytesAt(path));
}

/** Why a room does not fit, in words: what was asked, what is free, what is held. */
export function describeNoRoom(room: ReservationRoom, where: string): string {
  const held =
    room.heldBytes > 0 ? `, besides the ${sizeAndBytes(room.heldBytes)} the reservation already holds` : '';
  return `${sizeAndBytes(room.askedBytes)} asked at ${where}, but only ${sizeAndBytes(room.freeBytes)} free there${held}`;
}
