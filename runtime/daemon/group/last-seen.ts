/**
 * When this daemon last reached each other member, kept across restarts (`<data dir>/last-seen.json`).
 *
 * The repair worker's grace period (`repair.graceMs`) and the status' "last seen" count from
 * these sightings; without the file every restart made an offline member look freshly seen (its
 * grace started over). The daemon's in-memory map is loaded from the file at start and written
 * back at most once per `SAVE_EVERY_MS` when it changed, and at stop (a kill -9 loses at most
 * that much: the grace then ends up to that much early, safe for the data).
 *
 * `trackingSinceMs` is when this data directory began keeping sightings (the first start with
 * this file): a member never seen counts from the later of its join time and that moment, so a
 * daemon upgraded from a version without the file does not declare every offline member lost
 * (the engine's `lastSeenOf`, used by repair, status and alerts alike).
 *
 * Format (version 1): `{ "version": 1, "trackingSinceMs": ms, "seen": { "<member id>": ms } }`,
 * at most MAX_SIGHTINGS entries, at most MAX_FILE_BYTES; a malformed file is set aside (`.bad`)
 * with a warning and tracking starts over (the safe side again).
 */
import * as fs from 'node:fs';
import { lastSeenOf } from '../../../engine/index.ts';
import { writeFileAtomic } from '../../store/atomic-file.ts';

export const LAST_SEEN_FILE = 'last-seen.json';
const VERSION = 1;
export const MAX_SIGHTINGS = 4096;
const MAX_FILE_BYTES = 1024 * 1024;
const MAX_ID_CHARS = 200;
export const SAVE_EVERY_MS = 60_000;

export class LastSeenFile {
  /** Member id -> when last reached (ms since the epoch). Shared with the daemon's services. */
  readonly seen = new Map<string, number>();
  readonly trackingSinceMs: number;
  private written = '';
  private lastSaveMs = 0;

  constructor(
    private readonly path: string,
    nowMs: number,
    private readonly onWarning: (text: string) => void = () => {},
  ) {
    this.trackingSinceMs = this.load() ?? nowMs;
    this.lastSaveMs = nowMs;
    if (this.written === '') this.save(nowMs, null, true);
  }

  /** Reads the file into `seen`; returns its trackingSinceMs (null: no usable file). */
  private load(): number | null {
    let text: string;
    try {
      const st = fs.statSync(this.path);
      if (st.size > MAX_FILE_BYTES) throw new Error(`larger than ${MAX_FILE_BYTES} bytes`);
      text = fs.readFileSync(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
        this.onWarning(`${this.path} not read: ${(error as Error).message}`);
      return null;
    }
    try {
      const data = JSON.parse(text) as { version?: unknown; trackingSinceMs?: unknown; seen?: unknown };
      if (data.version !== VERSION) throw new Error(`version ${String(data.version)}, expected ${VERSION}`);
      const since = data.trackingSinceMs;
      if (typeof since !== 'number' || !Number.isSafeInteger(since) || since < 0)
        throw new Error('trackingSinceMs must be a time in ms');
      if (data.seen === null || typeof data.seen !== 'object' || Array.isArray(data.seen))
        throw new Error('seen must be an object');
      const entries = Object.entries(data.seen as Record<string, unknown>);
      if (entries.length > MAX_SIGHTINGS) throw new Error(`more than ${MAX_SIGHTINGS} sightings`);
      const seen = new Map<string, number>();
      for (const [id, ms] of entries) {
        if (
          id.length === 0 ||
          id.length > MAX_ID_CHARS ||
          typeof ms !== 'number' ||
          !Number.isSafeInteger(ms) ||
          ms < 0
        )
          throw new Error(`the sighting of ${id.slice(0, 16)} is malformed`);
        seen.set(id, ms);
      }
      for (const [id, ms] of seen) this.seen.set(id, ms);
      this.written = text;
      return since;
    } catch (error) {
      this.onWarning(`${this.path} set aside: ${(error as Error).message}`);
      try {
        fs.renameSync(this.path, `${this.path}.bad`);
      } catch {}
      return null;
    }
  }

  /**
   * Writes the sightings if they changed and the last write is at least SAVE_EVERY_MS old (or
   * `force`). Only `members` are kept when given (removed members are forgotten; bounded).
   */
  save(nowMs: number, members: ReadonlySet<string> | null, force = false): boolean {
    if (!force && nowMs - this.lastSaveMs < SAVE_EVERY_MS) return false;
    if (members !== null) for (const id of [...this.seen.keys()]) if (!members.has(id)) this.seen.delete(id);
    const entries = [...this.seen.entries()]
      .filter(([id, ms]) => id.length > 0 && id.length <= MAX_ID_CHARS && Number.isSafeInteger(ms) && ms >= 0)
      .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .slice(0, MAX_SIGHTINGS);
    const text = JSON.stringify({
      version: VERSION,
      trackingSinceMs: this.trackingSinceMs,
      seen: Object.fromEntries(entries),
    });
    this.lastSaveMs = nowMs;
    if (text === this.written) return false;
    try {
      writeFileAtomic(this.path, Buffer.from(text));
      this.written = text;
      return true;
    } catch (error) {
      this.onWarning(`${this.path} not written: ${(error as Error).message}`);
      return false;
    }
  }

  /**
   * When `member` counts as last seen: its sighting, or never seen, the later of its join time
   * and the start of tracking.
   */
  lastSeenMs(member: string, joinedAtMs: number | null): number {
    const facts = { id: member, seenMs: this.seen.get(member) ?? null, joinedAtMs };
    return lastSeenOf(facts, {
      nowMs: Number.MAX_SAFE_INTEGER,
      trackingSinceMs: this.trackingSinceMs,
      onlineWindowMs: 0,
    });
  }
}
