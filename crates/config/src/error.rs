//! Typed errors: loading files, parsing amounts and windows, invalid objects, authentication and routing.

use std::fmt;
use std::path::PathBuf;

use crate::resources::Kind;

/// A decimal USD amount that cannot be held exactly in micro-dollars.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// Not a plain non-negative decimal number.
    #[error("{0:?} is not a decimal USD amount (expected digits with an optional fraction, e.g. \"3.00\")")]
    Syntax(String),
    /// More than six fractional digits.
    #[error("{0:?} has more than 6 decimal places (amounts are held in micro-dollars)")]
    TooPrecise(String),
    /// Larger than a u64 of micro-dollars.
    #[error("{0:?} is too large")]
    TooLarge(String),
}

/// A duration or rate-limit window that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    /// Not a duration such as `30m`, `5h` or `7d`.
    #[error("{text:?} is not a duration such as \"30m\", \"5h\" or \"7d\": {reason}")]
    Syntax {
        /// The text as written.
        text: String,
        /// What the duration parser objected to.
        reason: String,
    },
    /// A zero duration.
    #[error("{0:?} is zero; it must be positive")]
    Zero(String),
    /// A window under one minute.
    #[error("{0:?} is shorter than the minimum window of 1m")]
    TooShort(String),
    /// A window that is not a whole number of seconds.
    #[error("{0:?} is not a whole number of seconds")]
    Fractional(String),
}

/// Why a file or directory of resources could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The path could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A document is not valid YAML or does not match its kind's schema.
    #[error("{file} document {document}: {message}")]
    Yaml {
        /// The file.
        file: PathBuf,
        /// Zero-based index of the document within the file.
        document: usize,
        /// The parser's message, with the field path and line/column.
        message: String,
    },
    /// A document lacks `apiVersion` or `kind`.
    #[error("{file} document {document}: missing apiVersion or kind")]
    MissingTypeMeta {
        /// The file.
        file: PathBuf,
        /// Zero-based index of the document within the file.
        document: usize,
    },
    /// A document of this gateway's API group with a kind it does not know.
    #[error("{file} document {document}: unknown kind {kind:?} in {api_version}")]
    UnknownKind {
        /// The file.
        file: PathBuf,
        /// Zero-based index of the document within the file.
        document: usize,
        /// The document's apiVersion.
        api_version: String,
        /// The document's kind.
        kind: String,
    },
    /// A document without `metadata.name`.
    #[error("{file} document {document}: {kind} has no metadata.name")]
    MissingName {
        /// The file.
        file: PathBuf,
        /// Zero-based index of the document within the file.
        document: usize,
        /// The document's kind.
        kind: Kind,
    },
    /// The same object is defined twice.
    #[error("{file} document {document}: {kind} {namespace}/{name} is already defined in {first}")]
    Duplicate {
        /// The file of the second definition.
        file: PathBuf,
        /// Zero-based index of the second definition.
        document: usize,
        /// The object's kind.
        kind: Kind,
        /// The object's namespace.
        namespace: String,
        /// The object's name.
        name: String,
        /// Where the first definition is, as `file document N`.
        first: String,
    },
}

/// An object left out of a snapshot, with a reason a person can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The object's kind.
    pub kind: Kind,
    /// The object's namespace.
    pub namespace: String,
    /// The object's name.
    pub name: String,
    /// The offending field, e.g. `spec.models[0].targets[0].provider`.
    pub field: String,
    /// What is wrong and, where possible, what would fix it.
    pub reason: String,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}/{}: {}: {}",
            self.kind, self.namespace, self.name, self.field, self.reason
        )
    }
}

impl std::error::Error for Invalid {}

/// Every invalid object of a build, for callers that refuse to run with any.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} invalid object(s): {}", .0.len(), join(.0))]
pub struct InvalidObjects(pub Vec<Invalid>);

fn join(items: &[Invalid]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Why a presented key was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No ApiKey has this key material.
    #[error("invalid API key")]
    Unknown,
    /// The ApiKey exists but is disabled.
    #[error("API key is disabled")]
    Disabled,
    /// The ApiKey's `expiresAt` has passed.
    #[error("API key has expired")]
    Expired,
}

impl AuthError {
    /// A short stable label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            AuthError::Unknown => "unknown_key",
            AuthError::Disabled => "disabled_key",
            AuthError::Expired => "expired_key",
        }
    }
}

/// Why a requested model cannot be routed for a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// The model exists in some RoutingGroup, but none bound to this key.
    #[error("this API key is not permitted to use the requested model")]
    NotPermitted,
    /// No RoutingGroup serves a model by this id or alias.
    #[error("unknown model")]
    UnknownModel,
}

impl RouteError {
    /// A short stable label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            RouteError::NotPermitted => "model_not_permitted",
            RouteError::UnknownModel => "unknown_model",
        }
    }
}
