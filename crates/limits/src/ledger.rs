//! The usage ledger: one record per settled request, appended exactly once.

use std::collections::HashMap;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::admission::{to_ms, Reservation};
use crate::error::LimitError;
use crate::usage::Usage;

/// Version written in every record's `v` field.
pub const LEDGER_VERSION: u32 = 1;

/// What the proxy knows when a request ends: its real usage and what the ledger records about it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settlement {
    /// Real token counts and cost.
    pub usage: Usage,
    /// Model id the client asked for.
    pub model: String,
    /// Provider that served it.
    pub provider: String,
    /// Wire protocol of the client (`anthropic`, `openai`, ...).
    pub client_protocol: String,
    /// Wire protocol of the upstream.
    pub upstream_protocol: String,
    /// HTTP status returned to the client.
    pub status: u16,
    /// Milliseconds since the Unix epoch when the request arrived.
    pub started_at_ms: u64,
    /// Milliseconds since the Unix epoch when the response ended.
    pub finished_at_ms: u64,
}

impl Settlement {
    /// Sets both timestamps from `SystemTime`s.
    pub fn with_times(mut self, started_at: SystemTime, finished_at: SystemTime) -> Self {
        self.started_at_ms = to_ms(started_at);
        self.finished_at_ms = to_ms(finished_at);
        self
    }
}

/// A ledger field's value, as [`LedgerRecord::write_values`] hands it out.
#[derive(Clone, Copy, Debug)]
pub enum FieldValue<'a> {
    Text(&'a str),
    Number(u64),
}

/// One ledger entry, as stored in the stream (field names are the struct's field names).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerRecord {
    /// Record format version.
    pub v: u32,
    /// Request id.
    pub request_id: String,
    /// `namespace/name` of the key.
    pub key: String,
    /// Model id the client asked for.
    pub model: String,
    /// Provider that served it.
    pub provider: String,
    /// Wire protocol of the client.
    pub client_protocol: String,
    /// Wire protocol of the upstream.
    pub upstream_protocol: String,
    /// Uncached input tokens.
    pub input_tokens: u64,
    /// Output tokens, reasoning included.
    pub output_tokens: u64,
    /// Cache-read tokens.
    pub cache_read_tokens: u64,
    /// Cache-write tokens.
    pub cache_write_tokens: u64,
    /// Reasoning tokens.
    pub reasoning_tokens: u64,
    /// Cost in micro-dollars.
    pub cost_micros: u64,
    /// HTTP status returned to the client.
    pub status: u16,
    /// Milliseconds since the Unix epoch when the request arrived.
    pub started_at_ms: u64,
    /// Milliseconds since the Unix epoch when the response ended.
    pub finished_at_ms: u64,
}

impl LedgerRecord {
    /// The record for a settled reservation.
    pub fn new(reservation: &Reservation, settlement: &Settlement) -> Self {
        let u = &settlement.usage;
        Self {
            v: LEDGER_VERSION,
            request_id: reservation.request_id.clone(),
            key: reservation.key.to_string(),
            model: settlement.model.clone(),
            provider: settlement.provider.clone(),
            client_protocol: settlement.client_protocol.clone(),
            upstream_protocol: settlement.upstream_protocol.clone(),
            input_tokens: u.input_tokens,
            output_tokens: u.output_tokens,
            cache_read_tokens: u.cache_read_tokens,
            cache_write_tokens: u.cache_write_tokens,
            reasoning_tokens: u.reasoning_tokens,
            cost_micros: u.cost_micros,
            status: settlement.status,
            started_at_ms: settlement.started_at_ms,
            finished_at_ms: settlement.finished_at_ms,
        }
    }

    /// Stream fields in their documented order; every value is a UTF-8 string.
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        let mut fields = Vec::with_capacity(16);
        self.write_fields(|name, value| {
            let text = match value {
                FieldValue::Text(text) => text.to_string(),
                FieldValue::Number(n) => n.to_string(),
            };
            fields.push((name, text));
        });
        fields
    }

    /// Stream field names in their documented order. The Redis script holds them (see
    /// `redis::script`), so a settlement sends only the values.
    pub const FIELD_NAMES: [&'static str; 16] = [
        "v",
        "request_id",
        "key",
        "model",
        "provider",
        "client_protocol",
        "upstream_protocol",
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "reasoning_tokens",
        "cost_micros",
        "status",
        "started_at_ms",
        "finished_at_ms",
    ];

    /// Hands each stream field to `put`, in the documented order, without building strings.
    pub fn write_fields(&self, mut put: impl FnMut(&'static str, FieldValue<'_>)) {
        let mut names = Self::FIELD_NAMES.iter();
        self.write_values(|value| {
            if let Some(name) = names.next() {
                put(name, value);
            }
        });
    }

    /// Hands each field's value to `put`, in the order of [`Self::FIELD_NAMES`]: the settlement
    /// path writes them straight into its Redis call.
    pub fn write_values(&self, mut put: impl FnMut(FieldValue<'_>)) {
        use FieldValue::{Number, Text};
        put(Number(self.v.into()));
        put(Text(&self.request_id));
        put(Text(&self.key));
        put(Text(&self.model));
        put(Text(&self.provider));
        put(Text(&self.client_protocol));
        put(Text(&self.upstream_protocol));
        put(Number(self.input_tokens));
        put(Number(self.output_tokens));
        put(Number(self.cache_read_tokens));
        put(Number(self.cache_write_tokens));
        put(Number(self.reasoning_tokens));
        put(Number(self.cost_micros));
        put(Number(self.status.into()));
        put(Number(self.started_at_ms));
        put(Number(self.finished_at_ms));
    }

    /// Parses a record back from stream fields (what a billing consumer does).
    pub fn from_fields(fields: &HashMap<String, String>) -> Result<Self, LimitError> {
        let text = |name: &str| {
            fields
                .get(name)
                .cloned()
                .ok_or_else(|| LimitError::Store(format!("ledger record lacks `{name}`")))
        };
        let num = |name: &str| {
            text(name)?
                .parse::<u64>()
                .map_err(|_| LimitError::Store(format!("ledger field `{name}` is not a number")))
        };
        let small = |name: &str, n: u64| {
            u32::try_from(n)
                .map_err(|_| LimitError::Store(format!("ledger field `{name}` is out of range")))
        };
        Ok(Self {
            v: small("v", num("v")?)?,
            request_id: text("request_id")?,
            key: text("key")?,
            model: text("model")?,
            provider: text("provider")?,
            client_protocol: text("client_protocol")?,
            upstream_protocol: text("upstream_protocol")?,
            input_tokens: num("input_tokens")?,
            output_tokens: num("output_tokens")?,
            cache_read_tokens: num("cache_read_tokens")?,
            cache_write_tokens: num("cache_write_tokens")?,
            reasoning_tokens: num("reasoning_tokens")?,
            cost_micros: num("cost_micros")?,
            status: u16::try_from(small("status", num("status")?)?)
                .map_err(|_| LimitError::Store("ledger field `status` is out of range".into()))?,
            started_at_ms: num("started_at_ms")?,
            finished_at_ms: num("finished_at_ms")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::Origin;
    use crate::limits::KeyId;

    #[test]
    fn fields_round_trip() {
        let reservation = Reservation {
            key: KeyId::new("team-a", "ci"),
            request_id: "req-1".into(),
            admitted_at_ms: 5,
            estimated_input_tokens: 10,
            windows_ms: vec![60_000],
            cache_read_weight_permille: 0,
            origin: Origin::Local,
            lease: None,
        };
        let settlement = Settlement {
            usage: Usage {
                input_tokens: 1,
                output_tokens: 2,
                cache_read_tokens: 3,
                cache_write_tokens: 4,
                reasoning_tokens: 5,
                cost_micros: 6,
            },
            model: "m".into(),
            provider: "p".into(),
            client_protocol: "openai".into(),
            upstream_protocol: "anthropic".into(),
            status: 200,
            started_at_ms: 7,
            finished_at_ms: 8,
        };
        let record = LedgerRecord::new(&reservation, &settlement);
        assert_eq!(record.key, "team-a/ci");
        let map: HashMap<String, String> = record
            .fields()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        assert_eq!(map.len(), 16);
        assert_eq!(LedgerRecord::from_fields(&map).unwrap(), record);
        // The Redis script pairs the values it is sent with FIELD_NAMES, one for one.
        let mut values = 0;
        record.write_values(|_| values += 1);
        assert_eq!(values, LedgerRecord::FIELD_NAMES.len());
    }
}
