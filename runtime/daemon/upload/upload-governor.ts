/**
 * One gate for every byte this member uploads to others (backup puts and repair transfers): the
 * cap of the upload schedule in force now (engine/upload-schedule.ts, from the config's `upload`
 * and `uploadWindows`) as a token bucket, and a pause from `pb-node pause` (for a while or until
 * `pb-node resume`). A pause lives in memory: a restarted daemon uploads again.
 */
import {
  type UploadCapNow,
  type UploadSchedule,
  uploadCapAt,
  validateUploadSchedule,
} from '../../../engine/index.ts';
import { type Clock, TokenBucket } from './token-bucket.ts';

/** Anything that makes a sender wait before `bytes` go out. */
export interface ByteGate {
  take(bytes: number): Promise<void>;
}

/** A pause lasts at most this long (a week); `pause` without a duration means this. */
export const MAX_PAUSE_MS = 7 * 24 * 3600_000;
/** A paused take looks again this often (so a resume or the pause's end lets it go promptly). */
const PAUSE_POLL_MS = 250;

export interface GovernorClock extends Clock {
  /** Minute of the local day, 0..1439. */
  minuteOfDay(): number;
}

const realClock: GovernorClock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  minuteOfDay: () => {
    const d = new Date();
    return d.getHours() * 60 + d.getMinutes();
  },
};

export interface UploadState extends UploadCapNow {
  /** When the pause ends by itself (ms since the epoch); null when not paused. */
  readonly pausedUntilMs: number | null;
}

export class UploadGovernor implements ByteGate {
  private bucket: TokenBucket | null = null;
  private pausedUntilMs: number | null = null;

  constructor(
    readonly schedule: UploadSchedule,
    private readonly clock: GovernorClock = realClock,
  ) {
    validateUploadSchedule(schedule);
  }

  /** Pauses uploads for `forMs` (at most MAX_PAUSE_MS; null: that long, or until `resume`). */
  pause(forMs: number | null): UploadState {
    const ms = forMs ?? MAX_PAUSE_MS;
    if (!Number.isSafeInteger(ms) || ms < 1 || ms > MAX_PAUSE_MS)
      throw new Error(`a pause lasts from 1 ms to ${MAX_PAUSE_MS / 86_400_000} days, got ${forMs} ms`);
    this.pausedUntilMs = this.clock.now() + ms;
    return this.state();
  }

  resume(): UploadState {
    this.pausedUntilMs = null;
    return this.state();
  }

  private paused(): boolean {
    if (this.pausedUntilMs !== null && this.clock.now() >= this.pausedUntilMs) this.pausedUntilMs = null;
    return this.pausedUntilMs !== null;
  }

  state(): UploadState {
    const paused = this.paused();
    return {
      ...uploadCapAt(this.schedule, this.clock.minuteOfDay(), paused),
      pausedUntilMs: paused ? this.pausedUntilMs : null,
    };
  }

  /** Resolves when `bytes` may go out: after any pause, at the cap in force now. */
  async take(bytes: number): Promise<void> {
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw new Error(`cannot take ${bytes} bytes`);
    // Bounded: a pause ends by MAX_PAUSE_MS at the latest.
    while (this.paused()) {
      const leftMs = (this.pausedUntilMs ?? this.clock.now()) - this.clock.now();
      await this.clock.sleep(Math.max(1, Math.min(PAUSE_POLL_MS, leftMs)));
    }
    const cap = uploadCapAt(this.schedule, this.clock.minuteOfDay()).bytesPerSecond;
    if (cap === 0) return;
    if (this.bucket === null || this.bucket.bytesPerSecond !== cap)
      this.bucket = new TokenBucket(cap, this.clock);
    await this.bucket.take(bytes);
  }
}
