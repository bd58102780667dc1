//! `GET /v1/models` and `GET /v1/models/{id}`: what the calling key may use, in its caller's shape.

use bytespike_config::resources::Protocol;
use bytespike_config::snapshot::{KeyEntry, ModelListing};
use bytespike_config::Snapshot;
use bytespike_protocol::{Dialect, ErrorKind, GatewayError};
use serde_json::{json, Value};

/// Fixed creation time reported for configured models: they have no vendor-side creation date.
const CREATED: u64 = 1_735_689_600;
const CREATED_RFC3339: &str = "2025-01-01T00:00:00Z";

/// The list of models `key` may call.
pub fn list(snapshot: &Snapshot, key: &KeyEntry, dialect: Dialect) -> Vec<u8> {
    let models = snapshot.models_for(key);
    let doc = match dialect {
        Dialect::Anthropic => {
            let data: Vec<Value> = models.iter().map(anthropic_entry).collect();
            json!({
                "data": data,
                "has_more": false,
                "first_id": models.first().map(|m| m.id.as_str()),
                "last_id": models.last().map(|m| m.id.as_str()),
            })
        }
        _ => {
            let data: Vec<Value> = models.iter().map(openai_entry).collect();
            json!({"object": "list", "data": data})
        }
    };
    doc.to_string().into_bytes()
}

/// One model `key` may call, or a not-found error.
pub fn get(
    snapshot: &Snapshot,
    key: &KeyEntry,
    dialect: Dialect,
    id: &str,
) -> Result<Vec<u8>, GatewayError> {
    let models = snapshot.models_for(key);
    let model = models.iter().find(|m| m.id == id).ok_or_else(|| {
        GatewayError::new(
            ErrorKind::NotFound,
            format!("model {id:?} is not available to this key"),
        )
        .with_code("model_not_found")
    })?;
    let doc = match dialect {
        Dialect::Anthropic => anthropic_entry(model),
        _ => openai_entry(model),
    };
    Ok(doc.to_string().into_bytes())
}

fn owner(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Anthropic => "anthropic",
        Protocol::Openai => "openai",
        Protocol::Gemini => "google",
    }
}

fn openai_entry(model: &ModelListing) -> Value {
    let mut entry = json!({
        "id": model.id,
        "object": "model",
        "created": CREATED,
        "owned_by": owner(model.owned_by),
    });
    if let Some(canonical) = &model.alias_of {
        entry["alias_of"] = json!(canonical);
    }
    entry
}

fn anthropic_entry(model: &ModelListing) -> Value {
    let mut entry = json!({
        "type": "model",
        "id": model.id,
        "display_name": model.id,
        "created_at": CREATED_RFC3339,
    });
    if let Some(canonical) = &model.alias_of {
        entry["alias_of"] = json!(canonical);
    }
    entry
}
