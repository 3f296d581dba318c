//! RFC 3339 timestamps as Step Functions writes and reads them (UTC, millisecond precision).

use std::num::NonZeroU8;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::format_description::well_known::iso8601::{Config, EncodedConfig, TimePrecision};
use time::format_description::well_known::{Iso8601, Rfc3339};
use time::OffsetDateTime;

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`: ISO 8601 with exactly three fractional digits.
const MILLIS: EncodedConfig =
    Config::DEFAULT.set_time_precision(TimePrecision::Second { decimal_digits: NonZeroU8::new(3) }).encode();

/// Formats `time` as `YYYY-MM-DDTHH:MM:SS.mmmZ`; times before 1970 are shown as the epoch.
pub fn format_timestamp(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let truncated = Duration::new(since.as_secs(), since.subsec_millis() * 1_000_000);
    OffsetDateTime::UNIX_EPOCH
        .checked_add(truncated.try_into().unwrap_or(time::Duration::MAX))
        .and_then(|instant| instant.format(&Iso8601::<MILLIS>).ok())
        .unwrap_or_else(|| "9999-12-31T23:59:59.999Z".to_string())
}

/// Parses an RFC 3339 timestamp as Step Functions requires it (uppercase `T`, uppercase `Z`
/// or a numeric `+HH:MM` offset, optional fractional seconds) into (seconds since the epoch,
/// nanoseconds).
pub(crate) fn parse_rfc3339(text: &str) -> Option<(i64, u32)> {
    // RFC 3339 itself also allows a lowercase `t`/`z` and other separators; Step Functions does not.
    if text.as_bytes().get(10) != Some(&b'T') || text.ends_with('z') {
        return None;
    }
    // A leap second (`:60`) counts as the first second of the next minute, on any day.
    if text.get(17..19) == Some("60") {
        let (secs, nanos) = parse_rfc3339(&format!("{}59{}", &text[..17], &text[19..]))?;
        return Some((secs + 1, nanos));
    }
    let instant = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    Some((instant.unix_timestamp(), instant.nanosecond()))
}

/// Parses an RFC 3339 timestamp with an uppercase `T` and either `Z` or a numeric offset,
/// e.g. `2016-03-14T01:59:00Z` or `2016-03-14T01:59:00.123+02:00`. Returns `None` when the
/// text is not such a timestamp or denotes a time before 1970.
pub fn parse_timestamp(text: &str) -> Option<SystemTime> {
    let (secs, nanos) = parse_rfc3339(text)?;
    UNIX_EPOCH.checked_add(Duration::new(u64::try_from(secs).ok()?, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_a_known_instant() {
        let t = parse_timestamp("2016-03-14T01:59:00Z").expect("valid");
        assert_eq!(format_timestamp(t), "2016-03-14T01:59:00.000Z");
        let off = parse_timestamp("2016-03-14T03:59:00.250+02:00").expect("valid");
        assert_eq!(format_timestamp(off), "2016-03-14T01:59:00.250Z");
        assert!(parse_timestamp("2016-03-14 01:59:00Z").is_none());
        assert!(parse_timestamp("2016-02-30T01:59:00Z").is_none());
        assert!(parse_timestamp("2016-03-14T01:59:00").is_none());
    }

    #[test]
    fn a_leap_second_is_the_next_minute() {
        assert_eq!(parse_rfc3339("2016-08-18T23:59:60Z"), parse_rfc3339("2016-08-19T00:00:00Z"));
        assert_eq!(parse_rfc3339("2016-12-31T23:59:60.5+01:00"), parse_rfc3339("2016-12-31T23:00:00.5Z"));
        assert!(parse_rfc3339("2016-08-18T23:59:61Z").is_none());
    }

    #[test]
    fn formats_milliseconds_truncated_and_the_epoch_before_1970() {
        let t = UNIX_EPOCH + Duration::new(86_400 * 365 + 5, 123_999_999);
        assert_eq!(format_timestamp(t), "1971-01-01T00:00:05.123Z");
        assert_eq!(format_timestamp(UNIX_EPOCH - Duration::from_secs(10)), "1970-01-01T00:00:00.000Z");
    }
}
