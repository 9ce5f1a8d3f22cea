/**
 * User text of the social layer (posts, comments, bios): one normalisation so what is stored, counted
 * and compared is the same string whatever keyboard or clipboard produced it.
 * - NFC (UAX #15): "é" typed as e + U+0301 and as U+00E9 is one character, counted once;
 * - line breaks become "\n" (CR LF and a lone CR alike);
 * - control characters (Unicode general category Cc: C0, DEL, C1) other than "\n" are removed, and so
 *   are lone surrogates (not text; they would not survive UTF-8);
 * - leading and trailing whitespace is trimmed.
 * Length is counted in code points ("characters" to a person; an emoji of two UTF-16 units is one).
 */

/** Unicode general category Cc (U+0000–U+001F, U+007F–U+009F); "\n" is put back. */
const CONTROL = /\p{Cc}/gu;

export function normalizeText(raw: string): string {
  return raw
    .toWellFormed()
    .replace(/\r\n?/g, "\n")
    .normalize("NFC")
    .replace(CONTROL, (ch) => (ch === "\n" ? ch : ""))
    .trim();
}

/** Characters as a person counts them: code points, not UTF-16 units. */
export function textLength(text: string): number {
  let n = 0;
  for (const _ of text) n += 1;
  return n;
}
