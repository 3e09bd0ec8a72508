/** One zip entry as written: every header field can be made to lie. */
export interface ZipEntry {
  name: string | Buffer;
  /** The bytes stored after the local header (already compressed for deflated entries). */
  payload: Uint8Array;
  method?: number;
  flags?: number;
  crc: number;
  /** Declared uncompressed size. */
  size: number;
  /** Declared compressed size (default: the payload's length). */
  compressedSize?: number;
  /** Where the central directory says the local header is (default: where it is). */
  localHeaderOffset?: number;
  /** Local header signature (default: the right one). */
  localSignature?: number;
}

export interface ZipOptions {
  /** Saturate sizes and offsets and put them in zip64 extra fields and a zip64 end record. */
  zip64?: boolean;
  /** With zip64: saturate the fields but write no zip64 extra field (a lie). */
  omitZip64Extra?: boolean;
  /** A zip64 locator pointing at this offset instead of the record (implies no zip64 record). */
  zip64LocatorOffset?: number;
  /** Overrides of the end-of-central-directory record. */
  eocd?: {
    count?: number;
    directorySize?: number;
    directoryStart?: number;
    disk?: number;
    commentLength?: number;
  };
}

/** Writes a zip archive field by field (PKWARE APPNOTE 4.3). */
export function buildZip(entries: ZipEntry[], opts: ZipOptions = {}): Buffer {
  const parts: Buffer[] = [];
  let length = 0;
  const put = (b: Uint8Array) => {
    const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
    parts.push(buf);
    length += buf.length;
  };
  const u16 = (v: number) => {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(v & 0xffff);
    put(b);
  };
  const u32 = (v: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v >>> 0);
    put(b);
  };
  const u64 = (v: number | bigint) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    put(b);
  };
  const zip64 = opts.zip64 ?? false;
  const withExtra = zip64 && !opts.omitZip64Extra;
  const nameOf = (e: ZipEntry) => (typeof e.name === 'string' ? Buffer.from(e.name, 'utf8') : e.name);

  /** The fields the local header and the central directory entry share (APPNOTE 4.3.7 and 4.3.12). */
  const sharedFields = (e: ZipEntry, name: Buffer) => {
    u16(e.flags ?? 0);
    u16(e.method ?? 0);
    u32(0); // time, date
    u32(e.crc);
    u32(zip64 ? 0xffffffff : (e.compressedSize ?? e.payload.length));
    u32(zip64 ? 0xffffffff : e.size);
    u16(name.length);
  };

  const offsets: number[] = [];
  for (const e of entries) {
    offsets.push(length);
    const name = nameOf(e);
    u32(e.localSignature ?? 0x04034b50);
    u16(zip64 ? 45 : 20);
    sharedFields(e, name);
    u16(withExtra ? 20 : 0);
    put(name);
    if (withExtra) {
      u16(1);
      u16(16);
      u64(e.size);
      u64(e.compressedSize ?? e.payload.length);
    }
    put(e.payload);
  }
  const directoryStart = length;
  entries.forEach((e, i) => {
    const name = nameOf(e);
    const offset = e.localHeaderOffset ?? offsets[i];
    u32(0x02014b50);
    u16(zip64 ? 45 : 20);
    u16(zip64 ? 45 : 20);
    sharedFields(e, name);
    u16(withExtra ? 28 : 0);
    u16(0);
    u16(0);
    u16(0);
    u32(0);
    u32(zip64 ? 0xffffffff : offset);
    put(name);
    if (withExtra) {
      u16(1);
      u16(24);
      u64(e.size);
      u64(e.compressedSize ?? e.payload.length);
      u64(offset);
    }
  });
  const directorySize = length - directoryStart;
  if (opts.zip64LocatorOffset !== undefined) {
    u32(0x07064b50);
    u32(0);
    u64(opts.zip64LocatorOffset);
    u32(1);
  } else if (zip64) {
    const record = length;
    u32(0x06064b50);
    u64(44);
    u16(45);
    u16(45);
    u32(0);
    u32(0);
    u64(entries.length);
    u64(entries.length);
    u64(directorySize);
    u64(directoryStart);
    u32(0x07064b50);
    u32(0);
    u64(record);
    u32(1);
  }
  const eocd = opts.eocd ?? {};
  u32(0x06054b50);
  u16(eocd.disk ?? 0);
  u16(0);
  u16(zip64 ? 0xffff : (eocd.count ?? entries.length));
  u16(zip64 ? 0xffff : (eocd.count ?? entries.length));
  u32(zip64 ? 0xffffffff : (eocd.directorySize ?? directorySize));
  u32(zip64 ? 0xffffffff : (eocd.directoryStart ?? directoryStart));
  u16(eocd.commentLength ?? 0);
  return Buffer.concat(parts);
}
