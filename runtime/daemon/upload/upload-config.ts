/**
 * The config's `upload` and `uploadWindows` keys as an UploadSchedule (engine/upload-schedule.ts):
 *   upload = "2MB/s"                                   (or "off", or a number of bytes per second)
 *   uploadWindows = [{"hours": "22:00-07:00", "upload": "10MB/s"}]
 * Checked here, with a message naming the bad key.
 */
import {
  MAX_UPLOAD_WINDOWS,
  parseUploadHours,
  type UploadSchedule,
  type UploadWindow,
  validateUploadSchedule,
} from '../../../engine/index.ts';
import { formatSize, parseSize } from '../units.ts';

/** "2MB/s", "500KiB/s", "off", "0" or a number -> bytes per second (0: no cap). */
export function parseRate(value: unknown, what: string): number {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0)
      throw new Error(`${what} must be a whole number of bytes per second >= 0, or a text like "2MB/s"`);
    return value;
  }
  if (typeof value !== 'string') throw new Error(`${what} must be a rate like "2MB/s" or "off"`);
  const text = value.trim().toLowerCase();
  if (text === 'off' || text === 'none' || text === '0') return 0;
  const m = /^(.+?)\s*\/\s*s$/.exec(text);
  if (m === null) throw new Error(`${what}: "${value}" is not a rate (examples: "2MB/s", "500KiB/s", "off")`);
  try {
    return parseSize(m[1]!);
  } catch (error) {
    throw new Error(`${what}: ${(error as Error).message}`);
  }
}

export function formatRate(bytesPerSecond: number): string {
  return bytesPerSecond === 0 ? 'no cap' : `${formatSize(bytesPerSecond)}/s`;
}

export function parseUploadConfig(upload: unknown, windows: unknown): UploadSchedule {
  const bytesPerSecond = parseRate(upload, 'upload');
  if (!Array.isArray(windows))
    throw new Error('uploadWindows must be a list like [{"hours": "22:00-07:00", "upload": "10MB/s"}]');
  if (windows.length > MAX_UPLOAD_WINDOWS) throw new Error(`uploadWindows: at most ${MAX_UPLOAD_WINDOWS}`);
  const out: UploadWindow[] = windows.map((w, i) => {
    const where = `uploadWindows[${i}]`;
    if (w === null || typeof w !== 'object' || Array.isArray(w))
      throw new Error(`${where} must be {"hours": "22:00-07:00", "upload": "10MB/s"}`);
    const { hours, upload: cap, ...rest } = w as Record<string, unknown>;
    const extra = Object.keys(rest);
    if (extra.length > 0) throw new Error(`${where}: unknown setting "${extra[0]}"`);
    if (typeof hours !== 'string') throw new Error(`${where}.hours must be a text like "22:00-07:00"`);
    try {
      return { ...parseUploadHours(hours), bytesPerSecond: parseRate(cap, `${where}.upload`) };
    } catch (error) {
      throw new Error(`${where}: ${(error as Error).message}`);
    }
  });
  const schedule = { bytesPerSecond, windows: out };
  validateUploadSchedule(schedule);
  return schedule;
}

/** "22:00-07:00" for a window. */
export function formatHours(w: UploadWindow): string {
  const hhmm = (m: number): string =>
    `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
  return `${hhmm(w.startMinute)}-${hhmm(w.endMinute)}`;
}
