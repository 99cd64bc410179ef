/**
 * Powens' dates. The API writes `YYYY-MM-DD HH:MM:SS` with no zone (SDK: `sql-date-time`, a
 * naive LocalDateTime); Powens documents no zone for them. A production connector reads them as
 * Europe/Paris wall-clock time, and connectors have been seen adding an offset to the same
 * fields (docs/POWENS-API.md, "Dates", has the sources). So: a zone-less value is a wall-clock
 * time in POWENS_TIMEZONE (default Europe/Paris), an explicit `Z` or offset is honoured, and
 * the service serves ISO 8601 in UTC. The tz database of Intl handles daylight saving time.
 */

/** `2026-11-24 10:00:00`, `2026-11-24T10:00:00.250Z`, `2026-01-01 12:00:00 +0200`, `2026-11-24`, ... */
const FORM = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:[.,]\d{1,9})?)?)?(?:\s?(Z|[+-]\d{2}(?::?\d{2})?))?$/i;

const formats = new Map<string, Intl.DateTimeFormat>();

/** Built once per zone: constructing an Intl.DateTimeFormat costs far more than using one. */
function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formats.get(timeZone);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formats.set(timeZone, f);
  }
  return f;
}

/** Whether Intl knows `timeZone` (an IANA name such as Europe/Paris, or UTC). */
export function isTimeZone(timeZone: string): boolean {
  try {
    formatter(timeZone);
    return true;
  } catch {
    return false;
  }
}

/** The zone's offset from UTC at the instant `ms`, in milliseconds (Europe/Paris in winter: 3_600_000). */
function offsetAt(ms: number, timeZone: string): number {
  const whole = Math.floor(ms / 1000) * 1000;
  const parts: Record<string, number> = {};
  for (const p of formatter(timeZone).formatToParts(new Date(whole))) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  const wall = Date.UTC(parts.year ?? 1970, (parts.month ?? 1) - 1, parts.day ?? 1, parts.hour ?? 0, parts.minute ?? 0, parts.second ?? 0);
  return wall - whole;
}

/**
 * The instant at which the zone's clocks show `wall` (a wall-clock time written as if it were
 * UTC). A wall time that happens twice (the hour clocks go back) is the first of the two; one
 * that never happens (the hour clocks skip) is moved forward by the gap, as Temporal's
 * "compatible" disambiguation does.
 */
function wallToInstant(wall: number, timeZone: string): number {
  const before = offsetAt(wall - 86_400_000, timeZone);
  const after = offsetAt(wall + 86_400_000, timeZone);
  const valid = [before, after].map((o) => wall - o).filter((t) => t + offsetAt(t, timeZone) === wall);
  return valid.length > 0 ? Math.min(...valid) : wall - before;
}

function offsetMs(offset: string): number | undefined {
  if (offset.toUpperCase() === 'Z') return 0;
  const m = /^([+-])(\d{2}):?(\d{2})?$/.exec(offset);
  if (m === null) return undefined;
  const hours = Number(m[2]);
  const minutes = Number(m[3] ?? '0');
  if (hours > 23 || minutes > 59) return undefined;
  return (m[1] === '-' ? -1 : 1) * (hours * 60 + minutes) * 60_000;
}

/** A Powens date as an instant, or null when it is empty or not a date (never a guess). */
export function parsePowensDate(value: string | null | undefined, timeZone: string): Date | null {
  if (value === null || value === undefined) return null;
  const m = FORM.exec(value.trim());
  if (m === null) return null;
  const [year, month, day, hour, minute, second] = [m[1], m[2], m[3], m[4] ?? '0', m[5] ?? '0', m[6] ?? '0'].map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59) return null;
  const wall = Date.UTC(year, month - 1, day, hour, minute, second);
  // Date.UTC rolls 2026-02-30 over into March: such a date is refused, not moved.
  if (new Date(wall).getUTCDate() !== day || year < 1000) return null;
  const zone = m[7];
  if (zone === undefined) return new Date(wallToInstant(wall, timeZone));
  const offset = offsetMs(zone);
  return offset === undefined ? null : new Date(wall - offset);
}

/** A Powens date as ISO 8601 in UTC to the second (`2026-11-24T09:00:00Z`), or null. */
export function isoDate(value: string | null | undefined, timeZone: string): string | null {
  const date = parsePowensDate(value, timeZone);
  return date === null ? null : date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
