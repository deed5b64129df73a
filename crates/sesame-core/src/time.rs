//! Date and date-time strings of the API (`YYYY-MM-DD`, `YYYY-MM-DD HH:MM:SS`) in the
//! configured `[api] time_zone`; Unix timestamps are UTC seconds.

use jiff::{Timestamp, civil, tz::TimeZone};

/// Seconds since the Unix epoch, now.
pub fn now_unix() -> i64 {
    Timestamp::now().as_second()
}

/// `YYYY-MM-DD HH:MM:SS` of `unix` in `zone`.
pub fn format_date_time(unix: i64, zone: &TimeZone) -> String {
    match Timestamp::from_second(unix) {
        Ok(ts) => ts
            .to_zoned(zone.clone())
            .strftime("%Y-%m-%d %H:%M:%S")
            .to_string(),
        Err(_) => String::new(),
    }
}

/// `YYYY-MM-DD` of `unix` in `zone`.
pub fn format_date(unix: i64, zone: &TimeZone) -> String {
    match Timestamp::from_second(unix) {
        Ok(ts) => ts.to_zoned(zone.clone()).strftime("%Y-%m-%d").to_string(),
        Err(_) => String::new(),
    }
}

/// Parses `YYYY-MM-DD` into the Unix second of that day's start in `zone`.
pub fn parse_date(text: &str, zone: &TimeZone) -> Option<i64> {
    let date: civil::Date = text.trim().parse().ok()?;
    if text.trim().len() != 10 {
        return None;
    }
    let zoned = date.to_zoned(zone.clone()).ok()?;
    Some(zoned.timestamp().as_second())
}

/// The Unix second the day of `unix` starts in `zone`.
pub fn start_of_day(unix: i64, zone: &TimeZone) -> i64 {
    parse_date(&format_date(unix, zone), zone).unwrap_or(unix - unix.rem_euclid(86_400))
}

/// The Unix second the day after the one starting at `day_start` starts in `zone` (23, 24 or
/// 25 hours later where the zone has daylight saving time).
pub fn next_day_start(day_start: i64, zone: &TimeZone) -> i64 {
    start_of_day(day_start + 36 * 3600, zone)
}

/// Parses `YYYY-MM-DD HH:MM:SS` in `zone` into a Unix second.
pub fn parse_date_time(text: &str, zone: &TimeZone) -> Option<i64> {
    let dt = civil::DateTime::strptime("%Y-%m-%d %H:%M:%S", text.trim()).ok()?;
    let zoned = dt.to_zoned(zone.clone()).ok()?;
    Some(zoned.timestamp().as_second())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shanghai_round_trip() {
        let zone = TimeZone::get("Asia/Shanghai").unwrap();
        assert_eq!(format_date_time(0, &zone), "1970-01-01 08:00:00");
        assert_eq!(format_date(16 * 3600, &zone), "1970-01-02");
        assert_eq!(parse_date("1970-01-02", &zone), Some(16 * 3600));
        assert_eq!(parse_date_time("1970-01-01 08:00:01", &zone), Some(1));
        assert_eq!(parse_date("1970-1-2", &zone), None);
        assert_eq!(parse_date("yesterday", &zone), None);
        assert_eq!(start_of_day(16 * 3600 + 5, &zone), 16 * 3600);
        assert_eq!(next_day_start(16 * 3600, &zone), 16 * 3600 + 86_400);
    }
}
