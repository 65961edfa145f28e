//! UTC calendar dates <-> Unix seconds (proleptic Gregorian; Howard Hinnant's civil-date
//! algorithms), so `history --since 2026-01-31` needs no date-time dependency.

use thiserror::Error;

/// A date option that is not `YYYY-MM-DD` or not a calendar date.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("{option}: expected a calendar date as YYYY-MM-DD")]
pub struct DateError {
    /// The option that held it (e.g. `--since`).
    pub option: String,
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
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

fn days_in_month(y: i64, m: i64) -> i64 {
    days_from_civil(
        if m == 12 { y + 1 } else { y },
        if m == 12 { 1 } else { m + 1 },
        1,
    ) - days_from_civil(y, m, 1)
}

/// Midnight UTC of `YYYY-MM-DD`, in Unix seconds; `what` names the option in errors.
pub fn parse_date(text: &str, what: &str) -> Result<i64, DateError> {
    let parts: Vec<&str> = text.trim().split('-').collect();
    let parsed = match parts.as_slice() {
        [y, m, d] if y.len() == 4 && m.len() == 2 && d.len() == 2 => {
            match (y.parse::<i64>(), m.parse::<i64>(), d.parse::<i64>()) {
                (Ok(y), Ok(m), Ok(d)) => Some((y, m, d)),
                _ => None,
            }
        }
        _ => None,
    };
    let Some((y, m, d)) = parsed else {
        return Err(DateError {
            option: what.to_string(),
        });
    };
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return Err(DateError {
            option: what.to_string(),
        });
    }
    Ok(days_from_civil(y, m, d) * 86_400)
}

/// `YYYY-MM-DD HH:MM` UTC for a Unix time.
pub fn format_time(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        secs / 3600,
        (secs % 3600) / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(parse_date("1970-01-01", "x").expect("date"), 0);
        assert_eq!(parse_date("2026-11-25", "x").expect("date"), 1_795_564_800);
        assert_eq!(format_time(1_795_564_800 + 3_661), "2026-11-25 01:01");
        assert_eq!(parse_date("2024-02-29", "x").expect("leap"), 1_709_164_800);
    }

    #[test]
    fn round_trip_over_many_days() {
        for day in (-1000..40_000).step_by(37) {
            let text = format_time(day * 86_400);
            assert_eq!(parse_date(&text[..10], "x").expect("parse"), day * 86_400);
        }
    }

    #[test]
    fn bad_dates_are_refused() {
        for bad in [
            "2026-02-30",
            "2025-02-29",
            "2026-13-01",
            "26-01-01",
            "2026/01/01",
            "",
        ] {
            assert!(parse_date(bad, "--since").is_err(), "{bad}");
        }
    }
}
