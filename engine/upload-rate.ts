/**
 * The upload rate behind "done in about ..." (docs/status.md, "Upload rate"): the backups' own
 * average over enough data to mean something, never a trickle.
 *
 * Stripe commits (time, data bytes) are cut into runs where two commits are more than
 * `RUN_GAP_MS` apart (a run is one backup's upload). Starting from the newest run, whole runs are
 * added until they hold `MIN_SAMPLE_BYTES` or `MAX_SAMPLE_MS` of upload time; the rate is their
 * bytes over their time (each run's first stripe was sent before its commit time and counts only
 * as the run's start). Fewer bytes than that, or less than `MIN_SAMPLE_MS` of upload: no rate
 * ("unknown" is an answer). A small incremental backup thus never sets the rate on its own.
 */
export const RUN_GAP_MS = 60_000;
export const MIN_SAMPLE_BYTES = 8 * 1024 * 1024;
export const MIN_SAMPLE_MS = 2_000;
export const MAX_SAMPLE_MS = 10 * 60_000;
/** Commits looked at (newest first); bounds the work. */
export const MAX_RATE_COMMITS = 100_000;

export interface StripeCommit {
  readonly atMs: number;
  readonly dataBytes: number;
}

/** The sample the rate is taken over: data bytes sent and the upload time they took. */
export interface UploadSample {
  readonly bytes: number;
  readonly spanMs: number;
}

/** The sample behind the rate, or null when the commits do not tell. `commits` in any order. */
export function uploadSample(commits: readonly StripeCommit[]): UploadSample | null {
  const sorted = commits
    .filter((c) => Number.isFinite(c.atMs) && Number.isFinite(c.dataBytes) && c.dataBytes >= 0)
    .sort((a, b) => b.atMs - a.atMs)
    .slice(0, MAX_RATE_COMMITS);
  let bytes = 0;
  let spanMs = 0;
  let i = 0;
  while (i < sorted.length && bytes < MIN_SAMPLE_BYTES && spanMs < MAX_SAMPLE_MS) {
    // One run, newest commit first: sorted[i] .. sorted[j - 1].
    let j = i + 1;
    while (j < sorted.length && sorted[j - 1]!.atMs - sorted[j]!.atMs <= RUN_GAP_MS) j++;
    for (let x = i; x < j - 1; x++) bytes += sorted[x]!.dataBytes;
    spanMs += sorted[i]!.atMs - sorted[j - 1]!.atMs;
    i = j;
  }
  if (bytes < MIN_SAMPLE_BYTES || spanMs < MIN_SAMPLE_MS) return null;
  return { bytes, spanMs };
}

/** Bytes per second of a sample; null for none or one too small to mean anything. */
export function sampleRate(sample: UploadSample | null): number | null {
  if (sample === null || sample.bytes < MIN_SAMPLE_BYTES || sample.spanMs < MIN_SAMPLE_MS) return null;
  return (sample.bytes / sample.spanMs) * 1000;
}

/** When `pendingBytes` are up at `rate` from `nowMs`: null without pending bytes or a rate. */
export function estimatedDoneMs(
  pendingBytes: number | null,
  rate: number | null,
  nowMs: number,
): number | null {
  if (pendingBytes === null || pendingBytes <= 0 || rate === null || !(rate > 0)) return null;
  return nowMs + Math.ceil((pendingBytes / rate) * 1000);
}
