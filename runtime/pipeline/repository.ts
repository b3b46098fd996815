/**
 * Local mode: everything one owner needs to back up and restore, opened from a config.
 *
 * Config (JSON, docs/formats.md "Local config"):
 *   { dataDir, secretFile, agreement: { ratio, tolerance }, members: [{ id, dir, pledgeBytes }],
 *     sources: [absolute dirs], exclude?: [patterns], workers?, stripeBytes?, durable?, kMax? }
 * `members` are the OTHER members (the owner is never one of its own shard holders).
 * The owner id is the hex Ed25519 public key derived from the recovery secret.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { availableParallelism } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import {
  type Agreement,
  excludeMatcher,
  type MemberKeys,
  ownerLayout,
  type PlacementPlan,
  RECOVERY_SECRET_BYTES,
  stripeDataBytes,
} from '../../engine/index.ts';
import { memberKeysOf } from '../crypto/ed25519.ts';
import { LocalShardDirectory } from '../store/local-directory.ts';
import { ensurePrivateDir } from '../store/private-mode.ts';
import type { ShardDirectory } from '../store/shard-store.ts';
import { PipelineError } from './errors.ts';
import { IndexDb } from './index-db.ts';

export interface LocalConfig {
  dataDir: string;
  secretFile: string;
  agreement: Agreement;
  members: { id: string; dir: string; pledgeBytes: number }[];
  sources: string[];
  /** Exclude patterns (engine/exclude.ts); the data directory is always left out. */
  exclude?: string[];
  workers?: number;
  stripeBytes?: number;
  durable?: boolean;
  kMax?: number;
}

function fail(message: string): never {
  throw new PipelineError('invalid-config', message);
}

export function validateConfig(raw: unknown, baseDir = process.cwd()): LocalConfig {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail('the config must be a JSON object');
  const c = raw as Record<string, unknown>;
  const str = (key: string): string => {
    const v = c[key];
    if (typeof v !== 'string' || v.length === 0 || v.length > 4096)
      fail(`config.${key} must be a non-empty string`);
    return isAbsolute(v) ? v : resolve(baseDir, v);
  };
  const agreement = c.agreement as Agreement | undefined;
  if (!agreement || typeof agreement !== 'object') fail('config.agreement must be { ratio, tolerance }');
  if (!Array.isArray(c.members) || c.members.length === 0 || c.members.length > 1000) {
    fail('config.members must list 1 to 1000 other members');
  }
  const ids = new Set<string>();
  const members = c.members.map((m: unknown, i: number) => {
    const r = m as Record<string, unknown>;
    if (!r || typeof r !== 'object') fail(`config.members[${i}] must be an object`);
    if (typeof r.id !== 'string' || !/^[A-Za-z0-9._-]{1,128}$/.test(r.id))
      fail(`config.members[${i}].id must be 1-128 of [A-Za-z0-9._-]`);
    if (ids.has(r.id)) fail(`config.members[${i}].id ${r.id} is listed twice`);
    ids.add(r.id);
    if (typeof r.dir !== 'string' || r.dir.length === 0) fail(`config.members[${i}].dir must be a path`);
    if (typeof r.pledgeBytes !== 'number' || !Number.isSafeInteger(r.pledgeBytes) || r.pledgeBytes <= 0) {
      fail(`config.members[${i}].pledgeBytes must be a whole number > 0`);
    }
    return { id: r.id, dir: isAbsolute(r.dir) ? r.dir : resolve(baseDir, r.dir), pledgeBytes: r.pledgeBytes };
  });
  if (!Array.isArray(c.sources) || c.sources.some((s) => typeof s !== 'string' || s.length === 0)) {
    fail('config.sources must be a list of directories');
  }
  const optInt = (key: string, min: number, max: number): number | undefined => {
    const v = c[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
      fail(`config.${key} must be a whole number from ${min} to ${max}`);
    return v;
  };
  if (c.durable !== undefined && typeof c.durable !== 'boolean') fail('config.durable must be true or false');
  const out: LocalConfig = {
    dataDir: str('dataDir'),
    secretFile: str('secretFile'),
    agreement: { ratio: agreement.ratio, tolerance: agreement.tolerance },
    members,
    sources: (c.sources as string[]).map((s) => (isAbsolute(s) ? s : resolve(baseDir, s))),
  };
  if (c.exclude !== undefined) {
    if (!Array.isArray(c.exclude) || c.exclude.some((p) => typeof p !== 'string'))
      fail('config.exclude must be a list of patterns');
    try {
      excludeMatcher(c.exclude as string[]);
    } catch (error) {
      fail(`config.exclude: ${(error as Error).message}`);
    }
    out.exclude = c.exclude as string[];
  }
  const workers = optInt('workers', 0, 16);
  if (workers !== undefined) out.workers = workers;
  const stripeBytes = optInt('stripeBytes', 8 * 1024 * 1024, 1024 * 1024 * 1024);
  if (stripeBytes !== undefined) out.stripeBytes = stripeBytes;
  const kMax = optInt('kMax', 1, 24);
  if (kMax !== undefined) out.kMax = kMax;
  if (typeof c.durable === 'boolean') out.durable = c.durable;
  return out;
}

export function loadConfig(path: string): LocalConfig {
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (error) {
    fail(`cannot read config ${path}: ${(error as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    fail(`config ${path} is not JSON: ${(error as Error).message}`);
  }
  return validateConfig(raw, resolve(path, '..'));
}

/** Create a recovery secret file (0600) if it does not exist; returns the secret. */
export function ensureSecret(path: string): Uint8Array {
  if (!fs.existsSync(path)) {
    const secret = randomBytes(RECOVERY_SECRET_BYTES);
    fs.writeFileSync(path, `${secret.toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
    return secret;
  }
  return readSecret(path);
}

export function readSecret(path: string): Uint8Array {
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8').trim();
  } catch (error) {
    fail(`cannot read the recovery secret ${path}: ${(error as Error).message}`);
  }
  if (!/^[0-9a-fA-F]{64}$/.test(text)) fail(`the recovery secret in ${path} must be 64 hex characters`);
  return Buffer.from(text, 'hex');
}

export interface Repository {
  config: LocalConfig;
  keys: MemberKeys;
  owner: string;
  index: IndexDb;
  directory: ShardDirectory;
  plan: PlacementPlan;
  k: number;
  m: number;
  stripeBytes: number;
  workers: number;
  close(): void;
}

export async function openRepository(
  config: LocalConfig,
  options: {
    secret?: Uint8Array;
    createSecret?: boolean;
    /** Where the members' shards live; default each member's `dir` (local mode). */
    directory?: ShardDirectory;
  } = {},
): Promise<Repository> {
  ensurePrivateDir(config.dataDir);
  const secret =
    options.secret ??
    (options.createSecret ? ensureSecret(config.secretFile) : readSecret(config.secretFile));
  const keys = memberKeysOf(secret);
  const owner = Buffer.from(keys.publicKey).toString('hex');
  // The members listed are this owner's holders; the layout is the one every member computes.
  const layout = ownerLayout(config.members, config.agreement, owner, config.kMax);
  if (!layout.feasible) throw new PipelineError('infeasible', `no layout fits this group: ${layout.reason}`);
  const index = new IndexDb(join(config.dataDir, 'index.sqlite'));
  try {
    const recorded = index.getMeta('owner');
    if (recorded === undefined) index.setMeta('owner', owner);
    else if (recorded !== owner) {
      throw new PipelineError(
        'wrong-secret',
        `wrong recovery secret: the index in ${config.dataDir} belongs to owner ${recorded.slice(0, 16)}..., this secret derives ${owner.slice(0, 16)}...`,
      );
    }
    const { dataShards: k, parityShards: m, plan } = layout;
    // Local stores do not re-hash puts: the stripe writer computes each shard id from the very
    // buffer it hands to put (buildShards); every read is still verified against its id. A
    // network directory (the daemon's) is passed in and verifies on the holder's side.
    const directory =
      options.directory ??
      (await LocalShardDirectory.open(config.members, {
        verifyPuts: false,
        ...(config.durable === undefined ? {} : { durable: config.durable }),
      }));
    return {
      config,
      keys,
      owner,
      index,
      directory,
      plan,
      k,
      m,
      // The engine's stripe geometry: the simulator counts a member's stripes by the same function.
      stripeBytes: config.stripeBytes ?? stripeDataBytes(k),
      // One worker per core, at most four: the workers do most of the CPU work (backup:
      // FastCDC, HMAC, XChaCha20-Poly1305; restore: decryption and id checks) and the main
      // thread's share (packing, one SHA-256 pass over the shards, the index) is small. On
      // two cores two workers measured faster than one (docs/local-mode.md).
      workers: config.workers ?? Math.min(4, Math.max(1, availableParallelism())),
      close: () => index.close(),
    };
  } catch (error) {
    index.close();
    throw error;
  }
}

/** An exclusive lock on the data directory (stale locks of dead processes are taken over). */
export function lockDataDir(dataDir: string): () => void {
  const path = join(dataDir, 'lock');
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      fs.writeFileSync(path, String(process.pid), { flag: 'wx' });
      return () => fs.rmSync(path, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const pid = Number(fs.readFileSync(path, 'utf8'));
      let alive = false;
      try {
        if (Number.isInteger(pid) && pid > 0 && pid !== process.pid) {
          process.kill(pid, 0);
          alive = true;
        }
      } catch {
        alive = false;
      }
      if (alive) throw new PipelineError('io', `${dataDir} is in use by process ${pid}`);
      fs.rmSync(path, { force: true });
    }
  }
  throw new PipelineError('io', `cannot lock ${dataDir}`);
}
