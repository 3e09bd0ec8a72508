/**
 * Request bodies held as few times as possible: bytes are copied from the socket's chunks straight into one buffer
 * sized from Content-Length (bounded by the upload limit), so an upload of N bytes costs N bytes, not the 2–3 N of
 * collecting chunks and concatenating them. The buffers allocated here belong to one request only, which is what
 * lets them be moved (not copied) to a decoding thread (`isOwnedBuffer`).
 */

const owned = new WeakSet<ArrayBufferLike>();

/** True for a buffer this module allocated for one request (safe to transfer to another thread). */
export function isOwnedBuffer(buffer: ArrayBufferLike): boolean {
  return owned.has(buffer);
}

/**
 * An append-only byte sink cut into regions (one per multipart part, or the whole body): bytes go into one arena
 * sized from Content-Length; if the body turns out longer than declared (or has no declared length), the rest is
 * kept as chunks and each region assembled once when it ends.
 */
export class ByteSink {
  private readonly arena: Uint8Array;
  private arenaFill = 0;
  private overflowing: boolean;
  private overflow: Uint8Array[] = [];
  private total = 0;

  /** @param capacity - the declared total (Content-Length), or undefined when the body is chunked. */
  constructor(capacity: number | undefined) {
    this.arena = allocate(capacity ?? 0);
    this.overflowing = capacity === undefined;
  }

  /** Bytes pushed so far. */
  get size(): number {
    return this.total;
  }

  /** Starts a region; pass the result to {@link region} when it ends. */
  mark(): number {
    return this.overflowing ? -1 : this.arenaFill;
  }

  push(chunk: Uint8Array): void {
    if (!this.overflowing && this.arenaFill + chunk.byteLength <= this.arena.byteLength) {
      this.arena.set(chunk, this.arenaFill);
      this.arenaFill += chunk.byteLength;
    } else {
      this.overflowing = true;
      this.overflow.push(chunk);
    }
    this.total += chunk.byteLength;
  }

  /** The bytes pushed since `mark`, as one view over an owned buffer. */
  region(mark: number): Uint8Array {
    const head = mark >= 0 ? this.arena.subarray(mark, this.arenaFill) : new Uint8Array(0);
    if (!this.overflowing) return head;
    const size = head.byteLength + this.overflow.reduce((n, c) => n + c.byteLength, 0);
    const out = allocate(size);
    out.set(head, 0);
    let offset = head.byteLength;
    for (const c of this.overflow) {
      out.set(c, offset);
      offset += c.byteLength;
    }
    this.overflow = [];
    return out;
  }
}

function allocate(size: number): Uint8Array {
  const buffer = new ArrayBuffer(size);
  owned.add(buffer);
  return new Uint8Array(buffer);
}

/** The Content-Length of a request, if it declared a sane one. */
export function declaredLength(header: string | string[] | undefined): number | undefined {
  if (typeof header !== 'string' || !/^\d{1,15}$/.test(header)) return undefined;
  return Number(header);
}
