//! Wire structs: Salesforce records as the REST API returns them, in Salesforce's spelling,
//! each with the query that reads it.
//!
//! This module owns the field lists and the SOQL of each object (built with `soql`); it does
//! not map records into the access model (that is the sync's job) and does no I/O beyond
//! running its own queries through `Client`.

pub mod license;
pub mod organization;
pub mod permissions;
pub mod provisioning;

pub use license::{ProfileLicense, UserLicense};
pub use organization::Organization;
pub use permissions::{
    CurrentUser, PermissionSource, SourceKind, SystemPermission, UserPermissions,
};

use chrono::{DateTime, Utc};

/// Parses Salesforce's date-time format (`2020-08-11T15:55:08.000+0000`, facts 3.1), also
/// accepting RFC 3339.
pub fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    if let Some(t) = parse_salesforce_datetime(s) {
        return Some(t);
    }
    DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z")
        .or_else(|_| DateTime::parse_from_rfc3339(s))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The exact shape Salesforce sends (`2020-08-11T15:55:08.000+0000`), read by hand: chrono's
/// format-string parser cost about 400 ns a value, 2% of a large sync's reading. None for
/// anything else (a leap second, another shape), which `parse_datetime` then hands to chrono.
fn parse_salesforce_datetime(s: &str) -> Option<DateTime<Utc>> {
    use chrono::{NaiveDate, TimeDelta};
    let b = s.as_bytes();
    if b.len() != 28 {
        return None;
    }
    let digits = |from: usize, to: usize| -> Option<u32> {
        b[from..to].iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let punctuation = [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
    ];
    if punctuation.iter().any(|&(i, c)| b[i] != c) {
        return None;
    }
    let sign = match b[23] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (hour, minute, second) = (digits(11, 13)?, digits(14, 16)?, digits(17, 19)?);
    let (offset_hours, offset_minutes) = (digits(24, 26)?, digits(26, 28)?);
    if second > 59 || offset_hours > 23 || offset_minutes > 59 {
        return None;
    }
    let local = NaiveDate::from_ymd_opt(digits(0, 4)? as i32, digits(5, 7)?, digits(8, 10)?)?
        .and_hms_milli_opt(hour, minute, second, digits(20, 23)?)?;
    let offset = sign * i64::from(offset_hours * 3600 + offset_minutes * 60);
    Some(
        local
            .checked_sub_signed(TimeDelta::seconds(offset))?
            .and_utc(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salesforce_datetimes_parse() {
        let t = parse_datetime("2020-08-11T15:55:08.000+0000").unwrap();
        assert_eq!(t.to_rfc3339(), "2020-08-11T15:55:08+00:00");
        assert!(parse_datetime("2020-08-11T15:55:08Z").is_some());
        assert!(parse_datetime("yesterday").is_none());
    }

    /// The hand-read shape agrees with chrono's parser on every kind of value, valid or not.
    #[test]
    fn the_fast_datetime_parser_agrees_with_chrono() {
        let chrono_parse = |s: &str| {
            DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z")
                .or_else(|_| DateTime::parse_from_rfc3339(s))
                .ok()
                .map(|t| t.with_timezone(&Utc))
        };
        let mut values: Vec<String> = [
            "2020-08-11T15:55:08.000+0000",
            "2020-08-11T15:55:08.123-0530",
            "2020-08-11T00:30:00.000+0100",
            "0001-01-01T00:00:00.000+0000",
            "0000-01-01T00:30:00.000+0100",
            "9999-12-31T23:59:59.999-2359",
            "2024-02-29T12:00:00.000+0000",
            "2023-02-29T12:00:00.000+0000",
            "2020-13-11T15:55:08.000+0000",
            "2020-00-11T15:55:08.000+0000",
            "2020-08-32T15:55:08.000+0000",
            "2020-08-11T24:00:00.000+0000",
            "2020-08-11T15:60:08.000+0000",
            "2020-08-11T15:55:60.000+0000",
            "2020-08-11T15:55:08.000+2400",
            "2020-08-11T15:55:08.000+0060",
            "2020-08-11T15:55:08.000 0000",
            "2020-08-11 15:55:08.000+0000",
            "2020-08-11T15:55:08,000+0000",
            "2020-08-1aT15:55:08.000+0000",
            "+020-08-11T15:55:08.000+0000",
            "2020-08-11T15:55:08.0000+000",
            "2020-08-11T15:55:08.000+00:00",
            "2020-08-11T15:55:08.0+0000",
            "2020-08-11T15:55:08+0000",
            "2020-08-11T15:55:08Z",
            "2020-08-11T15:55:08.000Z",
            "2020-08-11T15:55:08.000+000é",
            "2020-08-11T15:55:08.000+0000é",
        ]
        .map(str::to_owned)
        .to_vec();
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..20_000 {
            values.push(format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}{}{:02}{:02}",
                rng.u32(0..10_000),
                rng.u32(0..14),
                rng.u32(0..33),
                rng.u32(0..25),
                rng.u32(0..61),
                rng.u32(0..61),
                rng.u32(0..1000),
                if rng.bool() { '+' } else { '-' },
                rng.u32(0..25),
                rng.u32(0..61),
            ));
        }
        for value in &values {
            assert_eq!(parse_datetime(value), chrono_parse(value), "{value}");
        }
        let fast = values
            .iter()
            .filter(|v| parse_salesforce_datetime(v).is_some())
            .count();
        assert!(fast > 5_000, "the fast path took only {fast} values");
    }
}
