/**
 * What a walker builds while it reads: the output as few pieces as possible, and the count of the
 * blocks (segments, chunks) it has read, refused past a cap.
 *
 * Why both: a file can be nothing but tiny blocks (a 10 MB GIF holds 3.5 million 3-byte extension
 * blocks). One view object per kept block grew a Worker by ~430 MB on one upload, inside a 128 MB
 * isolate. Here a walker names kept bytes by offset: adjacent kept blocks extend one run and become
 * a single view when the run ends, a dropped block costs no object at all, and the cap bounds how
 * many runs there can be however the bytes are arranged.
 */
import { Malformed } from "./bytes";

export class Output {
  readonly #input: Uint8Array;
  readonly #parts: Uint8Array[] = [];
  /** The run of kept input bytes not yet turned into a view: [runStart, runEnd), empty when equal. */
  #runStart = 0;
  #runEnd = 0;

  constructor(input: Uint8Array) {
    this.#input = input;
  }

  /** Keeps input bytes [start, end), joining them to the current run when they follow it directly. */
  keep(start: number, end: number): void {
    if (start !== this.#runEnd || this.#runStart === this.#runEnd) {
      this.#close();
      this.#runStart = start;
    }
    this.#runEnd = end;
  }

  /** Appends bytes that are not in the input (a rewritten segment, a minimal Exif block). */
  add(bytes: Uint8Array): void {
    this.#close();
    this.#parts.push(bytes);
  }

  /** The output in order; the builder is done after this. */
  parts(): Uint8Array[] {
    this.#close();
    return this.#parts;
  }

  #close(): void {
    if (this.#runEnd > this.#runStart) this.#parts.push(this.#input.subarray(this.#runStart, this.#runEnd));
    this.#runStart = this.#runEnd = 0;
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
