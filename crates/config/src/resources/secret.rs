//! Reading key material and credentials out of Secrets, and the redacted type that holds them.

use std::fmt;

use k8s_openapi::api::core::v1::Secret;

/// A secret string (key material or a provider credential) whose Debug output is `[redacted]`.
#[derive(Clone)]
pub struct Redacted(String);

impl Redacted {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Redacted(value.into())
    }

    /// The secret value itself; only for placing it on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Why a Secret key could not supply a value; never carries the value itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SecretValueError {
    MissingKey,
    NotUtf8,
    Empty,
}

/// The value under `key`, with `stringData` taking precedence over `data` as the API server does.
///
/// Surrounding whitespace is trimmed: HTTP strips it from header values, so a key saved with a
/// trailing newline (common with `--from-file`) could otherwise never be presented.
pub(crate) fn secret_value(secret: &Secret, key: &str) -> Result<Redacted, SecretValueError> {
    let text = if let Some(text) = secret.string_data.as_ref().and_then(|d| d.get(key)) {
        text.clone()
    } else if let Some(bytes) = secret.data.as_ref().and_then(|d| d.get(key)) {
        String::from_utf8(bytes.0.clone()).map_err(|_| SecretValueError::NotUtf8)?
    } else {
        return Err(SecretValueError::MissingKey);
    };
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(SecretValueError::Empty);
    }
    Ok(Redacted(trimmed.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use std::collections::BTreeMap;

    fn secret(data: &[(&str, &[u8])], string_data: &[(&str, &str)]) -> Secret {
        Secret {
            data: Some(
                data.iter()
                    .map(|(k, v)| (k.to_string(), ByteString(v.to_vec())))
                    .collect::<BTreeMap<_, _>>(),
            ),
            string_data: Some(
                string_data
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..Secret::default()
        }
    }

    #[test]
    fn string_data_wins_over_data() {
        let s = secret(&[("k", b"from-data")], &[("k", "from-string-data")]);
        assert_eq!(secret_value(&s, "k").unwrap().expose(), "from-string-data");
        let s = secret(&[("k", b"from-data\n")], &[]);
        assert_eq!(secret_value(&s, "k").unwrap().expose(), "from-data");
    }

    #[test]
    fn reports_missing_empty_and_binary_values() {
        let s = secret(&[("bin", &[0xff, 0xfe]), ("blank", b" \n")], &[]);
        assert_eq!(
            secret_value(&s, "nope").err(),
            Some(SecretValueError::MissingKey)
        );
        assert_eq!(
            secret_value(&s, "bin").err(),
            Some(SecretValueError::NotUtf8)
        );
        assert_eq!(
            secret_value(&s, "blank").err(),
            Some(SecretValueError::Empty)
        );
    }

    #[test]
    fn debug_never_shows_the_value() {
        let r = Redacted::new("sk-very-secret");
        assert_eq!(format!("{r:?}"), "[redacted]");
        assert!(!format!("{:?}", Some(&r)).contains("sk-very"));
    }
}
