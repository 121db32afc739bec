/** Identifiers. */

const HEX = Array.from(
  { length: 256 },
  (_, b) => b.toString(16).padStart(2, "0"),
);
/** Random bytes drawn in blocks (one getRandomValues call per 409 ids instead of one per id). */
const POOL = new Uint8Array(4096);
let used = POOL.length;

function random10(): number {
  if (used + 10 > POOL.length) {
    crypto.getRandomValues(POOL);
    used = 0;
  }
  const at = used;
  used += 10;
  return at;
}

/** A UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then 74 random bits; sorts by creation time. */
export function uuidv7(now = Date.now()): string {
  const r = random10();
  const p = POOL;
  // 48-bit milliseconds as 12 hex digits (beyond 2^32, so no bitwise operators on the whole value).
  const ms = now.toString(16).padStart(12, "0").slice(-12);
  return `${ms.slice(0, 8)}-${ms.slice(8)}-${HEX[0x70 | (p[r]! & 0x0f)]}${
    HEX[p[r + 1]!]
  }-${HEX[0x80 | (p[r + 2]! & 0x3f)]}${HEX[p[r + 3]!]}-${HEX[p[r + 4]!]}${
    HEX[p[r + 5]!]
  }${HEX[p[r + 6]!]}${HEX[p[r + 7]!]}${HEX[p[r + 8]!]}${HEX[p[r + 9]!]}`;
}
