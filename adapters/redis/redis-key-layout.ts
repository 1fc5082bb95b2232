import { Buffer } from 'node:buffer';

/**
 * Where the Redis online store keeps things (see README.md, "Key layout"):
 *
 * - entity row: `<prefix><entity>:{<encodedKey>}` — a hash with one field per table (`name@variant`) holding the
 *   encoded cell `<eventTs>:<tag><payload>`. `{…}` is a Cluster hash tag around the encoded entity key: rows spread
 *   over the cluster, and any later per-row key that extends the row key (`<rowKey>:…`) shares its slot.
 * - table metadata: `<prefix>_meta:tables`, a hash `<entity>:<table>` → `{"valueType":…,"ttlSeconds":…}`.
 *   Entity names start with a letter, so `_meta` never collides with a row key.
 */
export class RedisKeyLayout {
  readonly prefix: string;
  readonly metaKey: string;

  constructor(prefix: string) {
    if (/[{}]/.test(prefix)) throw new Error(`keyPrefix must not contain '{' or '}' (Cluster hash tags): ${JSON.stringify(prefix)}`);
    this.prefix = prefix;
    this.metaKey = `${prefix}_meta:tables`;
    Object.freeze(this);
  }

  /** Everything of an entity row key up to the encoded entity key: `<prefix><entity>:{`. */
  rowKeyStart(entity: string): string {
    return `${this.prefix}${entity}:{`;
  }

  rowKey(entity: string, encodedKey: string): string {
    return `${this.prefix}${entity}:{${encodedKey}}`;
  }

  metaField(entity: string, table: string): string {
    return `${entity}:${table}`;
  }

  /** SCAN pattern matching every row key of `entity` (and any key extending one). */
  entityScanPattern(entity: string): string {
    return `${escapeGlob(this.rowKeyStart(entity))}*`;
  }

  /** True for a row key itself (as opposed to a key extending one). */
  isRowKey(key: string): boolean {
    return key.endsWith('}');
  }
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

const crcTable = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    table[i] = crc;
  }
  return table;
})();

/** The Redis Cluster slot of `key` (CRC16/XMODEM of the hash tag, or of the whole key, mod 16384). */
export function redisHashSlot(key: string): number {
  let bytes = Buffer.from(key, 'utf8');
  const open = bytes.indexOf(0x7b);
  if (open !== -1) {
    const close = bytes.indexOf(0x7d, open + 1);
    if (close > open + 1) bytes = bytes.subarray(open + 1, close);
  }
  let crc = 0;
  for (const byte of bytes) crc = ((crc << 8) & 0xffff) ^ (crcTable[((crc >>> 8) ^ byte) & 0xff] ?? 0);
  return crc & 16383;
}
