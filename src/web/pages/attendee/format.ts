/**
 * How attendee pages write times, prices and distances: an event's times in the event's own time
 * zone (a ticket for a Lisbon concert says 20:00 in Lisbon wherever it is read), prices from minor
 * units with the currency's own number of decimals (JPY has none), distances to one decimal.
 */

const dateFormats = new Map<string, Intl.DateTimeFormat>();

function dateFormat(timeZone: string): Intl.DateTimeFormat {
  let format = dateFormats.get(timeZone);
  if (!format) {
    try {
      format = new Intl.DateTimeFormat("en-GB", {
        timeZone,
        weekday: "short",
        day: "numeric",
        month: "short",
        year: "numeric",
        hour: "2-digit",
        minute: "2-digit",
        timeZoneName: "short",
      });
    } catch {
      // A zone this runtime does not know: UTC, labelled as such, rather than a broken page.
      return dateFormat("UTC");
    }
    if (dateFormats.size > 500) dateFormats.clear();
    dateFormats.set(timeZone, format);
  }
  return format;
}

/** "Sat, 12 Dec 2026, 20:00 CET" in the event's zone. */
export function eventTime(ms: number, timeZone: string): string {
  return dateFormat(timeZone).format(new Date(ms));
}

/** Machine-readable instant for <time datetime>. */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

/** Minor units → "€15.00"; zero → "Free". */
export function price(amount: number, currency: string): string {
  if (amount === 0) return "Free";
  try {
    const format = new Intl.NumberFormat("en-GB", { style: "currency", currency: currency.toUpperCase() });
    const digits = format.resolvedOptions().maximumFractionDigits ?? 2;
    return format.format(amount / 10 ** digits);
  } catch {
    return `${(amount / 100).toFixed(2)} ${currency.toUpperCase()}`;
  }
}

export function distance(km: number): string {
  return km < 1 ? `${Math.round(km * 1000)} m away` : `${km.toFixed(1)} km away`;
}

/** Few enough left to say so: the last tenth of the room, at least 3 and at most 10 seats. */
export function fewLeft(remaining: number, capacity: number): boolean {
  return remaining > 0 && remaining <= Math.min(10, Math.max(3, Math.ceil(capacity * 0.1)));
}
