/**
 * Whether a pledge's reservation fits the disk (docs/design.md §7): growing the reservation file
 * to `askedBytes` takes only what it does not already hold from the filesystem's free space. A
 * reservation that does not fit is refused before anything is allocated, so a pledge larger
 * than the disk never fills the disk.
 */
import { EngineError } from './errors.ts';

export interface ReservationRoom {
  /** The size the reservation file is asked to reach. */
  readonly askedBytes: number;
  /** Bytes the reservation file already holds on disk. */
  readonly heldBytes: number;
  /** Bytes free to this user on the reservation's filesystem. */
  readonly freeBytes: number;
  /** Bytes the filesystem must still give: askedBytes - heldBytes, at least 0. */
  readonly neededBytes: number;
  readonly fits: boolean;
}

const wholeBytes = (name: string, v: number): void => {
  if (!Number.isSafeInteger(v) || v < 0)
    throw new EngineError('invalid-argument', `${name} must be a whole number of bytes >= 0, got ${v}`);
};

export function reservationRoom(askedBytes: number, heldBytes: number, freeBytes: number): ReservationRoom {
  wholeBytes('askedBytes', askedBytes);
  wholeBytes('heldBytes', heldBytes);
  wholeBytes('freeBytes', freeBytes);
  const neededBytes = Math.max(0, askedBytes - heldBytes);
  return { askedBytes, heldBytes, freeBytes, neededBytes, fits: neededBytes <= freeBytes };
}
