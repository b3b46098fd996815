/**
 * The group-backup benchmark's report (bench/group-backup.ts): one run's figures, the summary of
 * `--repeat N` runs (each measure's median, each ratio the median of the ratios taken run by run,
 * peak RSS the largest), and the markdown of reports/group-backup.md.
 *
 * Why ratios run by run: the raw stream is measured again in every run, and on a shared two-core
 * machine it read 279 to 468 MiB/s from one run to the next, more than the restore's own spread.
 * A restore is judged against the raw stream of its own run, as the pipeline benchmark judges pb
 * against restic and borg (bench/pipeline.ts).
 */
import { type Cell, fmt, markdownTable, median } from './report.ts';

/** One run: a group formed, one backup, one restore, and (unless skipped) one recovery. */
export interface GroupRun {
  rawStreamMiBs: number;
  rawCpuSecondsPerGiB: number;
  idleCores: number;
  backupSeconds: number;
  backupPipelineSeconds: number;
  backupCpuSeconds: number;
  ownerBackupCpuSeconds: number;
  holdersBackupSystemSeconds: number;
  restoreSeconds: number;
  restoreInsideSeconds: number;
  restoreCpuSeconds: number;
  restoreProcessCpuSeconds: number;
  recoverySeconds: number | null;
  ownerPeakRssMiB: number;
  restorePeakRssMiB: number;
  recoveryPeakRssMiB: number | null;
  shardMiBStored: number;
}

export interface GroupBackupReport {
  rawStreamMiBs: number;
  backupMiBs: number;
  restoreMiBs: number;
  /** Medians of the ratios to the raw stream, taken run by run (what the targets judge). */
  backupXRaw: number;
  restoreXRaw: number;
  recoveryXRaw: number | null;
  cpuSeconds: number;
  peakRssMiB: number;
  /** Rebuild the index from the holders' shards and restore (the dead disk); null if skipped. */
  recoveryMiBs: number | null;
  datasetMiB: number;
  files: number;
  backupSeconds: number;
  restoreSeconds: number;
  recoverySeconds: number | null;
  backupCpuSeconds: number;
  restoreCpuSeconds: number;
  shardMiBStored: number;
  /** CPU seconds both ends of the raw stream spend per GiB it moves. */
  rawCpuSecondsPerGiB: number;
  /** Cores the five members use with nothing to do, sampled just before the backup. */
  idleCores: number;
  /** The owner's daemon's CPU seconds in the backup. */
  ownerBackupCpuSeconds: number;
  /** The pipeline's own seconds inside each command (the rest: process start, connecting, the head). */
  backupPipelineSeconds: number;
  restoreInsideSeconds: number;
  /** The holders' CPU seconds in the backup, and how many of them in the kernel (stime). */
  holdersBackupCpuSeconds: number;
  holdersBackupSystemSeconds: number;
  /** The runs summarized, in the order they ran. */
  runs: GroupRun[];
}

/** Median of one measure over the runs (null when a run has none). */
function med(runs: readonly GroupRun[], pick: (r: GroupRun) => number | null): number | null {
  const xs = runs.map(pick);
  return xs.some((x) => x === null) ? null : median(xs as number[]);
}

const must = (x: number | null): number => {
  if (x === null || !Number.isFinite(x)) throw new Error('group-backup: a run is missing a figure');
  return x;
};

/** The runs' medians (peak RSS: the largest), each ratio the median of the ratios run by run. */
export function summarize(runs: readonly GroupRun[], datasetMiB: number, files: number): GroupBackupReport {
  if (runs.length === 0) throw new Error('group-backup: no run to summarize');
  const m = (pick: (r: GroupRun) => number) => must(med(runs, pick));
  const mibs = (seconds: number | null) => (seconds === null ? null : datasetMiB / seconds);
  const xRaw = (seconds: (r: GroupRun) => number | null) =>
    med(runs, (r) => {
      const s = seconds(r);
      return s === null ? null : datasetMiB / s / r.rawStreamMiBs;
    });
  const recoverySeconds = med(runs, (r) => r.recoverySeconds);
  const backupCpu = m((r) => r.backupCpuSeconds);
  const ownerCpu = m((r) => r.ownerBackupCpuSeconds);
  const peak = Math.max(
    ...runs.map((r) => Math.max(r.ownerPeakRssMiB, r.restorePeakRssMiB, r.recoveryPeakRssMiB ?? 0)),
  );
  const recoveryXRaw = xRaw((r) => r.recoverySeconds);
  return {
    rawStreamMiBs: fmt(
      m((r) => r.rawStreamMiBs),
      1,
    ),
    backupMiBs: fmt(datasetMiB / m((r) => r.backupSeconds), 1),
    restoreMiBs: fmt(datasetMiB / m((r) => r.restoreSeconds), 1),
    backupXRaw: fmt(must(xRaw((r) => r.backupSeconds))),
    restoreXRaw: fmt(must(xRaw((r) => r.restoreSeconds))),
    recoveryXRaw: recoveryXRaw === null ? null : fmt(recoveryXRaw),
    cpuSeconds: fmt(backupCpu + m((r) => r.restoreCpuSeconds), 1),
    peakRssMiB: fmt(peak, 0),
    recoveryMiBs: recoverySeconds === null ? null : fmt(mibs(recoverySeconds)!, 1),
    datasetMiB: fmt(datasetMiB, 0),
    files,
    backupSeconds: fmt(
      m((r) => r.backupSeconds),
      1,
    ),
    restoreSeconds: fmt(
      m((r) => r.restoreSeconds),
      1,
    ),
    recoverySeconds: recoverySeconds === null ? null : fmt(recoverySeconds, 1),
    backupCpuSeconds: fmt(backupCpu, 1),
    restoreCpuSeconds: fmt(
      m((r) => r.restoreCpuSeconds),
      1,
    ),
    shardMiBStored: fmt(
      m((r) => r.shardMiBStored),
      0,
    ),
    rawCpuSecondsPerGiB: fmt(
      m((r) => r.rawCpuSecondsPerGiB),
      1,
    ),
    idleCores: fmt(
      m((r) => r.idleCores),
      2,
    ),
    ownerBackupCpuSeconds: fmt(ownerCpu, 1),
    backupPipelineSeconds: fmt(
      m((r) => r.backupPipelineSeconds),
      1,
    ),
    restoreInsideSeconds: fmt(
      m((r) => r.restoreInsideSeconds),
      1,
    ),
    holdersBackupCpuSeconds: fmt(backupCpu - ownerCpu, 1),
    holdersBackupSystemSeconds: fmt(
      m((r) => r.holdersBackupSystemSeconds),
      1,
    ),
    runs: [...runs],
  };
}

export const COLUMNS = ['measure', 'MiB/s', 'x raw', 'seconds', 'CPU s'];

/** The summary table: MiB/s and seconds are medians, "x raw" the median of the runs' ratios. */
export function tableRows(r: GroupBackupReport): Cell[][] {
  const rows: Cell[][] = [
    ['raw libp2p stream', r.rawStreamMiBs, 1, null, null],
    ['backup', r.backupMiBs, r.backupXRaw, r.backupSeconds, r.backupCpuSeconds],
    ['restore', r.restoreMiBs, r.restoreXRaw, r.restoreSeconds, r.restoreCpuSeconds],
  ];
  if (r.recoverySeconds !== null)
    rows.push(['recovery (rebuild + restore)', r.recoveryMiBs, r.recoveryXRaw, r.recoverySeconds, null]);
  return rows;
}

/** Each run's ratios, as notes: the spread the medians hide. */
function perRunLines(r: GroupBackupReport): string[] {
  if (r.runs.length < 2) return [];
  const ratio = (seconds: number | null, raw: number) =>
    seconds === null ? '-' : String(fmt(r.datasetMiB / seconds / raw));
  return r.runs.map(
    (x, i) =>
      `- Run ${i + 1}: raw ${fmt(x.rawStreamMiBs, 1)} MiB/s; backup ${fmt(x.backupSeconds, 1)} s (${ratio(x.backupSeconds, x.rawStreamMiBs)}x), restore ${fmt(x.restoreSeconds, 1)} s (${ratio(x.restoreSeconds, x.rawStreamMiBs)}x)` +
      (x.recoverySeconds === null
        ? ''
        : `, recovery ${fmt(x.recoverySeconds, 1)} s (${ratio(x.recoverySeconds, x.rawStreamMiBs)}x)`) +
      '.',
  );
}

export interface ReportSettings {
  syncInterval: string;
  idleSampleMs: number;
  cores: number;
}

export function reportMarkdown(r: GroupBackupReport, s: ReportSettings): string {
  const n = r.runs.length;
  const peaks = r.runs.map((x) => x.ownerPeakRssMiB);
  const restorePeaks = r.runs.map((x) => x.restorePeakRssMiB);
  const recoveryPeaks = r.runs.map((x) => x.recoveryPeakRssMiB ?? 0);
  const how =
    n === 1
      ? 'one run'
      : `medians of ${n} runs, each with its own group and its own raw stream; "x raw" is the median of the ratios taken run by run`;
  return [
    '# group-backup benchmark',
    '',
    `Dataset ${r.datasetMiB} MiB, ${r.files} files (bench/pipeline.ts generateDataset). Five pb-node processes on ` +
      `127.0.0.1 TCP; one backs up onto the four others (k=2, m=1; ${r.shardMiBStored} MiB of shards stored); ` +
      'restore = `pb-node restore --peer` with its own index into a fresh directory; recovery = the same from a fresh ' +
      "data directory (the index rebuilt from the holders' shards). Raw stream: one libp2p stream between two pb " +
      `libp2p nodes on loopback TCP (best of two). Target: backup and restore >= 0.5x raw. Figures: ${how}.`,
    '',
    markdownTable(COLUMNS, tableRows(r)),
    '',
    ...perRunLines(r),
    `- CPU: ${r.cpuSeconds} s (backup: every member's daemon, ${r.ownerBackupCpuSeconds} s of it the owner's, ${r.holdersBackupCpuSeconds} s the four holders' of which ${r.holdersBackupSystemSeconds} s in the kernel; restore: the restore process, ${fmt(median(r.runs.map((x) => x.restoreProcessCpuSeconds)), 1)} s, and the holders).`,
    `- Inside the commands: the backup's pipeline took ${r.backupPipelineSeconds} s of the ${r.backupSeconds} s, the restore ${r.restoreInsideSeconds} s of ${r.restoreSeconds} s (the rest: process start, connecting, the head).`,
    `- Raw stream CPU: ${r.rawCpuSecondsPerGiB} s per GiB moved (both ends). The five members with nothing to do (syncInterval ${s.syncInterval}, sampled ${s.idleSampleMs / 1000} s before the backup): ${r.idleCores} cores.`,
    `- Peak RSS: ${r.peakRssMiB} MiB (the owner's daemon ${fmt(Math.max(...peaks), 0)} MiB, restore ${fmt(Math.max(...restorePeaks), 0)} MiB${r.recoverySeconds === null ? '' : `, recovery ${fmt(Math.max(...recoveryPeaks), 0)} MiB`}${n > 1 ? '; the largest of the runs' : ''}).`,
    `- Machine: ${s.cores} cores, shared.`,
  ].join('\n');
}
