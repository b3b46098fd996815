/** Worker side of VerifyPool: decodes and verifies batches of op bytes with node:crypto. */
import { parentPort } from 'node:worker_threads';
import { decodeOp, EngineError } from '../../engine/index.ts';
import { nodeEd25519Verifier } from './ed25519.ts';
import type { VerifyReply, VerifyRequest, VerifyResult } from './verify-pool.ts';

const verify = nodeEd25519Verifier();
if (parentPort === null) throw new Error('verify-worker runs only as a worker thread');
const port = parentPort;
port.on('message', (request: VerifyRequest) => {
  const results = request.batch.map((bytes): VerifyResult => {
    try {
      return { ok: decodeOp(bytes, { verify }) };
    } catch (e) {
      if (e instanceof EngineError) return { error: { code: e.code, message: e.message } };
      return { error: { code: 'crash', message: String(e) } };
    }
  });
  port.postMessage({ id: request.id, results } satisfies VerifyReply);
});
