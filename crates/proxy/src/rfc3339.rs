//! RFC 3339 UTC timestamps without the formatting machinery: limit headers carry up to four
//! per response and the access log one per line, and `humantime`'s `Display` costs several
//! times the arithmetic. Times before 1970 print as the epoch.

use std::time::{SystemTime, UNIX_EPOCH};

/// `YYYY-MM-DDTHH:MM:SSZ`, the text of `humantime::format_rfc3339_seconds`.
pub fn seconds(t: SystemTime) -> [u8; 20] {
    let mut text = *b"0000-00-00T00:00:00Z";
    put_date_time(&mut text, t);
    text
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ`, the text of `humantime::format_rfc3339_micros` (and of
/// `tracing-subscriber`'s timestamps).
pub fn micros(t: SystemTime) -> [u8; 27] {
    let mut text = *b"0000-00-00T00:00:00.000000Z";
    put_date_time(&mut text, t);
    let micros = t
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_micros());
    put_digits(&mut text[20..26], u64::from(micros));
    text
}

/// Appends [`seconds`] to `out`.
pub fn push_seconds(out: &mut String, t: SystemTime) {
    // Only ASCII digits and separators are written.
    out.push_str(std::str::from_utf8(&seconds(t)).unwrap_or_default());
}

/// Fills the `YYYY-MM-DDTHH:MM:SS` at the start of `text`.
fn put_date_time(text: &mut [u8], t: SystemTime) {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (year, month, day) = civil_from_days(secs / 86_400);
    let of_day = secs % 86_400;
    put_digits(&mut text[0..4], year);
    put_digits(&mut text[5..7], month);
    put_digits(&mut text[8..10], day);
    put_digits(&mut text[11..13], of_day / 3_600);
    put_digits(&mut text[14..16], of_day / 60 % 60);
    put_digits(&mut text[17..19], of_day % 60);
}

/// Writes the last `slot.len()` decimal digits of `n`, zero-padded.
fn put_digits(slot: &mut [u8], mut n: u64) {
    for digit in slot.iter_mut().rev() {
        *digit = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// Year, month and day of a count of days since 1970-01-01 (proleptic Gregorian calendar), by
/// Howard Hinnant's `civil_from_days`: 400-year eras of 146,097 days, years starting in March so
/// that the leap day comes last.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let march_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * march_month + 2) / 5 + 1;
    let month = if march_month < 10 {
        march_month + 3
    } else {
        march_month - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn text(secs: u64) -> String {
        let mut out = String::new();
        push_seconds(&mut out, UNIX_EPOCH + Duration::from_secs(secs));
        out
    }

    #[test]
    fn known_instants() {
        assert_eq!(text(0), "1970-01-01T00:00:00Z");
        assert_eq!(text(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(text(1_796_000_000), "2026-11-30T00:53:20Z");
        assert_eq!(text(4_107_542_399), "2100-02-28T23:59:59Z");
        assert_eq!(text(4_107_542_400), "2100-03-01T00:00:00Z");
        assert_eq!(text(253_402_300_799), "9999-12-31T23:59:59Z");
    }

    #[test]
    fn agrees_with_humantime_across_four_centuries() {
        // Leap days, century years and month ends, plus a spread of ordinary instants.
        let mut instants: Vec<u64> = (0..20_000u64)
            .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % 253_402_300_800)
            .collect();
        for days in [
            59, 60, 365, 10_956, 11_016, 11_017, 47_540, 47_541, 2_932_896,
        ] {
            for offset in [0, 86_399, 86_400] {
                instants.push(days * 86_400 + offset);
            }
        }
        // humantime stops at the end of year 9999.
        for secs in instants.into_iter().filter(|&s| s < 253_402_300_800) {
            let t = UNIX_EPOCH + Duration::from_secs(secs);
            assert_eq!(
                text(secs),
                humantime::format_rfc3339_seconds(t).to_string(),
                "{secs}"
            );
        }
    }

    #[test]
    fn micros_agree_with_humantime_within_and_across_seconds() {
        let base = UNIX_EPOCH + Duration::from_secs(1_796_000_000);
        for offset_us in [0u64, 7, 999_999, 1_000_000, 1_000_001, 86_400_123_456] {
            let t = base + Duration::from_micros(offset_us);
            assert_eq!(
                std::str::from_utf8(&micros(t)).unwrap(),
                humantime::format_rfc3339_micros(t).to_string(),
                "at +{offset_us} us"
            );
        }
        assert_eq!(&micros(UNIX_EPOCH), b"1970-01-01T00:00:00.000000Z");
    }

    #[test]
    fn appends_rather_than_replacing() {
        let mut out = String::from("reset=");
        push_seconds(&mut out, UNIX_EPOCH + Duration::from_secs(86_400));
        assert_eq!(out, "reset=1970-01-02T00:00:00Z");
    }
}
