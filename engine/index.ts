/**
 * The engine's public surface. `sim/` and `runtime/` import only from here.
 * Everything exported is pure and deterministic: no I/O, no clock, no randomness of its own.
 */

export {
  addressesToPublish,
  announceable,
  type ConnectionPath,
  connectionPath,
  dialableFrom,
  isCircuit,
  isLoopback,
  isOwnAddress,
  MAX_RELAYS,
  relayOf,
  relaysIn,
  transportPart,
} from './addresses.ts';
export {
  type Allowance,
  type AllowanceReport,
  allowances,
  type MemberPledge,
  planShareLevel,
} from './allowances.ts';
export {
  type Availability,
  availabilityOf,
  DEFAULT_GRACE_MS,
  DEFAULT_ONLINE_WINDOW_MS,
  type MemberSighting,
} from './availability.ts';
export {
  type Agreement,
  type CapacityReport,
  type CodeChoice,
  capacityReport,
  chooseCode,
  DEFAULT_K_MAX,
  equalShareLevel,
  MAX_DATA_SHARDS,
  MAX_PARITY_SHARDS,
  type MemberCapacity,
  ownerBound,
  shareBound,
  validateAgreement,
} from './capacity.ts';
export {
  authorizeShardDelete,
  type DeleteRequest,
  type DeleteVerdict,
  ownerStripePlan,
} from './delete-authority.ts';
export { EngineError, type EngineErrorCode } from './errors.ts';
export {
  CACHEDIR_TAG_NAME,
  CACHEDIR_TAG_SIGNATURE,
  compilePattern,
  containingDirectory,
  type ExcludeMatcher,
  ExcludePatternError,
  excludeMatcher,
  isCacheDirTag,
  MAX_EXCLUDE_PATTERN_CHARS,
  MAX_EXCLUDE_PATTERNS,
} from './exclude.ts';
export {
  CLOSED_FORM_FORMULA,
  type ClosedFormInput,
  type ClosedFormLoss,
  type CountedStripe,
  closedFormLoss,
  type ExposureInput,
  type ExposureReport,
  exposure,
  type OwnerExposure,
  type StripeProtection,
  stripeProtection,
} from './exposure.ts';
export {
  type CborValue,
  decodeCbor,
  encodeCbor,
} from './group/cbor.ts';
export { GroupError, type GroupErrorCode } from './group/errors.ts';
export {
  type DroppedOp,
  type DropReason,
  type FoldOptions,
  foldGroup,
  GROUP_STATE_VERSION,
  type GroupMember,
  type GroupState,
  type LiveInvite,
  MAX_CLOCK_STEP,
  MAX_FOLD_OPS,
  nextHeader,
  type OwnerPlacement,
  opSetDigest,
  ownerPlacement,
  ownerPlacements,
  type PendingRequest,
  type RemovedMember,
  type RequestOutcome,
} from './group/fold.ts';
export {
  estimateDifference,
  IBLT_CELL_BYTES,
  Iblt,
  MAX_IBLT_CELLS,
  STRATA,
  STRATA_BYTES,
  STRATUM_CELLS,
  strataBytes,
} from './group/iblt.ts';
export { type AddResult, OpLog } from './group/log.ts';
export {
  base58btcDecode,
  base58btcEncode,
  memberIdFromPublicKey,
  publicKeyFromMemberId,
} from './group/member-id.ts';
export {
  type DecodeOptions,
  decodeOp,
  type Ed25519Sign,
  type Ed25519Verify,
  fromHex,
  GROUP_OP_VERSION,
  type GroupOp,
  inviteTokenHash,
  MAX_ADDRESS_BYTES,
  MAX_ADDRESSES,
  MAX_INVITE_TTL_MS,
  MAX_NAME_BYTES,
  MAX_OP_BYTES,
  MAX_PARENTS,
  nobleSign,
  nobleVerify,
  OP_KINDS,
  type OpBody,
  type OpHeader,
  type OpKind,
  RATIO_SCALE,
  SIGNATURE_CONTEXT,
  type SigningKeys,
  type SignOptions,
  signOp,
  toHex,
} from './group/ops.ts';
export {
  decodeSyncMessage,
  encodeSyncMessage,
  FINGERPRINT_BYTES,
  MAX_SYNC_MESSAGE_BYTES,
  MAX_SYNC_ROUNDS,
  PREFIX_BYTES,
  type ReconcileReport,
  rangeFingerprint,
  reconcile,
  SYNC_BRANCHES,
  SYNC_LEAF_ITEMS,
  SYNC_VERSION,
  type SyncIndex,
  type SyncMessage,
  type SyncRange,
  type SyncStep,
  syncIndex,
  syncRespond,
  syncStart,
} from './group/sync.ts';
export { hash64, pairScoreHex, pairUniform, stripeKey, type U64 } from './hash64.ts';
export {
  decodeHead,
  HEAD_SIGNATURE_CONTEXT,
  HEAD_VERSION,
  headIsNewer,
  MAX_HEAD_BODY_BYTES,
  MAX_HEAD_BYTES,
  type SignedHead,
  signHead,
} from './head.ts';
export {
  deriveKey,
  deriveMemberKeys,
  type Ed25519PublicKeyOf,
  HKDF_SALT,
  KEY_LABELS,
  type MemberKeys,
  RECOVERY_SECRET_BYTES,
} from './identity.ts';
export { holderLayout, type LayoutMember, layoutHolders, ownerLayout } from './layout.ts';
export { compileGlob, GlobError, globRegex, MAX_GLOB_CHARS } from './path-glob.ts';
export {
  chooseStripe,
  PLACEMENT_PLAN_VERSION,
  type PlacementPlan,
  type PlanMember,
  placementPlan,
  placeStripe,
  placeStripeByKey,
  straw2Inclusion,
} from './placement.ts';
export { type PledgeHelp, pledgeHelp } from './pledge-help.ts';
export {
  keepRecoveryCache,
  RECOVERY_CACHE_RESERVE_BYTES,
  recoveryCacheBudget,
} from './recovery-cache.ts';
export {
  compareRepairOrder,
  DEFAULT_MAX_TASKS,
  MAX_TASKS_LIMIT,
  type MigrationTask,
  needsMigration,
  planRepairs,
  type RepairInput,
  type RepairMember,
  type RepairPlan,
  type RepairRank,
  type RepairTask,
  type ShardMove,
} from './repair.ts';
export {
  buildInventory,
  copiesAt,
  type Inventory,
  type InventoryInput,
  type InventoryStripe,
  type Leftover,
  type ListedShard,
  type MemberListing,
  ownerMemberId,
  type ShardCopy,
  type ShardInfo as ListedShardInfo,
} from './repair-inventory.ts';
export {
  type RankedRepair,
  type RepairOutlook,
  type RepairView,
  type RepairWait,
  type RepairWake,
  repairOutlook,
  repairView,
  repairWake,
  type StripeNeed,
  waitingPrefix,
} from './repair-outlook.ts';
export {
  type RepairRound,
  type RepairRoundInput,
  repairRound,
  roundHoldsWhileUnchanged,
} from './repair-round.ts';
export { type ReservationRoom, reservationRoom } from './reservation-room.ts';
export {
  MAX_RELOCATION_ROWS,
  relocateShards,
  type ShardRelocation,
  type ShardRow,
} from './shard-relocation.ts';
export { lastSeenOf, memberSightings, type SightingClock, type SightingFacts } from './sightings.ts';
export { type MemberStatus, memberStatus, type StatusInput, type StatusMember } from './status.ts';
export {
  type ParsedStripeId,
  parseStripeId,
  saltedStripeId,
  stripeBaseId,
  stripeSeqOf,
} from './stripe-id.ts';
export {
  DATA_SHARD_BYTES,
  MAX_STRIPES_PER_CALL,
  MIN_STRIPE_DATA_BYTES,
  planKey,
  type StripeHolding,
  stripeDataBytes,
} from './stripes.ts';
export {
  durationSetting,
  formatDuration,
  formatSize,
  parseDuration,
  parseSize,
  sizeSetting,
} from './units.ts';
export {
  estimatedDoneMs,
  MIN_SAMPLE_BYTES,
  type StripeCommit,
  sampleRate,
  type UploadSample,
  uploadSample,
} from './upload-rate.ts';
export {
  dataRateUnderCap,
  MAX_UPLOAD_WINDOWS,
  MINUTES_PER_DAY,
  NO_UPLOAD_CAP,
  parseUploadHours,
  type UploadCapNow,
  type UploadSchedule,
  type UploadWindow,
  uploadCapAt,
  validateUploadSchedule,
  windowContains,
} from './upload-schedule.ts';
export {
  afterWebRTCFailure,
  WEBRTC_BACKOFF_FIRST_MS,
  WEBRTC_BACKOFF_MAX_MS,
  WEBRTC_FAILURES_BEFORE_BACKOFF,
  type WebRTCAttempts,
  webrtcAllowed,
  webrtcBackoffMs,
} from './webrtc-backoff.ts';
