/**
 * The status report's shape (docs/status.md; docs/status.schema.json): what the daemon gathers
 * (`StatusInput`) and what it answers (`StatusReport`). The numbers are built in
 * status-report.ts, the words in status-words.ts.
 */
import type { Agreement, CountedStripe, PledgeHelp, UploadSample } from '../../../engine/index.ts';
import type { PeerHealthView } from '../../net/peer-health.ts';
import type { RepairProgress } from './status-repair.ts';
import type { StatusUpload, UploadInput } from './status-upload.ts';

/** Bumped on any incompatible change of the report's JSON (docs/status.schema.json). */
export const STATUS_REPORT_VERSION = 1;
/** Members, requests and directories listed in one report (a group is small; the fold bounds it too). */
export const MAX_REPORT_MEMBERS = 1000;

export type MemberAvailability = 'self' | 'online' | 'away' | 'lost';

export interface StatusInput {
  readonly nowMs: number;
  /** When this daemon started (the start of tracking when `trackingSinceMs` is not given). */
  readonly startedAtMs: number;
  /**
   * When this data directory began keeping sightings: a member never heard from counts from the
   * later of this and its join (the engine's `memberSightings`, as repair and alerts count).
   */
  readonly trackingSinceMs?: number | undefined;
  readonly self: { readonly id: string; readonly name: string };
  readonly groupId: string | null;
  readonly isMember: boolean;
  readonly agreement: Agreement | null;
  readonly members: readonly {
    readonly id: string;
    readonly name: string;
    readonly pledgeBytes: number;
    /** When it joined (its admission op); a never-seen member's sighting counts from it. */
    readonly sinceMs?: number | null | undefined;
    /** The addresses it announced, each with `/p2p/<id>` (what `restore --peer` takes). */
    readonly addresses?: readonly string[] | undefined;
  }[];
  readonly requests: readonly {
    readonly candidate: string;
    readonly request: string;
    readonly name: string;
    readonly invitedBy: string;
    readonly atMs: number;
  }[];
  /** This member's own stripes (from its index), aggregated with `count` where identical. */
  readonly stripes: readonly CountedStripe[];
  readonly lastSeenMs: ReadonlyMap<string, number>;
  readonly connected: ReadonlySet<string>;
  /** How each connected or recently tried member is reached (runtime/net/peer-health.ts). */
  readonly paths?: ReadonlyMap<string, PeerHealthView> | undefined;
  /** Each other member's answer to `usage` (its whole pledge use), when it answered. */
  readonly usage: ReadonlyMap<string, { readonly usedBytes: number; readonly atMs: number }>;
  readonly store: {
    readonly pledgeBytes: number;
    readonly storedBytes: number;
    readonly reservationBytes: number;
    /** Of `storedBytes`, shards of owners no longer members; null or absent: not known yet. */
    readonly formerMembersBytes?: number | null | undefined;
  };
  readonly backup: {
    readonly directories: readonly string[];
    readonly state: 'idle' | 'running' | 'refused';
    readonly refused: { readonly reason: string; readonly restoreHint: string; readonly atMs: number } | null;
    readonly interrupted: boolean;
    readonly lastSnapshot: {
      readonly id: string;
      readonly atMs: number;
      readonly files: number;
      readonly bytes: number;
    } | null;
    /** Source bytes and files not yet in the index (pending-scan.ts); null when not measured. */
    readonly pending: {
      readonly bytes: number;
      readonly files: number;
      readonly checkedAtMs: number;
      readonly complete: boolean;
      /** Configured directories that do not exist (deleted, or a disk not mounted). */
      readonly missing?: readonly string[] | undefined;
    } | null;
    /** The upload sample the rate is taken over (the engine's `uploadSample`); null: none. */
    readonly recentUpload: UploadSample | null;
  };
  readonly repair: RepairProgress;
  readonly graceMs?: number | undefined;
  readonly onlineWindowMs?: number | undefined;
  readonly kMax?: number | undefined;
  readonly dashboardUrl: string | null;
  /** The upload cap and pause (upload-governor.ts); absent where there is none (tests, the sim). */
  readonly upload?: UploadInput | undefined;
}

export interface StatusMemberRow {
  readonly id: string;
  readonly name: string;
  readonly self: boolean;
  readonly pledgeBytes: number;
  /** Bytes of other members' shards it holds (its own report); null when it never answered. */
  readonly usedBytes: number | null;
  readonly usedFraction: number | null;
  readonly allowanceBytes: number;
  readonly limitedBy: 'pledge' | 'group';
  /** Holds a shard of every stripe: part of its pledge can never be filled (capacityReport). */
  readonly capped: boolean;
  /** Bytes of this member's backup (shards) it holds. */
  readonly holdsOfMineBytes: number;
  /** Where to reach it (announced, direct first): an address to give `restore --peer`. */
  readonly addresses?: readonly string[];
  readonly lastSeenMs: number | null;
  readonly availability: MemberAvailability;
  readonly connected: boolean;
  /** How it is reached now and how its recent requests went; null for this node or unknown. */
  readonly path?: PeerHealthView | null;
  /** The "reach" column in words (status text and dashboard alike). */
  readonly reach?: string;
}

export interface StatusReport {
  readonly version: typeof STATUS_REPORT_VERSION;
  readonly generatedAtMs: number;
  readonly self: { readonly id: string; readonly name: string };
  readonly group: {
    readonly id: string | null;
    readonly member: boolean;
    readonly agreement: Agreement | null;
    readonly memberCount: number;
    /** The code this member's stripes use today. */
    readonly code:
      | {
          readonly feasible: true;
          readonly dataShards: number;
          readonly parityShards: number;
          readonly repairSlack: boolean;
          readonly spareParity: boolean;
        }
      | { readonly feasible: false; readonly reason: string }
      | null;
    /** x* over every pledge with today's code (capacityReport); null without a feasible code. */
    readonly shareBytes: number | null;
    /** T* = k x*: user data the whole group can hold. */
    readonly boundBytes: number | null;
  };
  readonly backup: {
    readonly directories: readonly string[];
    readonly state: 'idle' | 'running' | 'refused';
    /** Everything in the directories is in the group and a snapshot names it. */
    readonly upToDate: boolean;
    readonly lastSnapshot: {
      readonly id: string;
      readonly atMs: number;
      readonly files: number;
      readonly bytes: number;
    } | null;
    readonly pendingBytes: number | null;
    readonly pendingFiles: number | null;
    readonly pendingCheckedAtMs: number | null;
    readonly uploadBytesPerSecond: number | null;
    readonly estimatedDoneMs: number | null;
    readonly interrupted: boolean;
    readonly refused: { readonly reason: string; readonly restoreHint: string; readonly atMs: number } | null;
    readonly stripes: number;
    /** User data in this member's stripes (memberStatus.backedUpBytes). */
    readonly backedUpBytes: number;
    /** The same with redundancy: every shard (memberStatus.storedWithRedundancyBytes). */
    readonly storedWithRedundancyBytes: number;
    /** Configured directories that do not exist now. */
    readonly missingDirectories?: readonly string[];
    readonly words: string;
    /** What the backup occupies, apparent to stored with redundancy, in words. */
    readonly sizeWords?: string;
  };
  readonly capacity: {
    readonly pledgeBytes: number;
    readonly agreementBytes: number;
    readonly feasibleBytes: number;
    readonly allowanceBytes: number;
    readonly allowanceLeftBytes: number;
    readonly limitedBy: 'pledge' | 'group';
    readonly reason: string;
    /** What today's other members could hold for this member alone. */
    readonly ownerBoundBytes: number;
    readonly help: (PledgeHelp & { readonly memberName: string }) | null;
    readonly words: string;
  } | null;
  readonly pledge: {
    readonly pledgeBytes: number;
    readonly usedBytes: number;
    readonly usedFraction: number;
    readonly reservationBytes: number;
    /**
     * Of `usedBytes`, the shards of owners no longer in the group (removed members): kept, never
     * repaired, so that a removed member can still recover; null until every shard is catalogued.
     */
    readonly formerMembersBytes: number | null;
  };
  readonly members: readonly StatusMemberRow[];
  readonly exposure: {
    readonly storedBytes: number;
    readonly exposedBytes: number;
    readonly unreadableNowBytes: number;
    readonly unrecoverableBytes: number;
    readonly repairQueueBytes: number;
    readonly protectedByMs: number | null;
    readonly words: string;
  };
  readonly repair: RepairProgress;
  readonly requests: readonly {
    readonly candidate: string;
    readonly request: string;
    readonly name: string;
    readonly invitedBy: string;
    readonly invitedByName: string;
    readonly mine: boolean;
    readonly atMs: number;
  }[];
  readonly dashboard: { readonly url: string | null };
  /** The upload cap in force and the pause (absent for a report built without them). */
  readonly upload?: StatusUpload;
}
