/**
 * The upload schedule: which cap applies to a member's uploads (backups and repairs together) at
 * a given minute of the local day. A base cap, and time windows with caps of their own; the first
 * window that contains the minute wins. A window may wrap midnight ("22:00-07:00").
 *
 * Pure: the caller gives the minute of the day (0..1439, local time) and the pause state.
 */
import { EngineError } from './errors.ts';

/** Bound on windows in one schedule (a day has 24 hours; more is a typo). */
export const MAX_UPLOAD_WINDOWS = 24;
export const MINUTES_PER_DAY = 24 * 60;

export interface UploadWindow {
  /** First minute of the day inside the window (0..1439). */
  readonly startMinute: number;
  /** First minute of the day after the window (0..1439); below `startMinute`: wraps midnight. */
  readonly endMinute: number;
  /** Cap inside the window, bytes per second on the wire; 0: no cap. */
  readonly bytesPerSecond: number;
}

export interface UploadSchedule {
  /** Cap outside every window, bytes per second on the wire; 0: no cap. */
  readonly bytesPerSecond: number;
  readonly windows: readonly UploadWindow[];
}

export const NO_UPLOAD_CAP: UploadSchedule = { bytesPerSecond: 0, windows: [] };

export interface UploadCapNow {
  /** 0: no cap. Meaningless while paused. */
  readonly bytesPerSecond: number;
  /** Index of the window in force, or null for the base cap. */
  readonly window: number | null;
  /** Minutes until the cap in force may change (the next window edge); null: never. */
  readonly minutesToChange: number | null;
  readonly paused: boolean;
}

function requireRate(bytesPerSecond: number, what: string): void {
  if (!Number.isSafeInteger(bytesPerSecond) || bytesPerSecond < 0)
    throw new EngineError('invalid-argument', `${what} must be a whole number of bytes per second >= 0`);
}

function requireMinute(minute: number, what: string): void {
  if (!Number.isInteger(minute) || minute < 0 || minute >= MINUTES_PER_DAY)
    throw new EngineError('invalid-argument', `${what} must be a minute of the day (0..1439), got ${minute}`);
}

/** Throws an EngineError naming the first thing wrong with the schedule. */
export function validateUploadSchedule(schedule: UploadSchedule): void {
  requireRate(schedule.bytesPerSecond, 'the upload cap');
  if (schedule.windows.length > MAX_UPLOAD_WINDOWS)
    throw new EngineError('invalid-argument', `at most ${MAX_UPLOAD_WINDOWS} upload windows`);
  schedule.windows.forEach((w, i) => {
    requireMinute(w.startMinute, `upload window ${i + 1}'s start`);
    requireMinute(w.endMinute, `upload window ${i + 1}'s end`);
    if (w.startMinute === w.endMinute)
      throw new EngineError('invalid-argument', `upload window ${i + 1} is empty (it starts where it ends)`);
    requireRate(w.bytesPerSecond, `upload window ${i + 1}'s cap`);
  });
}

/** Whether `minute` lies in [start, end) on the clock face (wrapping midnight). */
export function windowContains(w: UploadWindow, minute: number): boolean {
  return w.startMinute < w.endMinute
    ? minute >= w.startMinute && minute < w.endMinute
    : minute >= w.startMinute || minute < w.endMinute;
}

/** Minutes from `minute` forward to `edge` (1..1440: an edge at `minute` itself is a day away). */
function minutesUntil(minute: number, edge: number): number {
  const d = (edge - minute + MINUTES_PER_DAY) % MINUTES_PER_DAY;
  return d === 0 ? MINUTES_PER_DAY : d;
}

/** The cap in force at `minuteOfDay` (local time), and how long it holds. */
export function uploadCapAt(schedule: UploadSchedule, minuteOfDay: number, paused = false): UploadCapNow {
  validateUploadSchedule(schedule);
  requireMinute(minuteOfDay, 'the minute of the day');
  const index = schedule.windows.findIndex((w) => windowContains(w, minuteOfDay));
  const bytesPerSecond = index < 0 ? schedule.bytesPerSecond : schedule.windows[index]!.bytesPerSecond;
  let minutesToChange: number | null = null;
  for (const w of schedule.windows) {
    for (const edge of [w.startMinute, w.endMinute]) {
      const d = minutesUntil(minuteOfDay, edge);
      if (minutesToChange === null || d < minutesToChange) minutesToChange = d;
    }
  }
  const out: UploadCapNow = { bytesPerSecond, window: index < 0 ? null : index, minutesToChange, paused };
  if (out.minutesToChange !== null && (out.minutesToChange < 1 || out.minutesToChange > MINUTES_PER_DAY))
    throw new Error(`invariant: minutes to the next upload window edge out of range: ${out.minutesToChange}`);
  return out;
}

/** "22:00-07:00" -> the window's minutes; throws an EngineError naming the text otherwise. */
export function parseUploadHours(text: string): { startMinute: number; endMinute: number } {
  const m = /^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$/.exec(text);
  const minute = (h: string, mm: string): number => Number(h) * 60 + Number(mm);
  if (m === null || Number(m[1]) > 23 || Number(m[3]) > 24 || Number(m[2]) > 59 || Number(m[4]) > 59)
    throw new EngineError('invalid-argument', `"${text}" is not a span of hours (example: "22:00-07:00")`);
  const startMinute = minute(m[1]!, m[2]!);
  const endMinute = minute(m[3]!, m[4]!) % MINUTES_PER_DAY;
  if (startMinute === endMinute)
    throw new EngineError('invalid-argument', `"${text}" is empty: it starts where it ends`);
  return { startMinute, endMinute };
}

/** The data (before redundancy) that a wire cap lets through: k of every k+m shard bytes. */
export function dataRateUnderCap(
  wireBytesPerSecond: number,
  dataShards: number,
  parityShards: number,
): number {
  requireRate(wireBytesPerSecond, 'the upload cap');
  if (!Number.isInteger(dataShards) || dataShards < 1 || !Number.isInteger(parityShards) || parityShards < 0)
    throw new EngineError(
      'invalid-argument',
      `a code needs k >= 1 and m >= 0, got ${dataShards}+${parityShards}`,
    );
  return (wireBytesPerSecond * dataShards) / (dataShards + parityShards);
}
