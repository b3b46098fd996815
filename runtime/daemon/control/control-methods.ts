/**
 * The control socket's method table (control.ts carries it; commands.ts calls it): the
 * daemon's own methods here, membership in member-methods.ts, the upload cap in
 * upload-control.ts, browsing and restoring snapshots in backup/browse-service.ts. Each method
 * checks its parameters and answers with plain data.
 */
import { excludeMatcher } from '../../../engine/index.ts';
import type { PledgedShardStore } from '../../store/pledged-shard-store.ts';
import type { AlertMonitor } from '../alerts/monitor.ts';
import type { BackupService } from '../backup/backup-service.ts';
import { browseMethods } from '../backup/browse-service.ts';
import { writeState } from '../daemon-state.ts';
import type { GroupService } from '../group/group-service.ts';
import type { GroupSyncer } from '../group/group-syncer.ts';
import type { RepairService } from '../shards/repair-service.ts';
import type { UploadGovernor } from '../upload/upload-governor.ts';
import { ControlError, type ControlMethod } from './control.ts';
import { type MemberParts, memberMethods, numberParam } from './member-methods.ts';
import { uploadMethods } from './upload-control.ts';

/** What the method table needs of the daemon. */
export interface DaemonParts extends MemberParts {
  readonly dir: string;
  readonly group: GroupService;
  readonly store: PledgedShardStore;
  readonly syncer: GroupSyncer;
  readonly backups: BackupService;
  readonly repair: RepairService;
  readonly upload: UploadGovernor;
  readonly alerts: AlertMonitor;
  log(line: string): void;
  /** The full status report (status-service.ts); throws while starting. */
  report(): Promise<unknown>;
  stop(): Promise<void>;
}

/** `exclude`: a list of glob patterns (engine/exclude.ts), checked here so a bad one names itself. */
function excludeParam(value: unknown): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((p) => typeof p !== 'string'))
    throw new ControlError('bad-argument', 'exclude must be a list of patterns (text)');
  try {
    excludeMatcher(value as string[]);
  } catch (error) {
    throw new ControlError('bad-argument', (error as Error).message);
  }
  return value as string[];
}

export function controlMethods(d: DaemonParts): Record<string, ControlMethod> {
  return {
    status: async () => ({
      id: d.self,
      name: d.name,
      groupId: d.group.groupId,
      member: d.group.selfIsMember,
      members: d.group.state?.members.length ?? 0,
      addresses: d.addresses(),
      store: await d.store.report(),
      refusedBy: [...d.syncer.refusedBy],
      backup: d.backups.status,
      repair: d.repair.status,
      upload: d.upload.state(),
      pid: process.pid,
    }),
    ...uploadMethods(d.upload, (line) => d.log(line)),
    ...memberMethods(d),
    ...browseMethods((what, fn, options) => d.backups.withRepository(what, fn, options)),
    report: async () => d.report(),
    forget: async (params) => d.backups.forget(keepPolicy(params), params.prune === true),
    backup: async (params, progress) =>
      d.backups.run({
        allowEmpty: params.allowEmpty === true,
        onProgress: progress,
        exclude: excludeParam(params.exclude),
      }),
    pledge: async (params) => {
      const bytes = numberParam(params.bytes, 'bytes');
      try {
        await d.store.setPledge(bytes);
      } catch (error) {
        throw new ControlError('pledge-refused', (error as Error).message);
      }
      writeState(d.dir, { pledgeBytes: bytes });
      if (d.group.selfIsMember) d.group.author({ kind: 'pledge', pledgeBytes: bytes });
      return d.store.report();
    },
    alerts: async () => d.alerts.report(),
    alertsTest: async () => {
      try {
        return await d.alerts.sendTest();
      } catch (error) {
        const e = error as { code?: string; message: string };
        throw new ControlError(e.code ?? 'mail', e.message);
      }
    },
    alertsCheck: async () => ({ transitions: await d.alerts.check() }),
    repair: async () => d.repair.runFreshRound(),
    sync: async () => {
      await d.syncer.syncAll();
      return { ops: d.group.log.size };
    },
    stop: async () => {
      setTimeout(() => void d.stop(), 50);
      return { stopping: true };
    },
  };
}

/** `forget`'s retention: whole, non-negative counts per kept series. */
function keepPolicy(params: Record<string, unknown>): Record<string, number> {
  const policy: Record<string, number> = {};
  for (const key of ['keepLast', 'keepDaily', 'keepWeekly'] as const) {
    if (params[key] === undefined) continue;
    const n = numberParam(params[key], key);
    if (!Number.isInteger(n) || n < 0)
      throw new ControlError('bad-argument', `${key} must be a whole number`);
    policy[key] = n;
  }
  return policy;
}
