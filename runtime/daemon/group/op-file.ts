/**
 * The op log on disk: `ops.bin`, an append-only sequence of `4-byte big-endian length || op
 * bytes`, fsynced per append, plus `group-id` (the create op's hash, hex). Ops are re-verified
 * when loaded (the file is not trusted more than the network). A torn tail (crash mid-append) is
 * cut off with a warning; anything else malformed stops the load loudly.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { MAX_OP_BYTES } from '../../../engine/index.ts';
import { writeFileAtomic } from '../../store/atomic-file.ts';

export class OpFile {
  private constructor(
    private readonly dir: string,
    private fd: number,
  ) {}

  static open(dir: string): { file: OpFile; ops: Uint8Array[]; groupId: string | null; warnings: string[] } {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const path = join(dir, 'ops.bin');
    const warnings: string[] = [];
    const ops: Uint8Array[] = [];
    const data = fs.existsSync(path) ? fs.readFileSync(path) : Buffer.alloc(0);
    let offset = 0;
    while (offset + 4 <= data.length) {
      const length = data.readUInt32BE(offset);
      if (length === 0 || length > MAX_OP_BYTES)
        throw new Error(`${path}: corrupt record at byte ${offset} (length ${length})`);
      if (offset + 4 + length > data.length) break;
      ops.push(new Uint8Array(data.subarray(offset + 4, offset + 4 + length)));
      offset += 4 + length;
    }
    if (offset !== data.length) {
      warnings.push(`${path}: cut a torn record of ${data.length - offset} bytes at the end`);
      fs.truncateSync(path, offset);
    }
    const idPath = join(dir, 'group-id');
    let groupId: string | null = null;
    if (fs.existsSync(idPath)) {
      groupId = fs.readFileSync(idPath, 'utf8').trim();
      if (!/^[0-9a-f]{64}$/.test(groupId)) throw new Error(`${idPath}: not a group id`);
    }
    const fd = fs.openSync(path, 'a', 0o600);
    return { file: new OpFile(dir, fd), ops, groupId, warnings };
  }

  append(ops: readonly Uint8Array[]): void {
    if (ops.length === 0) return;
    const parts: Buffer[] = [];
    for (const op of ops) {
      const len = Buffer.alloc(4);
      len.writeUInt32BE(op.length, 0);
      parts.push(len, Buffer.from(op.buffer, op.byteOffset, op.byteLength));
    }
    fs.writeSync(this.fd, Buffer.concat(parts));
    fs.fsyncSync(this.fd);
  }

  setGroupId(groupId: string): void {
    writeFileAtomic(join(this.dir, 'group-id'), Buffer.from(`${groupId}\n`));
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}
