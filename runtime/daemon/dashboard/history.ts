/**
 * A bounded ring of status samples for the dashboard's charts over time (exposure, repair
 * traffic, backed-up and pending bytes), and each other member's last sighting (so that after a
 * restart a member gone for days is not taken for one merely not seen yet). Kept in memory and
 * in `<data dir>/status-history.json`
 * (versioned, size-limited, checked field by field when read back; a bad file is set aside, never
 * trusted), so the charts survive a restart.
 */
import * as fs from 'node:fs';
import { writeFileAtomic } from '../../store/atomic-file.ts';
import type { StatusReport } from '../status/status-report.ts';

export const HISTORY_VERSION = 1;
/** One day at one sample a minute. */
export const MAX_HISTORY_SAMPLES = 1440;
export const MAX_HISTORY_FILE_BYTES = 1024 * 1024;
/** Members whose last sighting is kept (a group is small). */
export const MAX_SIGHTINGS = 1000;
/** How often the daemon samples. */
export const SAMPLE_EVERY_MS = 60_000;
/** The file is rewritten at most this often (and at stop): a crash loses at most a few samples. */
const SAVE_EVERY_MS = 5 * SAMPLE_EVERY_MS;

export interface HistorySample {
  atMs: number;
  exposedBytes: number;
  unreadableNowBytes: number;
  backedUpBytes: number;
  pendingBytes: number;
  /** Repair and migration bytes moved since the previous sample (from the cumulative counter). */
  repairBytes: number;
  /** The cumulative repair counter at this sample (to difference the next one against). */
  repairSentTotal: number;
}

const FIELDS: (keyof HistorySample)[] = [
  'atMs',
  'exposedBytes',
  'unreadableNowBytes',
  'backedUpBytes',
  'pendingBytes',
  'repairBytes',
  'repairSentTotal',
];

function validSample(x: unknown): x is HistorySample {
  if (x === null || typeof x !== 'object') return false;
  const o = x as Record<string, unknown>;
  return FIELDS.every((f) => typeof o[f] === 'number' && Number.isFinite(o[f]) && (o[f] as number) >= 0);
}

export class StatusHistory {
  private ring: HistorySample[] = [];
  /** When each other member was last seen, as of the last sample (kept across restarts). */
  private seen = new Map<string, number>();
  private lastSavedMs = 0;

  constructor(
    private readonly file: string | null,
    private readonly onWarning: (text: string) => void = () => {},
  ) {
    if (file !== null) this.load(file);
  }

  private load(file: string): void {
    let text: string;
    try {
      const st = fs.statSync(file);
      if (st.size > MAX_HISTORY_FILE_BYTES) throw new Error(`larger than ${MAX_HISTORY_FILE_BYTES} bytes`);
      text = fs.readFileSync(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
        this.onWarning(`status history ${file} not read: ${(error as Error).message}`);
      return;
    }
    try {
      const data = JSON.parse(text) as { version?: unknown; samples?: unknown; sightings?: unknown };
      if (data.version !== HISTORY_VERSION)
        throw new Error(`version ${String(data.version)}, expected ${HISTORY_VERSION}`);
      if (!Array.isArray(data.samples) || data.samples.length > MAX_HISTORY_SAMPLES)
        throw new Error('samples must be a list of at most the ring size');
      const samples = data.samples.filter(validSample);
      if (samples.length !== data.samples.length) throw new Error('a sample is malformed');
      for (let i = 1; i < samples.length; i++)
        if (samples[i]!.atMs < samples[i - 1]!.atMs) throw new Error('samples are out of order');
      const seen = new Map<string, number>();
      if (data.sightings !== undefined) {
        if (data.sightings === null || typeof data.sightings !== 'object' || Array.isArray(data.sightings))
          throw new Error('sightings must be an object');
        const entries = Object.entries(data.sightings as Record<string, unknown>);
        if (entries.length > MAX_SIGHTINGS) throw new Error(`more than ${MAX_SIGHTINGS} sightings`);
        for (const [id, ms] of entries) {
          if (id.length === 0 || id.length > 200 || typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0)
            throw new Error('a sighting is malformed');
          seen.set(id, ms);
        }
      }
      this.ring = samples;
      this.seen = seen;
    } catch (error) {
      this.onWarning(`status history ${file} set aside: ${(error as Error).message}`);
      try {
        fs.renameSync(file, `${file}.bad`);
      } catch {}
    }
  }

  /** Adds a sample from a report (the daemon calls this once a minute); returns it. */
  add(report: StatusReport): HistorySample {
    const atMs = report.generatedAtMs;
    const last = this.ring.at(-1);
    if (last !== undefined && atMs < last.atMs) return last; // a clock step back: keep the ring ordered
    const sentTotal = report.repair.movedBytes;
    const previousTotal = last?.repairSentTotal ?? sentTotal;
    const sample: HistorySample = {
      atMs,
      exposedBytes: report.exposure.exposedBytes,
      unreadableNowBytes: report.exposure.unreadableNowBytes,
      backedUpBytes: report.backup.backedUpBytes,
      pendingBytes: report.backup.pendingBytes ?? 0,
      // A counter that went down (the daemon restarted) starts over from zero.
      repairBytes: sentTotal >= previousTotal ? sentTotal - previousTotal : sentTotal,
      repairSentTotal: sentTotal,
    };
    for (const m of report.members) {
      if (m.self || m.lastSeenMs === null) continue;
      if (m.lastSeenMs > (this.seen.get(m.id) ?? -1)) this.seen.set(m.id, m.lastSeenMs);
    }
    // Only current members are remembered (bounded by the group's size).
    const current = new Set(report.members.map((m) => m.id));
    for (const id of this.seen.keys()) if (!current.has(id)) this.seen.delete(id);
    this.ring.push(sample);
    if (this.ring.length > MAX_HISTORY_SAMPLES) this.ring.splice(0, this.ring.length - MAX_HISTORY_SAMPLES);
    if (this.file !== null && atMs - this.lastSavedMs >= SAVE_EVERY_MS) this.save();
    return sample;
  }

  /** Each other member's last sighting recorded by a sample (this run or an earlier one). */
  sightings(): ReadonlyMap<string, number> {
    return this.seen;
  }

  samples(): readonly HistorySample[] {
    return this.ring;
  }

  save(): void {
    if (this.file === null) return;
    try {
      writeFileAtomic(
        this.file,
        Buffer.from(
          JSON.stringify({
            version: HISTORY_VERSION,
            samples: this.ring,
            sightings: Object.fromEntries(this.seen),
          }),
        ),
      );
      this.lastSavedMs = this.ring.at(-1)?.atMs ?? 0;
    } catch (error) {
      this.onWarning(`status history not saved: ${(error as Error).message}`);
    }
  }
}
