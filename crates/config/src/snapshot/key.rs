//! Compiled API keys and their rate-limit windows.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::build::FieldError;
use super::group::GroupEntry;
use crate::money::parse_usd;
use crate::resources::LimitSpec;
use crate::window::parse_window;

/// An ApiKey ready for the request path; the key material itself is never stored.
#[derive(Debug)]
pub struct KeyEntry {
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// `namespace/name`, a stable identity for ledgers, logs and metrics.
    pub id: String,
    /// Bound groups in order; the first that has a model serves it.
    pub groups: Vec<Arc<GroupEntry>>,
    /// The key's own limits, or those inherited from its first group that has any.
    pub limits: Vec<Limit>,
    /// Most requests in flight at once.
    pub max_concurrent: Option<u32>,
    /// When the key stops being accepted.
    pub expires_at: Option<SystemTime>,
    /// Whether the key is refused outright.
    pub disabled: bool,
    /// Who the key belongs to.
    pub owner: Option<String>,
}

/// Caps over one window; `None` is unlimited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    /// Window length.
    pub window: Duration,
    /// The window as written, e.g. `5h`, for status and logs.
    pub label: String,
    /// Requests per window.
    pub requests: Option<u64>,
    /// Input + output tokens per window.
    pub tokens: Option<u64>,
    /// Input tokens per window.
    pub input_tokens: Option<u64>,
    /// Output tokens per window.
    pub output_tokens: Option<u64>,
    /// Spend per window in micro-dollars.
    pub cost_micros: Option<u64>,
}

/// Compiles a limit list; `at` is the field path of the list (e.g. `spec.limits`).
pub(crate) fn compile_limits(specs: &[LimitSpec], at: &str) -> Result<Vec<Limit>, FieldError> {
    let mut limits: Vec<Limit> = Vec::with_capacity(specs.len());
    for (i, spec) in specs.iter().enumerate() {
        let field = format!("{at}[{i}]");
        let window = parse_window(&spec.window)
            .map_err(|e| FieldError::new(format!("{field}.window"), e.to_string()))?;
        // One entry per window length keeps ledger keys unambiguous.
        if let Some(j) = limits.iter().position(|l| l.window == window) {
            return Err(FieldError::new(
                format!("{field}.window"),
                format!(
                    "{:?} repeats the window of {at}[{j}]; merge the two",
                    spec.window
                ),
            ));
        }
        let cost_micros = spec
            .cost_usd
            .as_deref()
            .map(parse_usd)
            .transpose()
            .map_err(|e| FieldError::new(format!("{field}.costUsd"), e.to_string()))?;
        let limit = Limit {
            window,
            label: spec.window.trim().to_owned(),
            requests: spec.requests,
            tokens: spec.tokens,
            input_tokens: spec.input_tokens,
            output_tokens: spec.output_tokens,
            cost_micros,
        };
        let caps = [
            limit.requests,
            limit.tokens,
            limit.input_tokens,
            limit.output_tokens,
            limit.cost_micros,
        ];
        if caps.iter().all(Option::is_none) {
            return Err(FieldError::new(
                field,
                "sets no cap; give at least one of requests, tokens, inputTokens, outputTokens, costUsd",
            ));
        }
        limits.push(limit);
    }
    Ok(limits)
}

/// Compiles an ApiKey spec into its entry and the SHA-256 of its key material.
pub(crate) fn compile(
    namespace: &str,
    name: &str,
    spec: &crate::resources::ApiKeySpec,
    group: &dyn Fn(&str) -> Result<Arc<GroupEntry>, String>,
    secrets: &super::build::SecretIndex<'_>,
) -> Result<([u8; 32], KeyEntry), FieldError> {
    use sha2::{Digest, Sha256};

    if spec.routing_groups.is_empty() {
        return Err(FieldError::new(
            "spec.routingGroups",
            "must name at least one RoutingGroup",
        ));
    }
    let groups = spec
        .routing_groups
        .iter()
        .enumerate()
        .map(|(i, g)| group(g).map_err(|r| FieldError::new(format!("spec.routingGroups[{i}]"), r)))
        .collect::<Result<Vec<_>, _>>()?;
    let material =
        super::provider::secret_value(namespace, &spec.secret_ref, secrets, "spec.secretRef")?;
    let digest: [u8; 32] = Sha256::digest(material.expose().as_bytes()).into();
    let limits = if spec.limits.is_empty() {
        groups
            .iter()
            .find(|g| !g.limits.is_empty())
            .map(|g| g.limits.clone())
            .unwrap_or_default()
    } else {
        compile_limits(&spec.limits, "spec.limits")?
    };
    if spec.max_concurrent == Some(0) {
        return Err(FieldError::new(
            "spec.maxConcurrent",
            "0 would refuse every request; omit it for no cap or set disabled: true",
        ));
    }
    Ok((
        digest,
        KeyEntry {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            id: format!("{namespace}/{name}"),
            groups,
            limits,
            max_concurrent: spec.max_concurrent,
            expires_at: spec.expires_at.as_ref().map(|t| SystemTime::from(t.0)),
            disabled: spec.disabled,
            owner: spec.owner.clone(),
        },
    ))
}
