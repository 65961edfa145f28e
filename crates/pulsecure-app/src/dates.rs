//! UTC calendar dates <-> Unix seconds (the civil-date arithmetic is the core's
//! `civil_date`), so `history --since 2026-01-31` needs no date-time dependency.

use pulsecure_core::civil_date::{civil_from_days, days_from_civil, parse_ymd};
use thiserror::Error;

/// A date option that is not `YYYY-MM-DD` or not a calendar date.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("{option}: expected a calendar date as YYYY-MM-DD")]
pub struct DateError {
    /// The option that held it (e.g. `--since`).
    pub option: String,
}

/// Midnight UTC of `YYYY-MM-DD`, in Unix seconds; `what` names the option in errors.
pub fn parse_date(text: &str, what: &str) -> Result<i64, DateError> {
    let Some((y, m, d)) = parse_ymd(text.trim()) else {
        return Err(DateError {
            option: what.to_string(),
        });
    };
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
