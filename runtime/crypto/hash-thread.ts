/**
 * SHA-256 of large buffers (shards) on a worker thread, so the thread that decrypts the network
 * stream keeps receiving the next shard while this one is verified. The view's whole ArrayBuffer
 * is transferred to the worker and back (no copy): the caller hands it over, and any other view
 * of it is detached meanwhile. Small inputs and Node Buffers (which may share a pool) are hashed
 * inline. One worker, created on first use, unref'd while idle; at most MAX_QUEUED hashes wait.
 */
import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';

/** Below this, the round trip to the worker costs more than the hash. */
export const OFF_THREAD_MIN_BYTES = 1024 * 1024;
const MAX_QUEUED = 64;

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
parentPort.on('message', ({ id, buffer, offset, length }) => {
  const hex = createHash('sha256').update(new Uint8Array(buffer, offset, length)).digest('hex');
  parentPort.postMessage({ id, buffer, hex }, [buffer]);
});
`;

interface Pending {
  resolve: (r: { bytes: Uint8Array; sha256: string }) => void;
  reject: (e: Error) => void;
  offset: number;
  length: number;
}

let worker: Worker | null = null;
const pending = new Map<number, Pending>();
let nextId = 0;

function getWorker(): Worker {
  if (worker !== null) return worker;
  const w = new Worker(WORKER_SOURCE, { eval: true });
  w.on('message', (m: { id: number; buffer: ArrayBuffer; hex: string }) => {
    const p = pending.get(m.id);
    if (p === undefined) throw new Error(`hash thread: reply to unknown request ${m.id}`);
    pending.delete(m.id);
    if (pending.size === 0) w.unref();
    p.resolve({ bytes: new Uint8Array(m.buffer, p.offset, p.length), sha256: m.hex });
  });
  w.on('error', (e) => {
    for (const p of pending.values()) p.reject(e);
    pending.clear();
    worker = null;
  });
  w.unref();
  worker = w;
  return w;
}

/**
 * Hashes `bytes`; returns the bytes (the same memory, handed back by the worker) and the hex
 * digest. After the call the caller must use the returned `bytes`, not its own view.
 */
export function sha256OffThread(bytes: Uint8Array): Promise<{ bytes: Uint8Array; sha256: string }> {
  // The memory is moved to the worker and back: only a whole ArrayBuffer, nothing else viewing it.
  const movable = bytes.buffer instanceof ArrayBuffer && !(bytes instanceof Buffer);
  if (bytes.length < OFF_THREAD_MIN_BYTES || !movable || pending.size >= MAX_QUEUED) {
    return Promise.resolve({ bytes, sha256: createHash('sha256').update(bytes).digest('hex') });
  }
  const w = getWorker();
  const id = nextId++;
  const { byteOffset: offset, length } = bytes;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject, offset, length });
    w.ref();
    const buffer = bytes.buffer as ArrayBuffer;
    w.postMessage({ id, buffer, offset, length }, [buffer]);
  });
}
