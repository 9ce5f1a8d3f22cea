/**
 * What a host types into the event form, in the units people use: wall-clock times in the event's
 * own time zone (an <input type="datetime-local"> carries no zone) and prices in major units. The
 * API stores instants and minor units; these convert both ways.
 */

const WALL_CLOCK = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/;

type WallParts = [year: number, month: number, day: number, hour: number, minute: number, second: number];

const DAY_MS = 86_400_000;

function wallParts(ms: number, timeZone: string): WallParts {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone,
    hourCycle: "h23",
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  }).formatToParts(ms);
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value);
  return [get("year"), get("month"), get("day"), get("hour"), get("minute"), get("second")];
}

/** How far `timeZone`'s wall clock is ahead of UTC at the instant `ms` (DST included). */
function offsetAt(ms: number, timeZone: string): number {
  const [y, mo, d, h, mi, s] = wallParts(ms, timeZone);
  return Date.UTC(y, mo - 1, d, h, mi, s) - Math.floor(ms / 1000) * 1000;
}

/** The instant as the `datetime-local` value ("2027-03-14T19:00") a clock in `timeZone` shows. */
export function toWallClock(ms: number, timeZone: string): string {
  const [y, mo, d, h, mi] = wallParts(ms, timeZone);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${String(y).padStart(4, "0")}-${pad(mo)}-${pad(d)}T${pad(h)}:${pad(mi)}`;
}

/**
 * The instant a wall-clock time in `timeZone` names, or null when the text is not such a time.
 * Read with the zone's offset before and after the day's possible DST change: a time repeated by
 * fall-back is its first occurrence (the earlier instant), and a time skipped by spring-forward, read
 * with the offset before the change, lands just after the gap (02:30 → 03:30), as most calendars do.
 */
export function fromWallClock(value: string, timeZone: string): number | null {
  const match = WALL_CLOCK.exec(value.trim());
  if (!match) return null;
  const wall = match.slice(1).map((part) => Number(part ?? 0)) as WallParts;
  const [y, mo, d, h, mi, s] = wall;
  const asUtc = Date.UTC(y, mo - 1, d, h, mi, s);
  const check = new Date(asUtc);
  // Date.UTC rolls 2027-02-30 over to March; a real calendar date survives the round trip.
  if (check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) return null;
  const before = offsetAt(asUtc - DAY_MS, timeZone);
  const after = offsetAt(asUtc + DAY_MS, timeZone);
  const shows = (instant: number) => wallParts(instant, timeZone).every((part, i) => part === wall[i]);
  const instants = [asUtc - before, asUtc - after].filter(shows);
  return instants.length > 0 ? Math.min(...instants) : asUtc - before;
}

export function isTimeZone(timeZone: string): boolean {
  if (!timeZone) return false;
  try {
    new Intl.DateTimeFormat("en", { timeZone });
    return true;
  } catch {
    return false;
  }
}

/** "Sat, 14 Mar 2027, 19:00 CET": an instant as people at the venue read it. */
export function formatInZone(ms: number, timeZone: string): string {
  return new Intl.DateTimeFormat("en-GB", {
    timeZone: isTimeZone(timeZone) ? timeZone : "UTC",
    weekday: "short",
    day: "numeric",
    month: "short",
    year: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    timeZoneName: "short",
  }).format(ms);
}

/**
 * Digits after the decimal point of a currency's major unit (ISO 4217 minor unit: 2 for EUR, 0 for
 * JPY), which is also how Stripe counts minor units for every currency Gatehouse sells in.
 */
export function minorDigits(currency: string): number {
  try {
    return new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits ?? 2;
  } catch {
    return 2;
  }
}

/** "12.50" (EUR) → 1250; an amount with more decimals than the currency has, or not a number, is an error. */
export function toMinorUnits(text: string, currency: string): { value: number } | { error: string } {
  const digits = minorDigits(currency);
  const match = /^(\d{1,12})(?:[.,](\d*))?$/.exec(text.trim());
  if (!match) return { error: digits > 0 ? "must be an amount such as 12.50" : "must be a whole amount such as 1500" };
  const fraction = (match[2] ?? "").replace(/0+$/, "");
  if (fraction.length > digits) {
    return {
      error: digits === 0 ? `${currency} has no decimal places` : `use at most ${digits} decimal places in ${currency}`,
    };
  }
  return { value: Number(match[1]) * 10 ** digits + Number(fraction.padEnd(digits, "0") || 0) };
}

/** 1250 (EUR) → "12.50": the value a price input shows. */
export function toMajorUnits(minor: number, currency: string): string {
  const digits = minorDigits(currency);
  return (minor / 10 ** digits).toFixed(digits);
}
