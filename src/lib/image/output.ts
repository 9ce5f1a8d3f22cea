/**
 * What a walker builds while it reads: the output as pieces named by offset, and the count of the
 * blocks (segments, chunks) it has read, refused past a cap.
 *
 * Why: a file can be nothing but tiny blocks (a 10 MB GIF holds 3.5 million 3-byte extension
 * blocks). One view object per kept block (~120 bytes each) grew a Worker by ~430 MB on one upload,
 * inside a 128 MB isolate. Here a kept block is two numbers, and only when it does not directly
 * follow the previous kept block (then it just extends that run); a dropped block costs nothing; and
 * the cap bounds how many runs there can be. The pieces become bytes only when the output is
 * assembled (bytes.ts), without a view per piece.
 */
import { Malformed } from "./bytes";

/** The output in order: runs of input bytes, and bytes from elsewhere (rewritten or minimal blocks). */
export interface Pieces {
  readonly count: number;
  /** Total bytes. */
  readonly length: number;
  /**
   * Two entries per piece: [start, end) of a run of input bytes; or, for bytes from elsewhere,
   * -1 - (their index in `added`) and 0.
   */
  readonly runs: Int32Array;
  readonly added: readonly Uint8Array[];
}

export class Output {
  #runs = new Int32Array(32);
  #count = 0;
  #length = 0;
  readonly #added: Uint8Array[] = [];
  /** The run of kept input bytes not yet recorded: [runStart, runEnd), empty when equal. */
  #runStart = 0;
  #runEnd = 0;

  /** Keeps input bytes [start, end), extending the current run when they follow it directly. */
  keep(start: number, end: number): void {
    if (start !== this.#runEnd || this.#runStart === this.#runEnd) {
      this.#close();
      this.#runStart = start;
    }
    this.#runEnd = end;
  }

  /** Appends bytes that are not in the input (they may still be written into until `finish`). */
  add(bytes: Uint8Array): void {
    this.#close();
    this.#push(-1 - this.#added.length, 0);
    this.#added.push(bytes);
    this.#length += bytes.length;
  }

  /** Bytes so far, the current run included. */
  get length(): number {
    return this.#length + (this.#runEnd - this.#runStart);
  }

  finish(): Pieces {
    this.#close();
    return {
      count: this.#count,
      length: this.#length,
      runs: this.#runs.subarray(0, 2 * this.#count),
      added: this.#added,
    };
  }

  #close(): void {
    if (this.#runEnd > this.#runStart) {
      this.#push(this.#runStart, this.#runEnd);
      this.#length += this.#runEnd - this.#runStart;
    }
    this.#runStart = this.#runEnd = 0;
  }

  #push(a: number, b: number): void {
    if (2 * this.#count === this.#runs.length) {
      const grown = new Int32Array(2 * this.#runs.length);
      grown.set(this.#runs);
      this.#runs = grown;
    }
    this.#runs[2 * this.#count] = a;
    this.#runs[2 * this.#count + 1] = b;
    this.#count++;
  }
}

/**
 * A counter a walker calls once per block it reads (kept or dropped): past `max` the file is refused
 * with `too-many-segments` before anything more is read.
 */
export function blockCounter(max: number, blocks: string): () => void {
  let seen = 0;
  return () => {
    seen++;
    if (seen > max) throw new Malformed("too-many-segments", `more than ${max} ${blocks}`);
  };
}
