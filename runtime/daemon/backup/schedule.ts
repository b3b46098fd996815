/**
 * When the daemon backs up by itself: the config's `schedule` setting as a period.
 *   "hourly" | "daily" | "off" | a number of minutes (a JSON number or a numeric string),
 *   at least MIN_SCHEDULE_MINUTES (tests use seconds), at most a week.
 */
export const MIN_SCHEDULE_MINUTES = 1 / 60;
export const MAX_SCHEDULE_MINUTES = 7 * 24 * 60;

export class ScheduleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScheduleError';
  }
}

/** The period in milliseconds, or null for "off". */
export function scheduleIntervalMs(schedule: unknown): number | null {
  if (schedule === 'off') return null;
  if (schedule === 'hourly') return 3600_000;
  if (schedule === 'daily') return 24 * 3600_000;
  const minutes =
    typeof schedule === 'number'
      ? schedule
      : typeof schedule === 'string' && /^\d+(\.\d+)?$/.test(schedule.trim())
        ? Number(schedule)
        : Number.NaN;
  if (!Number.isFinite(minutes) || minutes < MIN_SCHEDULE_MINUTES || minutes > MAX_SCHEDULE_MINUTES) {
    throw new ScheduleError(
      `schedule must be "hourly", "daily", "off" or a number of minutes from ${MIN_SCHEDULE_MINUTES.toFixed(3)} to ${MAX_SCHEDULE_MINUTES}, got ${JSON.stringify(schedule)}`,
    );
  }
  return Math.round(minutes * 60_000);
}
