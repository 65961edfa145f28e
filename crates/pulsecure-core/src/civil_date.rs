//! Proleptic Gregorian calendar dates <-> days since 1970-01-01 (Howard Hinnant's
//! civil-date algorithms): shared by the date options of the CLI and the FHIR reader (birth
//! dates, observation dates), so neither needs a date-time dependency.

/// Days since 1970-01-01 of year `y`, month `m` (1-12), day `d` (1-31).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `(year, month, day)` of a day count since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Days in month `m` of year `y`.
pub fn days_in_month(y: i64, m: i64) -> i64 {
    days_from_civil(
        if m == 12 { y + 1 } else { y },
        if m == 12 { 1 } else { m + 1 },
        1,
    ) - days_from_civil(y, m, 1)
}

/// `(year, month, day)` of a `YYYY-MM-DD` calendar date; `None` for another shape or a day
/// that does not exist (2025-02-29).
pub fn parse_ymd(text: &str) -> Option<(i64, i64, i64)> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let digits = |s: &str| -> Option<i64> {
        if s.bytes().all(|c| c.is_ascii_digit()) {
            s.parse().ok()
        } else {
            None
        }
    };
    let (y, m, d) = (
        digits(text.get(..4)?)?,
        digits(text.get(5..7)?)?,
        digits(text.get(8..)?)?,
    );
    ((1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m)).then_some((y, m, d))
}

/// Completed years from `birth` to `on` (both `(y, m, d)`): the age on that date.
pub fn completed_years(birth: (i64, i64, i64), on: (i64, i64, i64)) -> i64 {
    let mut years = on.0 - birth.0;
    if (on.1, on.2) < (birth.1, birth.2) {
        years -= 1;
    }
    years
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_and_bad_ones_are_refused() {
        for day in (-30_000..40_000).step_by(29) {
            let (y, m, d) = civil_from_days(day);
            let text = format!("{y:04}-{m:02}-{d:02}");
            assert_eq!(parse_ymd(&text), Some((y, m, d)));
            assert_eq!(days_from_civil(y, m, d), day);
        }
        for bad in [
            "2025-02-29",
            "2026-13-01",
            "2026-1-01",
            "2026/01/01",
            "+026-01-01",
            "",
        ] {
            assert_eq!(parse_ymd(bad), None, "{bad}");
        }
    }

    #[test]
    fn ages_are_completed_years() {
        assert_eq!(completed_years((1960, 6, 30), (2026, 6, 30)), 66);
        assert_eq!(completed_years((1960, 7, 1), (2026, 6, 30)), 65);
        assert_eq!(completed_years((1960, 2, 29), (2026, 2, 28)), 65);
        assert_eq!(completed_years((1960, 2, 29), (2026, 3, 1)), 66);
    }
}
