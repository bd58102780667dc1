//! The status each object should carry: `Ready` or `Invalid` conditions, from the builder's verdict.

#[cfg(test)]
mod tests;

use bytespike_config::Invalid;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// Condition type set on every object: `True` when it serves, `False` when left out.
pub const READY: &str = "Ready";
/// Condition type present only on an object left out of the snapshot.
pub const INVALID: &str = "Invalid";
/// The `Ready` reason of an object in the serving snapshot.
pub const ACCEPTED: &str = "Accepted";

/// A machine-readable reason (CamelCase, as conditions and Events want) for an invalid object.
///
/// Derived from the builder's field path and wording; the unit tests pin each case so a change of
/// wording in the builder shows up here.
pub fn reason_code(invalid: &Invalid) -> &'static str {
    let field = invalid.field.as_str();
    let reason = invalid.reason.as_str();
    if reason.starts_with("unknown RoutingGroup") {
        "UnknownRoutingGroup"
    } else if reason.starts_with("RoutingGroup ") && reason.contains(" is invalid") {
        "RoutingGroupInvalid"
    } else if reason.starts_with("unknown Provider") {
        "UnknownProvider"
    } else if reason.starts_with("Provider ") && reason.contains(" is invalid") {
        "ProviderInvalid"
    } else if reason.starts_with("Secret ") && reason.ends_with(" not found") {
        "SecretNotFound"
    } else if reason.starts_with("Secret ") {
        "SecretKeyInvalid"
    } else if reason.starts_with("key material is also used") {
        "KeyMaterialShared"
    } else if field.ends_with(".window") {
        "InvalidWindow"
    } else if field == "metadata.name" {
        "DuplicateName"
    } else {
        "InvalidSpec"
    }
}

/// What a person reads: the offending field and what to do about it.
pub fn message(invalid: &Invalid) -> String {
    format!("{}: {}", invalid.field, invalid.reason)
}

/// The conditions an object should carry, given the builder's verdict on it.
///
/// `lastTransitionTime` is carried over from `previous` when a condition's status did not
/// change, as Kubernetes conventions ask; this also keeps the result equal to what is already
/// written, so nothing is patched when nothing changed.
pub fn conditions(
    verdict: Option<&Invalid>,
    generation: Option<i64>,
    previous: &[Condition],
    now: &Time,
) -> Vec<Condition> {
    let make = |type_: &str, status: &str, reason: &str, message: String| {
        let since = previous
            .iter()
            .find(|c| c.type_ == type_ && c.status == status)
            .map_or_else(|| now.clone(), |c| c.last_transition_time.clone());
        Condition {
            type_: type_.to_owned(),
            status: status.to_owned(),
            reason: reason.to_owned(),
            message,
            observed_generation: generation,
            last_transition_time: since,
        }
    };
    match verdict {
        None => vec![make(
            READY,
            "True",
            ACCEPTED,
            "compiled into the serving config".to_owned(),
        )],
        Some(invalid) => {
            let code = reason_code(invalid);
            let text = message(invalid);
            vec![
                make(READY, "False", code, text.clone()),
                make(INVALID, "True", code, text),
            ]
        }
    }
}

/// Whether `conditions` says the object turned invalid, or invalid for another reason, compared
/// with what it carried before: the moments worth an Event.
pub fn became_invalid(previous: &[Condition], desired: &[Condition]) -> bool {
    let invalid = |cs: &[Condition]| {
        cs.iter()
            .find(|c| c.type_ == INVALID && c.status == "True")
            .map(|c| (c.reason.clone(), c.message.clone()))
    };
    match (invalid(previous), invalid(desired)) {
        (_, None) => false,
        (None, Some(_)) => true,
        (Some(before), Some(now)) => before != now,
    }
}

/// Ignores the order of conditions and the sub-second precision the API server drops.
pub fn same_conditions(a: &[Condition], b: &[Condition]) -> bool {
    let key = |c: &Condition| {
        (
            c.type_.clone(),
            c.status.clone(),
            c.reason.clone(),
            c.message.clone(),
            c.observed_generation,
            c.last_transition_time.0.as_second(),
        )
    };
    let mut a: Vec<_> = a.iter().map(key).collect();
    let mut b: Vec<_> = b.iter().map(key).collect();
    a.sort();
    b.sort();
    a == b
}

/// A short view of the window nearest its cap, e.g. `5h 42%`, for the ApiKey `Usage` column.
pub fn tightest_window(usage: &[bytespike_config::resources::WindowUsage]) -> Option<String> {
    let fraction = |used: f64, cap: Option<f64>| cap.filter(|c| *c > 0.0).map(|c| used / c);
    usage
        .iter()
        .filter_map(|w| {
            let cost_used = w.cost_usd.parse::<f64>().unwrap_or(0.0);
            let cost_cap = w
                .limit_cost_usd
                .as_deref()
                .and_then(|c| c.parse::<f64>().ok());
            [
                fraction(w.requests as f64, w.limit_requests.map(|c| c as f64)),
                fraction(w.tokens as f64, w.limit_tokens.map(|c| c as f64)),
                fraction(cost_used, cost_cap),
            ]
            .into_iter()
            .flatten()
            .reduce(f64::max)
            .map(|f| (w.window.as_str(), f))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(window, f)| format!("{window} {:.0}%", f * 100.0))
}
