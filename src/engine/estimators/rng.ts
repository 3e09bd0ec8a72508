/**
 * Seeded pseudo-random numbers for the stochastic estimators, so that the same seed gives the same probes and
 * hence the same estimate on every machine and backend (Math.random cannot be seeded).
 *
 * Generator: xoshiro128** (Blackman & Vigna, "Scrambled linear pseudorandom number generators", 2021), 128-bit
 * state filled from the 32-bit seed by splitmix32 so that nearby seeds give unrelated streams. Normal deviates
 * by the Box–Muller transform. Not cryptographic.
 */

/** A deterministic stream of random numbers. */
export interface Rng {
  /** Next raw 32-bit output as an unsigned integer. */
  uint32(): number;
  /** Uniform on [0, 1) with 53 random bits. */
  uniform(): number;
  /** Standard normal N(0, 1). */
  normal(): number;
  /** n independent ±1 entries, each with probability ½. */
  rademacherVector(n: number): Float64Array;
  /** n independent N(0, 1) entries. */
  gaussianVector(n: number): Float64Array;
}

const rotl = (x: number, k: number): number => (x << k) | (x >>> (32 - k));

class Xoshiro128StarStar implements Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  /** Box–Muller makes normals in pairs; the second is kept for the next call. */
  private spareNormal: number | null = null;

  constructor(seed: number) {
    let state = seed | 0;
    const next = (): number => {
      state = (state + 0x9e3779b9) | 0;
      let z = state;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) | 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
    // The all-zero state is the generator's only fixed point.
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  uint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9);
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result >>> 0;
  }

  uniform(): number {
    const hi = this.uint32() >>> 5; // 27 bits
    const lo = this.uint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  normal(): number {
    if (this.spareNormal !== null) {
      const z = this.spareNormal;
      this.spareNormal = null;
      return z;
    }
    const u1 = 1 - this.uniform(); // (0, 1]: log is finite
    const u2 = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u1));
    this.spareNormal = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  }

  rademacherVector(n: number): Float64Array {
    const v = new Float64Array(n);
    let bits = 0;
    for (let i = 0; i < n; i++) {
      // One 32-bit draw supplies 32 signs.
      if ((i & 31) === 0) bits = this.uint32();
      v[i] = bits & 1 ? 1 : -1;
      bits >>>= 1;
    }
    return v;
  }

  gaussianVector(n: number): Float64Array {
    const v = new Float64Array(n);
    for (let i = 0; i < n; i++) v[i] = this.normal();
    return v;
  }
}

/**
 * A generator seeded by a 32-bit integer (taken modulo 2³², so negative seeds work and 2³² + s equals s).
 *
 * @throws RangeError when the seed is not an integer.
 */
export function createRng(seed: number): Rng {
  if (!Number.isInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}`);
  return new Xoshiro128StarStar(seed);
}

/** The murmur3 finalizer: a bijection of 32-bit integers that spreads every input bit over the output. */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) | 0;
}

/**
 * The generator of unit `index` (a probe, a run) of a computation seeded by `seed`: its own stream, a function of
 * (seed, index) only, so a unit draws the same numbers whichever piece of a split job computes it, and in
 * whatever order. Distinct indices give distinct generator seeds for the same `seed`.
 *
 * @throws RangeError when seed or index is not an integer, or index is negative.
 */
export function derivedRng(seed: number, index: number): Rng {
  if (!Number.isInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}`);
  if (!Number.isInteger(index) || index < 0)
    throw new RangeError(`index must be a natural number, got ${index}`);
  return new Xoshiro128StarStar(seed ^ mix32(Math.imul(index + 1, 0x9e3779b9)));
}
