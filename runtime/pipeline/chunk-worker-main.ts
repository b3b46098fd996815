/**
 * Chunk worker: reads, chunks, names and seals files sent by the ChunkPool (chunk-pool.ts).
 * Messages in: { type: 'file', jobId, path, keys } and { type: 'ack', jobId }.
 * Messages out: { type: 'chunks', jobId, chunks } (buffers transferred), { type: 'done', jobId,
 * result } or { type: 'error', jobId, code, message }.
 */
import { parentPort } from 'node:worker_threads';
import { readAndSealFile, type SealedChunk } from './file-reader.ts';

const port = parentPort;
if (!port) throw new Error('chunk-worker-main runs only as a worker thread');

let waitingAck: (() => void) | null = null;

port.on(
  'message',
  (msg: {
    type: string;
    jobId: number;
    path?: Uint8Array;
    keys?: { dataKey: Uint8Array; chunkIdKey: Uint8Array };
  }) => {
    if (msg.type === 'ack') {
      const resume = waitingAck;
      waitingAck = null;
      resume?.();
      return;
    }
    if (msg.type !== 'file' || !msg.path || !msg.keys) return;
    const { jobId, path, keys } = msg;
    const onBatch = (chunks: SealedChunk[]): Promise<void> =>
      new Promise((resolve) => {
        waitingAck = resolve;
        // Transfer only buffers that own their whole ArrayBuffer (small Buffers share a pool).
        const transfer = new Set<ArrayBuffer>();
        for (const c of chunks) {
          for (const part of c.parts) {
            const ab = part.buffer as ArrayBuffer;
            if (part.byteOffset === 0 && part.byteLength === ab.byteLength) transfer.add(ab);
          }
        }
        port.postMessage({ type: 'chunks', jobId, chunks }, [...transfer]);
      });
    readAndSealFile(path, keys, onBatch).then(
      (result) => port.postMessage({ type: 'done', jobId, result }),
      (error: NodeJS.ErrnoException) =>
        port.postMessage({
          type: 'error',
          jobId,
          code: error.code ?? 'EIO',
          message: String(error.message ?? error),
        }),
    );
  },
);
