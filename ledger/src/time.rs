//! Times as people read them: RFC 3339 in UTC, from the log's microseconds.

/// `2026-11-20T13:45:01.123456Z` for `micros` since the Unix epoch.
pub fn rfc3339(micros: i64) -> String {
    let seconds = micros.div_euclid(1_000_000);
    let fraction = micros.rem_euclid(1_000_000);
    let days = seconds.div_euclid(86_400);
    let of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{fraction:06}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// The UTC day, `YYYY-MM-DD`, of `micros` since the Unix epoch.
pub fn day(micros: i64) -> String {
    rfc3339(micros)[..10].to_owned()
}

/// Microseconds since the Unix epoch of an RFC 3339 time such as `2026-11-20T13:45:01Z`
/// or `2026-11-20T14:45:01.5+01:00`.
pub fn parse_rfc3339(text: &str) -> Result<i64, String> {
    let bad = || format!("invalid time '{text}': expected RFC 3339, such as 2026-11-20T13:45:01Z");
    let number = |range: std::ops::Range<usize>| -> Result<i64, String> {
        let digits = text.get(range).ok_or_else(bad)?;
        if digits.bytes().all(|b| b.is_ascii_digit()) {
            digits.parse().map_err(|_| bad())
        } else {
            Err(bad())
        }
    };
    let separators = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if text.len() < 20
        || !matches!(text.as_bytes()[10], b'T' | b't' | b' ')
        || separators.iter().any(|&(i, c)| text.as_bytes()[i] != c)
    {
        return Err(bad());
    }
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=days_in_month(year, month)).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return Err(bad());
    }
    let mut rest = &text[19..];
    let mut micros = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let shown: String = fraction[..digits]
            .chars()
            .chain(std::iter::repeat('0'))
            .take(6)
            .collect();
        micros = shown.parse::<i64>().map_err(|_| bad())?;
        rest = &fraction[digits..];
    }
    let offset_minutes = match rest {
        "Z" | "z" => 0,
        // Bytes, not string slices: a multi-byte character here must be refused, not panic.
        _ if rest.len() == 6
            && matches!(rest.as_bytes()[0], b'+' | b'-')
            && rest.as_bytes()[3] == b':' =>
        {
            // Two digits each, as RFC 3339 says: hours 00-23, minutes 00-59.
            let field = |range, max| {
                rest.get(range)
                    .filter(|s: &&str| s.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|s| s.parse::<i64>().ok())
                    .filter(|&n| n <= max)
            };
            let hours = field(1..3, 23).ok_or_else(bad)?;
            let minutes = field(4..6, 59).ok_or_else(bad)?;
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            sign * (hours * 60 + minutes)
        }
        _ => return Err(bad()),
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    Ok(seconds * 1_000_000 + micros)
}

/// The days of `month` (1-12) in `year`, in the proleptic Gregorian calendar.
fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The day number (0 = 1970-01-01) of a proleptic Gregorian date, after Howard Hinnant's
/// `days_from_civil`.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date of a day number (0 = 1970-01-01), after Howard
/// Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn a_multibyte_character_in_a_time_is_refused_not_a_panic() {
        for text in ["2026-11-20T13:45:01+aé:0", "2026-11-20T13:45:01é+0:0"] {
            assert!(super::parse_rfc3339(text).is_err(), "{text}");
        }
    }

    /// Regression: the day was checked against 31 whatever the month, and the offset's
    /// hours not at all, so `2026-02-30` (read as March 2nd) and `+99:00` were accepted.
    #[test]
    fn a_day_past_its_month_or_an_offset_past_23_hours_is_refused() {
        use super::parse_rfc3339;
        for bad in [
            "2026-02-30T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2100-02-29T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-01-01T00:00:00+99:00",
            "2026-01-01T00:00:00+24:00",
            "2026-01-01T00:00:00+01:60",
            "2026-01-01T00:00:00++1:00",
            "2026-01-01T00:00:00+1 :00",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad}");
        }
        for good in [
            "2028-02-29T00:00:00Z",
            "2000-02-29T00:00:00Z",
            "2026-04-30T00:00:00Z",
            "2026-12-31T23:59:59Z",
            "2026-01-01T00:00:00+23:59",
            "2026-01-01T00:00:00-12:00",
        ] {
            assert!(parse_rfc3339(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn parses_what_it_formats_and_offsets() {
        use super::parse_rfc3339;
        for micros in [
            0,
            951_782_400_000_000,
            1_795_219_200_000_001,
            -1,
            1_700_000_000_123_456,
        ] {
            assert_eq!(parse_rfc3339(&rfc3339(micros)).unwrap(), micros);
        }
        assert_eq!(
            parse_rfc3339("2026-11-21T01:00:00+01:00").unwrap(),
            parse_rfc3339("2026-11-21T00:00:00Z").unwrap()
        );
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00.5Z").unwrap(), 500_000);
        for bad in [
            "2026-11-21",
            "2026-13-01T00:00:00Z",
            "2026-11-21T00:00:00",
            "2026-11-21T00:00:00.Z",
            "x",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(rfc3339(951_782_400_000_000), "2000-02-29T00:00:00.000000Z");
        assert_eq!(
            rfc3339(1_795_219_200_000_001),
            "2026-11-21T00:00:00.000001Z"
        );
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999999Z");
    }
}
