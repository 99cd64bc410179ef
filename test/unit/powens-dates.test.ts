import { isoDate, isTimeZone, parsePowensDate } from '../../src/powens/dates.js';

/**
 * Powens' zone-less dates read in POWENS_TIMEZONE (docs/POWENS-API.md, "Dates"): Europe/Paris by
 * default, daylight saving time included; `Z` and offsets honoured.
 */
const PARIS = 'Europe/Paris';

describe('zone-less Powens dates', () => {
  test('are Paris wall-clock time: UTC+1 in winter, UTC+2 in summer', () => {
    expect(isoDate('2026-11-24 10:00:00', PARIS)).toBe('2026-11-24T09:00:00Z');
    expect(isoDate('2026-07-14 10:00:00', PARIS)).toBe('2026-07-14T08:00:00Z');
  });

  test('follow the setting: UTC reads them as they are', () => {
    expect(isoDate('2026-11-24 10:00:00', 'UTC')).toBe('2026-11-24T10:00:00Z');
    expect(isoDate('2026-01-02 03:04:05', 'UTC')).toBe('2026-01-02T03:04:05Z');
  });

  test('around the spring change (2026-03-29, 02:00 -> 03:00), a time that never happens moves forward by the gap', () => {
    expect(isoDate('2026-03-29 01:59:59', PARIS)).toBe('2026-03-29T00:59:59Z');
    expect(isoDate('2026-03-29 02:30:00', PARIS)).toBe('2026-03-29T01:30:00Z');
    expect(isoDate('2026-03-29 03:00:00', PARIS)).toBe('2026-03-29T01:00:00Z');
  });

  test('around the autumn change (2026-10-25, 03:00 -> 02:00), a time that happens twice is the first one', () => {
    expect(isoDate('2026-10-25 01:59:59', PARIS)).toBe('2026-10-24T23:59:59Z');
    expect(isoDate('2026-10-25 02:30:00', PARIS)).toBe('2026-10-25T00:30:00Z');
    expect(isoDate('2026-10-25 03:00:00', PARIS)).toBe('2026-10-25T02:00:00Z');
  });

  test('a bare day is midnight in the zone; fractions of a second are dropped', () => {
    expect(isoDate('2026-11-24', PARIS)).toBe('2026-11-23T23:00:00Z');
    expect(isoDate('2026-11-24 10:00:00.250', PARIS)).toBe('2026-11-24T09:00:00Z');
    expect(parsePowensDate('2026-11-24 10:00:00.999', PARIS)?.getTime()).toBe(Date.parse('2026-11-24T09:00:00Z'));
  });
});

describe('dates that carry a zone', () => {
  test.each([
    ['2026-11-24T10:00:00Z', '2026-11-24T10:00:00Z'],
    ['2026-11-24 10:00:00Z', '2026-11-24T10:00:00Z'],
    ['2026-11-24T12:00:00+02:00', '2026-11-24T10:00:00Z'],
    ['2026-01-01 12:00:00 +0200', '2026-01-01T10:00:00Z'],
    ['2026-01-01T13:00:00+02', '2026-01-01T11:00:00Z'],
    ['2026-01-01T05:30:00-04:30', '2026-01-01T10:00:00Z'],
  ])('%s keeps its own zone, whatever the setting', (value, iso) => {
    expect(isoDate(value, PARIS)).toBe(iso);
    expect(isoDate(value, 'Asia/Tokyo')).toBe(iso);
  });
});

describe('what is not a date', () => {
  test.each([null, undefined, '', 'yesterday', '2026-13-45 99:99:99', '2026-02-30 10:00:00', '2026-11-24 24:00:00', '2026-11-24 10:00:00 +2500', '0999-01-01'])(
    '%p is null, never a guess',
    (value) => {
      expect(isoDate(value, PARIS)).toBeNull();
    },
  );
});

describe('time zone names', () => {
  test('IANA names and UTC are known; anything else is not', () => {
    expect(isTimeZone('Europe/Paris')).toBe(true);
    expect(isTimeZone('UTC')).toBe(true);
    expect(isTimeZone('Europe/Atlantis')).toBe(false);
    expect(isTimeZone('')).toBe(false);
  });
});
