//! One golden case: load, check, bless.

use crate::sse;
use bytespike_protocol::Dialect;
use bytespike_translate::{
    translate_error, translate_request, ResponseTranslator, UpstreamRequest,
};
use serde_json::{json, Value};
use std::path::Path;

/// The `created` timestamp every OpenAI output in the fixtures carries.
const CREATED: u64 = 1_700_000_000;

pub struct Case {
    client: Dialect,
    upstream: Dialect,
    doc: Value,
}

fn dialect(name: &str) -> Dialect {
    match name {
        "anthropic" => Dialect::Anthropic,
        "openai_chat" => Dialect::OpenAiChat,
        "openai_responses" => Dialect::OpenAiResponses,
        "gemini" => Dialect::Gemini,
        other => panic!("unknown dialect {other}"),
    }
}

struct Actual {
    upstream_request: Option<Value>,
    client_response: Option<Value>,
    usage: Option<Value>,
    client_stream: Option<String>,
    stream_usage: Option<Value>,
    client_error: Option<Value>,
}

impl Case {
    pub fn load(file: &Path) -> Case {
        let dir = file
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap();
        let (client, upstream) = dir
            .split_once("_to_")
            .expect("fixture folders are <client>_to_<upstream>");
        let text = std::fs::read_to_string(file).unwrap();
        let doc: Value =
            serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        Case {
            client: dialect(client),
            upstream: dialect(upstream),
            doc,
        }
    }

    fn model(&self) -> String {
        let m = self
            .doc
            .get("client_model")
            .or_else(|| self.doc.get("client_request").and_then(|r| r.get("model")));
        m.and_then(Value::as_str)
            .unwrap_or("client-model")
            .to_string()
    }

    fn include_usage(&self) -> bool {
        self.doc
            .get("include_usage")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    fn upstream_model(&self) -> &str {
        self.doc
            .get("upstream_model")
            .and_then(Value::as_str)
            .unwrap_or("upstream-model")
    }

    /// A translator for this case's responses; built from the translated client request when
    /// there is one, so that what a request hands its response (the Responses echo) is used.
    fn translator(&self, stream: bool, include_usage: bool) -> ResponseTranslator {
        let translated = self.doc.get("client_request").and_then(|req| {
            let body = serde_json::to_vec(req).unwrap();
            translate_request(self.client, self.upstream, &body, self.upstream_model()).ok()
        });
        match translated {
            Some(r) => {
                let r = UpstreamRequest {
                    stream,
                    client_include_usage: include_usage,
                    ..r
                };
                ResponseTranslator::for_request_with_created(
                    self.client,
                    self.upstream,
                    &r,
                    &self.model(),
                    CREATED,
                )
            }
            None => ResponseTranslator::with_created(
                self.client,
                self.upstream,
                stream,
                &self.model(),
                include_usage,
                CREATED,
            ),
        }
    }

    fn stream_output(&self, input: &[u8], split: Option<usize>) -> (Vec<u8>, Option<Value>) {
        let mut t = self.translator(true, self.include_usage());
        let mut out = Vec::new();
        match split {
            Some(k) => {
                t.feed(&input[..k], &mut out);
                t.feed(&input[k..], &mut out);
            }
            None => t.feed(input, &mut out),
        }
        t.finish(&mut out);
        (out, t.usage().map(|u| serde_json::to_value(u).unwrap()))
    }

    fn actual(&self) -> Result<Actual, String> {
        let mut a = Actual {
            upstream_request: None,
            client_response: None,
            usage: None,
            client_stream: None,
            stream_usage: None,
            client_error: None,
        };
        if let Some(req) = self.doc.get("client_request") {
            let model = self.upstream_model();
            let body = serde_json::to_vec(req).unwrap();
            a.upstream_request = Some(
                match translate_request(self.client, self.upstream, &body, model) {
                    Ok(r) => {
                        let mut v = json!({"path": r.path, "body": serde_json::from_slice::<Value>(&r.body).unwrap()});
                        if !r.headers.is_empty() {
                            v["headers"] = r
                                .headers
                                .iter()
                                .map(|(k, v)| (k.to_string(), json!(v)))
                                .collect();
                        }
                        if self.client == Dialect::OpenAiChat
                            && r.client_include_usage != self.include_usage()
                        {
                            return Err(format!(
                                "client_include_usage is {}, fixture says {}",
                                r.client_include_usage,
                                self.include_usage()
                            ));
                        }
                        v
                    }
                    Err(e) => {
                        let (status, body) = e.render(self.client);
                        json!({"error": {"status": status, "body": serde_json::from_slice::<Value>(&body).unwrap()}})
                    }
                },
            );
        }
        if let Some(resp) = self.doc.get("upstream_response") {
            let mut t = self.translator(false, false);
            let body = serde_json::to_vec(resp).unwrap();
            let mut out = Vec::new();
            t.feed(&body[..body.len() / 2], &mut out);
            t.feed(&body[body.len() / 2..], &mut out);
            t.finish(&mut out);
            a.client_response = Some(
                serde_json::from_slice(&out)
                    .map_err(|e| format!("client body is not JSON: {e}"))?,
            );
            a.usage = t.usage().map(|u| serde_json::to_value(u).unwrap());
        }
        if let Some(stream) = self.doc.get("upstream_stream").and_then(Value::as_str) {
            let (out, usage) = self.stream_output(stream.as_bytes(), None);
            for k in 0..=stream.len() {
                let (split, _) = self.stream_output(stream.as_bytes(), Some(k));
                if split != out {
                    return Err(format!(
                        "stream split at byte {k} gives different output:\n{}",
                        String::from_utf8_lossy(&split)
                    ));
                }
            }
            let mut t = self.translator(true, self.include_usage());
            let mut bytewise = Vec::new();
            for b in stream.as_bytes() {
                t.feed(std::slice::from_ref(b), &mut bytewise);
            }
            t.finish(&mut bytewise);
            if bytewise != out {
                return Err("stream fed byte by byte gives different output".into());
            }
            a.client_stream = Some(String::from_utf8(out).map_err(|e| e.to_string())?);
            a.stream_usage = usage;
        }
        if let Some(err) = self.doc.get("upstream_error") {
            let status = err["status"].as_u64().unwrap() as u16;
            let body = match &err["body"] {
                Value::String(s) => s.clone().into_bytes(),
                other => serde_json::to_vec(other).unwrap(),
            };
            let (status, body) = translate_error(self.client, self.upstream, status, &body);
            a.client_error = Some(
                json!({"status": status, "body": serde_json::from_slice::<Value>(&body).unwrap()}),
            );
        }
        Ok(a)
    }

    pub fn check(&self) -> Result<(), String> {
        let a = self.actual()?;
        let same = |key: &str, got: &Option<Value>| -> Result<(), String> {
            match (self.doc.get(key), got) {
                (None, None) => Ok(()),
                (Some(w), Some(g)) if w == g => Ok(()),
                (w, g) => Err(format!(
                    "{key} differs:\n  want {}\n  got  {}",
                    show(w),
                    show(g.as_ref())
                )),
            }
        };
        same("upstream_request", &a.upstream_request)?;
        same("client_response", &a.client_response)?;
        same("usage", &a.usage)?;
        same("stream_usage", &a.stream_usage)?;
        same("client_error", &a.client_error)?;
        match (
            self.doc.get("client_stream").and_then(Value::as_str),
            &a.client_stream,
        ) {
            (None, None) => {}
            (Some(w), Some(g)) => {
                if let Some(d) = sse::diff(&sse::events(w.as_bytes()), &sse::events(g.as_bytes())) {
                    return Err(format!("client_stream differs at {d}"));
                }
            }
            (w, g) => {
                return Err(format!(
                    "client_stream presence differs: want {}, got {}",
                    w.is_some(),
                    g.is_some()
                ))
            }
        }
        Ok(())
    }

    /// This case with the expectation at `key` altered: a stream loses its last event, a
    /// JSON value gains a field.
    pub fn broken(&self, key: &str) -> Case {
        let mut doc = self.doc.clone();
        match &mut doc[key] {
            Value::String(s) => {
                let trimmed = s.trim_end();
                let cut = trimmed.rfind("\n\n").unwrap_or(0);
                *s = format!("{}\n\n", &trimmed[..cut]);
            }
            Value::Object(o) => {
                o.insert("unexpected".into(), json!(1));
            }
            other => panic!("{key} is {other:?}"),
        }
        Case {
            client: self.client,
            upstream: self.upstream,
            doc,
        }
    }

    pub fn bless(&self, file: &Path) {
        let a = self
            .actual()
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let mut doc = serde_yaml::Mapping::new();
        let mut put = |key: &str, v: Option<Value>| {
            if let Some(v) = v {
                doc.insert(key.into(), serde_yaml::to_value(v).unwrap());
            }
        };
        for key in [
            "description",
            "upstream_model",
            "client_model",
            "include_usage",
            "client_request",
        ] {
            put(key, self.doc.get(key).cloned());
        }
        put("upstream_request", a.upstream_request);
        put(
            "upstream_response",
            self.doc.get("upstream_response").cloned(),
        );
        put("client_response", a.client_response);
        put("usage", a.usage);
        put("upstream_stream", self.doc.get("upstream_stream").cloned());
        put("client_stream", a.client_stream.map(Value::String));
        put("stream_usage", a.stream_usage);
        put("upstream_error", self.doc.get("upstream_error").cloned());
        put("client_error", a.client_error);
        std::fs::write(file, serde_yaml::to_string(&doc).unwrap()).unwrap();
    }
}

fn show(v: Option<&Value>) -> String {
    v.map_or("(absent)".into(), |v| v.to_string())
}
