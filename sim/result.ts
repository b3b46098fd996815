/** The simulator's output: one plain JSON object (printed by `--json`, drawn by the report). */
export interface SimMemberResult {
  readonly id: string;
  readonly removed: boolean;
  readonly joinedAtHours: number;
  readonly pledgeBytes: number;
  readonly allowanceBytes: number;
  readonly limitedBy: 'pledge' | 'group';
  readonly reason: string;
  /** What today's other members could hold for this owner alone. */
  readonly boundBytes: number;
  /** What this member set out to back up. */
  readonly dataBytes: number;
  readonly backedUpBytes: number;
  readonly pledgeUsedBytes: number;
  /** Shards of other members' stripes this member is listed as holding at the end. */
  readonly heldShards: number;
  /** Hours from joining until its data was first fully stored; null if never. */
  readonly firstFullBackupHours: number | null;
  /** The run ended with data left to back up and a holder its next stripe needs full. */
  readonly waitingForRoom: boolean;
  readonly exposedByteHours: number;
  readonly repairBytesSent: number;
  readonly migrationBytesSent: number;
  /** Stripes of this member lost during the run. */
  readonly stripesLost: number;
}

/** A membership or disk event, marked on the report's time axis. */
export interface SimMarkedEvent {
  readonly hours: number;
  readonly kind: 'failure' | 'join' | 'removal';
  readonly member: string;
}

export const MAX_MARKED_EVENTS = 2000;

export interface SimResult {
  readonly version: 1;
  readonly config: {
    readonly seed: string;
    readonly days: number;
    readonly ratio: number;
    readonly tolerance: number;
    readonly onlineFraction: number;
    readonly sessionHours: number;
    readonly afr: number;
    readonly replacementDays: number;
    readonly graceHours: number;
    readonly uploadBytesPerSecond: number;
    readonly downloadBytesPerSecond: number;
    readonly dailyChange: number;
    readonly shardBytes: number;
    /**
     * With 'auto' shards, the stripe count the shard size was chosen for, whether that count was
     * chosen from the expected failures (`--stripes auto`), and those failures; else null
     * (sim/resolution.ts).
     */
    readonly resolution: {
      readonly stripes: number;
      readonly auto: boolean;
      readonly expectedFailures: number;
    } | null;
    readonly joins: number;
    readonly removals: number;
  };
  readonly members: readonly SimMemberResult[];
  readonly group: {
    readonly k: number;
    readonly m: number;
    /** x*: per-member share bound over all pledges. */
    readonly shareBytes: number;
    /** T* = k * x*. */
    readonly boundBytes: number;
    readonly backedUpBytes: number;
    /** backed up / T*. */
    readonly utilisation: number;
    readonly storedStripes: number;
    /** Stored stripes at the end with a shard not on a present, working member. */
    readonly underReplicatedStripes: number;
    readonly stripesLost: number;
    readonly bytesLost: number;
    readonly stripeYears: number;
    /** Stripes lost per stripe-year. */
    readonly annualLossObserved: number;
    readonly closedForm: {
      readonly afr: number;
      /**
       * The window the closed form uses: the single window giving the same loss rate as the
       * measured distribution of windows, or the modelled estimate when no failure took a shard.
       */
      readonly repairWindowDays: number;
      readonly windowSource: 'measured' | 'modelled';
      /** Per shard a failure took: failure until it exists again (or its stripe is lost or gone). */
      readonly measuredWindow: {
        readonly shards: number;
        readonly meanDays: number;
        readonly p50Days: number;
        readonly p90Days: number;
        readonly maxDays: number;
        /** Of the mean: failure until the group repairs around the member (grace or replacement). */
        readonly detectionDays: number;
      };
      /** Detection plus one member's shards rebuilt over the others' links, estimated up front. */
      readonly modelledRepairWindowDays: number;
      /** Expected losses per stripe-year (comparable with annualLossObserved). */
      readonly annualLoss: number;
      readonly annualLossProbability: number;
      /** Chance per year that a member loses any of its stripes (correlated: clusters of m+1 failures). */
      readonly memberAnnualLossChance: number | null;
      /** The stripes per owner that chance is for: its data as pb writes it (not the run's resolution). */
      readonly memberStripes: number;
      readonly formula: string;
    };
    readonly failures: number;
    readonly joins: number;
    readonly removals: number;
    readonly removalsSkipped: number;
    /** Repairs started (including those aborted when a participant went offline) and completed. */
    readonly repairTasks: number;
    readonly repairsCompleted: number;
    readonly migrationTasks: number;
    readonly repairBytes: number;
    readonly migrationBytes: number;
    readonly events: number;
  };
  readonly series: {
    hours: number[];
    /** Per member (index as in `members`): exposed bytes at each sample. */
    exposedBytes: number[][];
    /** Repair / migration bytes moved since the previous sample. */
    repairBytes: number[];
    migrationBytes: number[];
    storedBytes: number[];
    /** Disk failures, joins and removals in time order (at most MAX_MARKED_EVENTS; the rest counted). */
    events: SimMarkedEvent[];
    eventsNotMarked: number;
  };
}
