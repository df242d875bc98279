//! `Secret`: a string that never shows itself.
//!
//! Client secrets, passwords, security tokens, refresh tokens, access tokens and private keys
//! travel through settings, auth and the client wrapped in `Secret`. Its `Debug` and `Display`
//! print `[redacted]`, it has no `Serialize`, and the only way to read it is the explicit
//! `expose()`, used where the value goes on the wire. This module must not grow any other
//! accessor.

use std::fmt;

/// A secret string. `Debug` and `Display` print `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret value, for the one place that sends it (a form field, a header, a signer).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when the value is empty (an unset environment variable exported as `""`).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let secret = Secret::new("hunter2-very-secret");
        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert_eq!(format!("{secret}"), "[redacted]");
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Holder {
            password: Secret,
        }
        let text = format!(
            "{:?}",
            Holder {
                password: secret.clone()
            }
        );
        assert!(!text.contains("hunter2"), "{text}");
        assert_eq!(secret.expose(), "hunter2-very-secret");
    }
}
