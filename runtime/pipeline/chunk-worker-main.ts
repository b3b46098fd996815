/**
 * Chunk worker: reads, chunks, names and seals files sent by the ChunkPool (chunk-pool.ts), and
 * opens objects of a stripe area for the OpenPool (open-pool.ts, restore).
 * Messages in: { type: 'file', jobId, path, keys }, { type: 'ack', jobId },
 * { type: 'smallFiles', jobId, paths, keys } and { type: 'open', jobId, area, objects, keys }.
 * Messages out: { type: 'chunks', jobId, chunks } (buffers transferred), { type: 'done', jobId,
 * result }, { type: 'error', jobId, code, message }, { type: 'smallDone', jobId, files } (one
 * outcome per path, in order: { result, chunks } or { error }) and { type: 'opened', jobId,
 * results } (each result { landed, written }, or { error }).
 */
import { parentPort } from 'node:worker_threads';
import { readAndSealFile, readAndSealSmallFile, type SealedChunk } from './file-reader.ts';
import { type OpenTarget, openAndLand } from './restore-land.ts';

const port = parentPort;
if (!port) throw new Error('chunk-worker-main runs only as a worker thread');

/**
 * Batches the main thread has not acknowledged yet. Up to MAX_UNACKED_BATCHES may be in flight,
 * so the worker reads and seals the next batch while the main thread packs the previous one.
 * The file's final stat (change detection) and its 'done' come only after every batch of the
 * file is acknowledged (the file's cache row must follow its chunks into the stripe writer).
 */
export const MAX_UNACKED_BATCHES = 2;
let unacked = 0;
let waitingAck: (() => void) | null = null;

function whenUnackedBelow(limit: number): Promise<void> {
  if (unacked < limit) return Promise.resolve();
  return new Promise((resolve) => {
    waitingAck = () => {
      if (unacked < limit) {
        waitingAck = null;
        resolve();
      }
    };
  });
}

port.on(
  'message',
  (msg: {
    type: string;
    jobId: number;
    path?: Uint8Array;
    keys?: { dataKey: Uint8Array; chunkIdKey: Uint8Array };
  }) => {
    if (msg.type === 'ack') {
      unacked--;
      waitingAck?.();
      return;
    }
    if (msg.type === 'open') {
      openAll(msg as unknown as OpenRequest);
      return;
    }
    if (msg.type === 'smallFiles') {
      sealSmallFiles(msg as unknown as SmallFilesRequest);
      return;
    }
    if (msg.type !== 'file' || !msg.path || !msg.keys) return;
    const { jobId, path, keys } = msg;
    const onBatch = async (chunks: SealedChunk[]): Promise<void> => {
      // Transfer only buffers that own their whole ArrayBuffer (small Buffers share a pool).
      const transfer = new Set<ArrayBuffer>();
      for (const c of chunks) {
        for (const part of c.parts) {
          const ab = part.buffer as ArrayBuffer;
          if (part.byteOffset === 0 && part.byteLength === ab.byteLength) transfer.add(ab);
        }
      }
      unacked++;
      port.postMessage({ type: 'chunks', jobId, chunks }, [...transfer]);
      await whenUnackedBelow(MAX_UNACKED_BATCHES);
    };
    readAndSealFile(path, keys, onBatch, undefined, () => whenUnackedBelow(1))
      .then((result) => port.postMessage({ type: 'done', jobId, result }))
      .catch((error: NodeJS.ErrnoException) =>
        port.postMessage({
          type: 'error',
          jobId,
          code: error.code ?? 'EIO',
          message: String(error.message ?? error),
        }),
      );
  },
);

interface OpenRequest {
  jobId: number;
  area: Uint8Array;
  objects: OpenTarget[];
  keys: { dataKey: Uint8Array; chunkIdKey: Uint8Array };
}

/**
 * Decrypt and verify (tag and id) each object of a stripe area, land the small files made of it
 * alone and write it into the larger files that hold it (restore-land.ts); only outcomes go back.
 */
function openAll(req: OpenRequest): void {
  const results = req.objects.map((o) => openAndLand(req.keys, req.area, o));
  // The area is not sent back: it is shared memory the main thread still holds, or a copy.
  port!.postMessage({ type: 'opened', jobId: req.jobId, results });
}

interface SmallFilesRequest {
  jobId: number;
  paths: Uint8Array[];
  keys: { dataKey: Uint8Array; chunkIdKey: Uint8Array };
}

/** A batch of small files, read synchronously one after the other; one answer for all. */
function sealSmallFiles(req: SmallFilesRequest): void {
  const files = req.paths.map((path) => readAndSealSmallFile(path, req.keys));
  const transfer = new Set<ArrayBuffer>();
  for (const f of files) {
    if (!('chunks' in f)) continue;
    for (const c of f.chunks) {
      for (const part of c.parts) {
        const ab = part.buffer as ArrayBuffer;
        if (part.byteOffset === 0 && part.byteLength === ab.byteLength) transfer.add(ab);
      }
    }
  }
  port!.postMessage({ type: 'smallDone', jobId: req.jobId, files }, [...transfer]);
}
