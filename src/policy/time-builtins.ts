// Time builtins vouch supplies to WASM policies beside the SDK's (policy-worker.ts), matching OPA's
// Go implementation (https://www.openpolicyagent.org/docs/policy-reference/#time). Nanosecond
// counts exceed 2^53, so they are computed as BigInt and handed back as exact JSON text.

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/**
 * RFC 3339 as Go's `time.Parse(time.RFC3339, s)` reads it (https://pkg.go.dev/time#Parse): its
 * fast path, and the layout parser it falls back to, which also takes a one-digit hour, a comma
 * before the fraction and zone offsets up to 24:60. Any number of fraction digits; past nine they
 * are dropped (Go's parseNanoseconds).
 */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{1,2}):(\d{2}):(\d{2})(?:[.,](\d+))?(?:(Z)|([+-])(\d{2}):(\d{2}))$/;

/** Days from 1970-01-01 to the proleptic Gregorian date (H. Hinnant's days_from_civil). */
function daysFromCivil(year: number, month: number, day: number): bigint {
  const y = BigInt(month <= 2 ? year - 1 : year);
  const era = (y >= 0n ? y : y - 399n) / 400n;
  const yearOfEra = y - era * 400n;
  const m = BigInt(month);
  const dayOfYear = (153n * (m > 2n ? m - 3n : m + 9n) + 2n) / 5n + BigInt(day) - 1n;
  const dayOfEra = yearOfEra * 365n + yearOfEra / 4n - yearOfEra / 100n + dayOfYear;
  return era * 146097n + dayOfEra - 719468n;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/**
 * `time.parse_rfc3339_ns(value)`: nanoseconds since the Unix epoch, or undefined where OPA's
 * builtin errors (not RFC 3339, a date that does not exist, outside int64 nanoseconds: 1677 to
 * 2262), which makes the call undefined as in OPA without strict builtin errors.
 */
export function parseRfc3339Ns(value: unknown): bigint | undefined {
  if (typeof value !== 'string') return undefined;
  const match = RFC3339.exec(value);
  if (match === null) return undefined;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  let offsetSeconds = 0n;
  if (match[8] === undefined) {
    const offsetHours = Number(match[10]);
    const offsetMinutes = Number(match[11]);
    // Go's layout parser allows 24 and 60 ("some people do write offsets of 24 hours")
    if (offsetHours > 24 || offsetMinutes > 60) return undefined;
    offsetSeconds = BigInt((offsetHours * 60 + offsetMinutes) * 60) * (match[9] === '-' ? -1n : 1n);
  }
  const fraction = BigInt((match[7] ?? '').slice(0, 9).padEnd(9, '0'));
  const seconds = daysFromCivil(year, month, day) * 86_400n + BigInt(hour * 3600 + minute * 60 + second) - offsetSeconds;
  const ns = seconds * 1_000_000_000n + fraction;
  return ns < INT64_MIN || ns > INT64_MAX ? undefined : ns;
}
