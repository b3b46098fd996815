/**
 * The upload cap and pause in the status report: the section's numbers and words, and the rate
 * an estimate may assume (never above what the cap lets through for today's code).
 */
import { dataRateUnderCap } from '../../../engine/index.ts';
import { formatHours, formatRate } from '../upload/upload-config.ts';
import type { UploadState } from '../upload/upload-governor.ts';

export interface StatusUpload {
  /** Cap in force now on the wire, bytes per second; 0: no cap. */
  readonly capBytesPerSecond: number;
  /** The window in force ("22:00-07:00"), or null for the base cap. */
  readonly window: string | null;
  readonly paused: boolean;
  readonly pausedUntilMs: number | null;
  readonly words: string;
}

export interface UploadInput {
  readonly state: UploadState;
  /** The config's windows, to name the one in force. */
  readonly windows: readonly { readonly startMinute: number; readonly endMinute: number }[];
}

export function uploadSection(input: UploadInput): StatusUpload {
  const s = input.state;
  const w = s.window === null ? null : input.windows[s.window];
  const window = w === undefined || w === null ? null : formatHours({ ...w, bytesPerSecond: 0 });
  const cap = `${formatRate(s.bytesPerSecond)}${window === null ? '' : ` (window ${window})`}`;
  const words = s.paused
    ? `paused until ${new Date(s.pausedUntilMs ?? 0).toISOString().slice(0, 16).replace('T', ' ')} UTC (\`pb-node resume\` resumes); then ${cap}`
    : `cap ${cap}`;
  return {
    capBytesPerSecond: s.bytesPerSecond,
    window,
    paused: s.paused,
    pausedUntilMs: s.pausedUntilMs,
    words,
  };
}

/**
 * The data rate an estimate may assume: the measured one, at most what the cap lets through
 * for a k+m code (every shard crosses the uplink); null while paused or unmeasured.
 */
export function cappedDataRate(
  measured: number | null,
  upload: StatusUpload | null,
  code: { readonly dataShards: number; readonly parityShards: number } | null,
): number | null {
  if (measured === null || upload === null) return measured;
  if (upload.paused) return null;
  if (upload.capBytesPerSecond === 0 || code === null) return measured;
  return Math.min(measured, dataRateUnderCap(upload.capBytesPerSecond, code.dataShards, code.parityShards));
}
