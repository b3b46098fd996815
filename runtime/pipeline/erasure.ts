/**
 * Reed-Solomon erasure coding with @ronomon/reed-solomon (native N-API, runs in libuv's thread
 * pool, so encoding does not block the event loop). Limits: k <= 24, m <= 6, shard size a
 * multiple of 8 (docs/design.md §6). Its `main` is a .node file, hence createRequire.
 */
import { createRequire } from 'node:module';
import { assert, PipelineError } from './errors.ts';

interface ReedSolomonModule {
  MAX_K: number;
  MAX_M: number;
  create(k: number, m: number): unknown;
  encode(
    context: unknown,
    sources: number,
    targets: number,
    buffer: Buffer,
    bufferOffset: number,
    bufferSize: number,
    parity: Buffer,
    parityOffset: number,
    paritySize: number,
    callback: (error: Error | undefined) => void,
  ): void;
}

const ReedSolomon = createRequire(import.meta.url)('@ronomon/reed-solomon') as ReedSolomonModule;

export const RS_MAX_DATA_SHARDS = 24;
export const RS_MAX_PARITY_SHARDS = 6;
export const SHARD_ALIGN_BYTES = 8;

const contexts = new Map<string, unknown>();

function contextFor(k: number, m: number): unknown {
  if (
    !Number.isInteger(k) ||
    k < 1 ||
    k > RS_MAX_DATA_SHARDS ||
    !Number.isInteger(m) ||
    m < 1 ||
    m > RS_MAX_PARITY_SHARDS
  ) {
    throw new PipelineError(
      'invalid-argument',
      `Reed-Solomon needs 1 <= k <= ${RS_MAX_DATA_SHARDS} and 1 <= m <= ${RS_MAX_PARITY_SHARDS}, got k=${k} m=${m}`,
    );
  }
  const key = `${k}+${m}`;
  let context = contexts.get(key);
  if (!context) {
    context = ReedSolomon.create(k, m);
    contexts.set(key, context);
  }
  return context;
}

function run(
  k: number,
  m: number,
  sources: number,
  targets: number,
  data: Buffer,
  parity: Buffer,
  shardBytes: number,
): Promise<void> {
  assert(
    shardBytes > 0 && shardBytes % SHARD_ALIGN_BYTES === 0,
    `shard size ${shardBytes} is a positive multiple of 8`,
  );
  assert(
    data.length === k * shardBytes && parity.length === m * shardBytes,
    'erasure buffers match k, m, shard size',
  );
  const context = contextFor(k, m);
  return new Promise((resolve, reject) => {
    ReedSolomon.encode(context, sources, targets, data, 0, data.length, parity, 0, parity.length, (error) =>
      error ? reject(error) : resolve(),
    );
  });
}

/** Parity shards (m x shardBytes) for data (k x shardBytes), optionally written into `into`. */
export async function encodeParity(
  k: number,
  m: number,
  data: Buffer,
  shardBytes: number,
  into?: Buffer,
): Promise<Buffer> {
  const parity = into ? into.subarray(0, m * shardBytes) : Buffer.alloc(m * shardBytes);
  let sources = 0;
  for (let i = 0; i < k; i++) sources |= 1 << i;
  let targets = 0;
  for (let i = k; i < k + m; i++) targets |= 1 << i;
  await run(k, m, sources, targets, data, parity, shardBytes);
  return parity;
}

/**
 * Rebuild the data area (k x shardBytes) from any k present shard bodies (null = missing or
 * corrupt). Throws 'unrecoverable' when fewer than k are present.
 */
export async function reconstructData(
  k: number,
  m: number,
  bodies: readonly (Uint8Array | null)[],
  shardBytes: number,
): Promise<Buffer> {
  assert(bodies.length === k + m, 'one body slot per shard');
  const present = bodies.filter((b) => b !== null).length;
  if (present < k) {
    throw new PipelineError(
      'unrecoverable',
      `only ${present} of ${k + m} shards are readable, ${k} are needed`,
    );
  }
  let sources = 0;
  let targets = 0;
  for (let i = 0; i < k + m; i++) {
    const body = bodies[i];
    if (body) {
      assert(body.length === shardBytes, `shard ${i} body is ${shardBytes} bytes`);
      sources |= 1 << i;
    } else if (i < k) targets |= 1 << i;
  }
  // Every data shard present: each byte of the area is copied over, and no parity is needed (a
  // zeroed area and parity cost a stripe's worth of page faults and zeroing each).
  const data = targets === 0 ? Buffer.allocUnsafe(k * shardBytes) : Buffer.alloc(k * shardBytes);
  for (let i = 0; i < k; i++) if (bodies[i]) data.set(bodies[i]!, i * shardBytes);
  if (targets === 0) return data;
  const parity = Buffer.alloc(m * shardBytes);
  for (let i = k; i < k + m; i++) if (bodies[i]) parity.set(bodies[i]!, (i - k) * shardBytes);
  await run(k, m, sources, targets, data, parity, shardBytes);
  return data;
}
