/**
 * Framing shared by every pb protocol (docs/protocols.md section 1).
 *
 * A frame is a 4-byte big-endian length followed by that many bytes. A message frame holds one
 * pb-cbor array `[version, type, ...fields]` (the engine's strict CBOR: one encoding per value,
 * no maps or floats), decoded only after its length is checked against the protocol's limit.
 * Type 0 is the error frame `[1, 0, code, message]`: the sender closes the stream after it.
 * Bulk bytes (shard bodies) follow their header frame as a raw frame, so a 32 MiB shard is never
 * re-encoded or copied more than once.
 */
import type { Stream } from '@libp2p/interface';
import { Uint8ArrayList } from 'uint8arraylist';
import { type CborValue, decodeCbor, encodeCbor } from '../../engine/index.ts';
import { copyBytes } from '../copy-bytes.ts';
import { sha256OffThread } from '../crypto/hash-thread.ts';
import { isNetErrorCode, NetError } from './errors.ts';
import type { ReceiveBuffers } from './receive-buffers.ts';

export const FRAME_VERSION = 1;
export const FRAME_HEADER_BYTES = 4;
/** Largest message frame any protocol accepts (bulk frames have their own per-protocol bound). */
export const MAX_MESSAGE_BYTES = 8 * 1024 * 1024 + 1024;
export const ERROR_TYPE = 0;
/** Error text is cut to this many characters before it is sent. */
export const MAX_ERROR_TEXT = 512;
/** Default bound on waiting for the next bytes of a frame. */
export const DEFAULT_READ_TIMEOUT_MS = 30_000;

/** A decoded message: its type and its remaining fields (the version already checked). */
export interface Message {
  readonly type: number;
  readonly fields: readonly CborValue[];
}

function lengthPrefix(length: number): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_BYTES);
  new DataView(out.buffer).setUint32(0, length, false);
  return out;
}

/** Writes bytes, waiting for the stream to drain when its buffer is full (back-pressure). */
/** How long a send waits for the peer to take bytes before the stream is given up. */
export const SEND_DRAIN_TIMEOUT_MS = 30_000;

/**
 * Sends with back-pressure. A peer that stops reading (or a half-open link whose buffer never
 * empties) gets SEND_DRAIN_TIMEOUT_MS; then the stream is aborted and the send fails 'timeout'.
 */
export async function sendBytes(stream: Stream, bytes: Uint8Array | Uint8ArrayList): Promise<void> {
  if (stream.send(bytes)) return;
  try {
    await stream.onDrain({ signal: AbortSignal.timeout(SEND_DRAIN_TIMEOUT_MS) });
  } catch (error) {
    const stuck = new NetError('timeout', `the peer took no bytes for ${SEND_DRAIN_TIMEOUT_MS} ms`, {
      cause: error,
    });
    stream.abort(stuck);
    throw stuck;
  }
}

export function encodeMessage(type: number, fields: readonly CborValue[]): Uint8Array {
  const body = encodeCbor([FRAME_VERSION, type, ...fields]);
  const out = new Uint8Array(FRAME_HEADER_BYTES + body.length);
  out.set(lengthPrefix(body.length), 0);
  out.set(body, FRAME_HEADER_BYTES);
  return out;
}

export async function sendMessage(stream: Stream, type: number, fields: readonly CborValue[]): Promise<void> {
  await sendBytes(stream, encodeMessage(type, fields));
}

/** Bulk bytes go out in pieces of this size, each waiting for the stream to drain. */
export const SEND_CHUNK_BYTES = 256 * 1024;

/** A raw frame: length prefix then the bytes as they are (views, no copy), with back-pressure. */
export async function sendRaw(stream: Stream, bytes: Uint8Array): Promise<void> {
  await sendBytes(stream, lengthPrefix(bytes.length));
  for (let offset = 0; offset < bytes.length; offset += SEND_CHUNK_BYTES) {
    await sendBytes(stream, bytes.subarray(offset, Math.min(bytes.length, offset + SEND_CHUNK_BYTES)));
  }
}

/** Sends an error frame and closes the stream; never throws (the stream may already be gone). */
export async function sendError(stream: Stream, error: NetError | Error): Promise<void> {
  const code = error instanceof NetError ? error.code : 'internal';
  const text = error.message.slice(0, MAX_ERROR_TEXT);
  try {
    await sendMessage(stream, ERROR_TYPE, [code, text]);
    await stream.close({ signal: AbortSignal.timeout(5_000) });
  } catch {
    stream.abort(error);
  }
}

/**
 * Reads frames from a stream. Every read is bounded in size (checked from the length prefix,
 * before any byte of the body is buffered beyond what already arrived) and in time.
 */
export class FrameReader {
  private readonly buffer = new Uint8ArrayList();
  private readonly source: AsyncIterator<Uint8Array | Uint8ArrayList>;
  private ended = false;

  constructor(
    private readonly stream: Stream,
    private readonly timeoutMs = DEFAULT_READ_TIMEOUT_MS,
  ) {
    this.source = stream[Symbol.asyncIterator]();
  }

  /** Pulls one chunk into the buffer; false at the end of the stream. */
  private async pull(): Promise<boolean> {
    if (this.ended) return false;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new NetError('timeout', `no data for ${this.timeoutMs} ms`)),
        this.timeoutMs,
      );
    });
    try {
      const next = await Promise.race([this.source.next(), timeout]);
      if (next.done) {
        this.ended = true;
        return false;
      }
      this.buffer.append(next.value);
      return true;
    } catch (error) {
      if (error instanceof NetError && error.code === 'timeout') this.stream.abort(error);
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  private async need(bytes: number, what: string): Promise<void> {
    while (this.buffer.byteLength < bytes) {
      if (!(await this.pull())) {
        throw new NetError(
          'closed',
          `the stream ended inside ${what} (${this.buffer.byteLength} of ${bytes} bytes)`,
        );
      }
    }
  }

  /** True when the other side closed its end with nothing more to read. */
  async atEnd(): Promise<boolean> {
    if (this.buffer.byteLength > 0) return false;
    return !(await this.pull());
  }

  private async frameLength(maxBytes: number, what: string): Promise<number> {
    await this.need(FRAME_HEADER_BYTES, `the length of ${what}`);
    const length = this.buffer.getUint32(0, false);
    if (length > maxBytes) {
      throw new NetError('too-large', `${what} is ${length} bytes, over the limit of ${maxBytes}`);
    }
    await this.need(FRAME_HEADER_BYTES + length, what);
    return length;
  }

  /**
   * The next raw frame, copied once into a buffer of its own, and its SHA-256 computed on the hash
   * thread, so this thread goes on receiving while the bytes are verified.
   */
  async readRawHashed(
    maxBytes: number,
    what = 'a bulk frame',
    buffers: ReceiveBuffers | null = null,
  ): Promise<{ bytes: Uint8Array; sha256: string }> {
    const length = await this.rawLength(maxBytes, what);
    const out = buffers === null ? new Uint8Array(length) : buffers.take(length);
    try {
      await this.consumeBody(length, what, (piece, position) => out.set(piece, position));
    } catch (error) {
      buffers?.give(out);
      throw error;
    }
    return sha256OffThread(out);
  }

  /**
   * The next raw frame's bytes [skip, skip + take) copied into `into` at `at`, the others read
   * and dropped; resolves to the count copied (less when the frame is shorter). No buffer of the
   * frame's size is made and nothing is hashed: for a caller that authenticates what it reads.
   */
  async readRawInto(
    maxBytes: number,
    into: Uint8Array,
    at: number,
    skip: number,
    take: number,
    what = 'a bulk frame',
  ): Promise<number> {
    if (at < 0 || take < 0 || skip < 0 || at + take > into.length)
      throw new RangeError(`readRawInto: ${take} bytes at ${at} do not fit a buffer of ${into.length}`);
    const length = await this.rawLength(maxBytes, what);
    const end = skip + take;
    let copied = 0;
    await this.consumeBody(length, what, (piece, position) => {
      const from = Math.max(skip, position);
      const to = Math.min(end, position + piece.length);
      if (from >= to) return;
      copyBytes(into, at + from - skip, piece.subarray(from - position, to - position));
      copied += to - from;
    });
    return copied;
  }

  private async rawLength(maxBytes: number, what: string): Promise<number> {
    await this.need(FRAME_HEADER_BYTES, `the length of ${what}`);
    const length = this.buffer.getUint32(0, false);
    if (length > maxBytes) {
      throw new NetError('too-large', `${what} is ${length} bytes, over the limit of ${maxBytes}`);
    }
    this.buffer.consume(FRAME_HEADER_BYTES);
    return length;
  }

  /** Hands the frame body's `length` bytes to `onPiece` as they arrive (views, in order). */
  private async consumeBody(
    length: number,
    what: string,
    onPiece: (piece: Uint8Array, position: number) => void,
  ): Promise<void> {
    let filled = 0;
    while (filled < length) {
      if (this.buffer.byteLength === 0 && !(await this.pull())) {
        throw new NetError('closed', `the stream ended inside ${what} (${filled} of ${length} bytes)`);
      }
      let took = 0;
      for (const chunk of this.buffer) {
        if (filled >= length) break;
        const piece = chunk.subarray(0, Math.min(chunk.length, length - filled));
        onPiece(piece, filled);
        filled += piece.length;
        took += piece.length;
      }
      this.buffer.consume(took);
    }
  }

  /** The next raw frame as one contiguous copy. */
  async readRaw(maxBytes: number, what = 'a bulk frame'): Promise<Uint8Array> {
    const length = await this.frameLength(maxBytes, what);
    const out = this.buffer.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + length);
    this.buffer.consume(FRAME_HEADER_BYTES + length);
    return out;
  }

  /**
   * The next message, schema-checked for version and shape. An error frame from the other side
   * is thrown as a NetError with `remote: true`.
   */
  async readMessage(maxBytes: number, what = 'a message'): Promise<Message> {
    const bytes = await this.readRaw(Math.min(maxBytes, MAX_MESSAGE_BYTES), what);
    return parseMessage(bytes, what);
  }
}

export function parseMessage(bytes: Uint8Array, what = 'a message'): Message {
  let value: CborValue;
  try {
    value = decodeCbor(bytes, `${what} (pb-cbor)`);
  } catch (error) {
    // The decoder's text already names what was read: "<what> (pb-cbor): <why> at byte N".
    throw new NetError('bad-frame', (error as Error).message);
  }
  if (!Array.isArray(value) || value.length < 2) {
    throw new NetError('bad-message', `${what} must be an array [version, type, ...]`);
  }
  const [version, type, ...fields] = value;
  if (version !== FRAME_VERSION) {
    throw new NetError(
      'bad-version',
      `${what} has version ${String(version)}; this node speaks ${FRAME_VERSION}`,
    );
  }
  if (typeof type !== 'number') throw new NetError('bad-message', `${what} type must be a number`);
  if (type === ERROR_TYPE) {
    const [code, text] = fields;
    const message = typeof text === 'string' ? text.slice(0, MAX_ERROR_TEXT) : 'no reason given';
    throw new NetError(isNetErrorCode(code) ? code : 'internal', `refused by the other side: ${message}`, {
      remote: true,
    });
  }
  return { type, fields };
}

// Schema helpers: each returns the field or throws 'bad-message' naming it.

export function fieldUint(
  fields: readonly CborValue[],
  i: number,
  name: string,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const v = fields[i];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max) {
    throw new NetError('bad-message', `field ${name} must be a whole number 0..${max}`);
  }
  return v;
}

export function fieldText(fields: readonly CborValue[], i: number, name: string, maxChars: number): string {
  const v = fields[i];
  if (typeof v !== 'string' || v.length > maxChars) {
    throw new NetError('bad-message', `field ${name} must be text of at most ${maxChars} characters`);
  }
  return v;
}

export function fieldBytes(
  fields: readonly CborValue[],
  i: number,
  name: string,
  maxBytes: number,
  exact?: number,
): Uint8Array {
  const v = fields[i];
  if (!(v instanceof Uint8Array) || v.length > maxBytes || (exact !== undefined && v.length !== exact)) {
    throw new NetError(
      'bad-message',
      `field ${name} must be ${exact !== undefined ? `${exact}` : `at most ${maxBytes}`} bytes`,
    );
  }
  return v;
}

export function fieldArray(
  fields: readonly CborValue[],
  i: number,
  name: string,
  maxItems: number,
): CborValue[] {
  const v = fields[i];
  if (!Array.isArray(v) || v.length > maxItems) {
    throw new NetError('bad-message', `field ${name} must be a list of at most ${maxItems} items`);
  }
  return v;
}

export function requireFieldCount(fields: readonly CborValue[], count: number, what: string): void {
  if (fields.length !== count) {
    throw new NetError('bad-message', `${what} has ${fields.length} fields, expected ${count}`);
  }
}
