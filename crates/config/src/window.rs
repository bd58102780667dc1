//! Rate-limit window lengths such as `5h`, `1d` or `30m`.

use std::time::Duration;

use crate::error::WindowError;

/// The shortest window accepted; shorter windows would make the ledger churn for no benefit.
pub const MIN_WINDOW: Duration = Duration::from_secs(60);

/// Parses a window length (`30m`, `5h`, `1d`, `7d`, `1h30m`): whole seconds, at least one minute.
pub fn parse_window(text: &str) -> Result<Duration, WindowError> {
    let duration = parse_duration(text)?;
    if duration.subsec_nanos() != 0 {
        return Err(WindowError::Fractional(text.to_owned()));
    }
    if duration < MIN_WINDOW {
        return Err(WindowError::TooShort(text.to_owned()));
    }
    Ok(duration)
}

/// Parses a positive duration such as `5s`, `120s` or `30m`.
pub fn parse_duration(text: &str) -> Result<Duration, WindowError> {
    let duration = humantime::parse_duration(text.trim()).map_err(|e| WindowError::Syntax {
        text: text.to_owned(),
        reason: e.to_string(),
    })?;
    if duration.is_zero() {
        return Err(WindowError::Zero(text.to_owned()));
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_usual_windows() {
        assert_eq!(parse_window("5h"), Ok(Duration::from_secs(5 * 3600)));
        assert_eq!(parse_window("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_window("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_window("30m"), Ok(Duration::from_secs(1_800)));
        assert_eq!(parse_window("1m"), Ok(MIN_WINDOW));
    }

    #[test]
    fn rejects_bad_windows() {
        assert!(matches!(
            parse_window("5x"),
            Err(WindowError::Syntax { .. })
        ));
        assert!(matches!(parse_window("0s"), Err(WindowError::Zero(_))));
        assert!(matches!(parse_window("59s"), Err(WindowError::TooShort(_))));
        assert!(matches!(
            parse_window("90500ms"),
            Err(WindowError::Fractional(_))
        ));
        assert!(parse_window("").is_err());
        assert!(parse_window("-5h").is_err());
    }
}
