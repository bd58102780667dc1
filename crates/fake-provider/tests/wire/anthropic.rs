//! Anthropic Messages: JSON and SSE shapes, usage, directives, errors.

use serde_json::{json, Value};

use crate::client::{events, input_tokens, post, start_default, Event};

const HEADERS: &[(&str, &str)] = &[("anthropic-version", "2023-06-01"), ("x-api-key", "k")];

fn request(text: &str) -> Value {
    json!({"model": "claude-test", "max_tokens": 1024,
        "messages": [{"role": "user", "content": [{"type": "text", "text": text}]}]})
}

fn names(evs: &[Event]) -> Vec<&str> {
    evs.iter()
        .map(|e| e.name.as_deref().unwrap_or(""))
        .collect()
}

#[tokio::test]
async fn message_shape_and_usage() {
    let fake = start_default().await;
    let body = request("hi");
    let resp = post(fake.addr, "/v1/messages?beta=true", HEADERS, &body).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("x-fake-provider"), Some("fake"));
    assert!(resp
        .header("request-id")
        .is_some_and(|v| v.starts_with("req_")));
    let v = resp.json();
    assert!(
        v["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("msg_fake_")),
        "{v}"
    );
    assert_eq!(v["type"], "message");
    assert_eq!(v["role"], "assistant");
    assert_eq!(v["model"], "claude-test");
    assert_eq!(
        v["content"],
        json!([{"type": "text", "text": "Hello from fake via anthropic for claude-test."}])
    );
    assert_eq!(v["stop_reason"], "end_turn");
    assert_eq!(v["stop_sequence"], Value::Null);
    assert_eq!(v["usage"]["input_tokens"], input_tokens(&body));
    assert_eq!(v["usage"]["output_tokens"], 7);
    assert_eq!(v["usage"]["cache_read_input_tokens"], 0);
}

#[tokio::test]
async fn stream_event_sequence() {
    let fake = start_default().await;
    let mut body = request("hi");
    body["stream"] = json!(true);
    let resp = post(fake.addr, "/v1/messages", HEADERS, &body).await;
    assert!(resp.complete);
    assert_eq!(
        resp.header("content-type"),
        Some("text/event-stream; charset=utf-8")
    );
    let evs = events(&resp.text(), "\n\n");
    let mut expected = vec!["message_start", "ping", "content_block_start"];
    expected.extend(["content_block_delta"; 7]);
    expected.extend(["content_block_stop", "message_delta", "message_stop"]);
    assert_eq!(names(&evs), expected);
    for e in &evs {
        assert_eq!(
            e.data["type"].as_str(),
            e.name.as_deref(),
            "data.type matches event name"
        );
    }
    assert_eq!(
        evs[0].data["message"]["usage"]["input_tokens"],
        input_tokens(&body)
    );
    let text: String = evs
        .iter()
        .filter_map(|e| e.data["delta"]["text"].as_str())
        .collect();
    assert_eq!(text, "Hello from fake via anthropic for claude-test.");
    assert_eq!(evs[3].data["delta"]["text"], "Hello");
    assert_eq!(evs[4].data["delta"]["text"], " from");
    let delta = &evs[evs.len() - 2].data;
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert_eq!(delta["usage"]["output_tokens"], 7);
}

#[tokio::test]
async fn thinking_and_tool_call_stream() {
    let fake = start_default().await;
    let mut body = request("weather? [[tool]]");
    body["stream"] = json!(true);
    body["thinking"] = json!({"type": "enabled", "budget_tokens": 1024});
    body["tools"] = json!([{"name": "get_weather", "input_schema": {"type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}, "days": {"type": "integer"}},
        "required": ["city", "unit"]}}]);
    let resp = post(fake.addr, "/v1/messages", HEADERS, &body).await;
    let evs = events(&resp.text(), "\n\n");
    let starts: Vec<&Value> = evs
        .iter()
        .filter(|e| e.name.as_deref() == Some("content_block_start"))
        .map(|e| &e.data["content_block"])
        .collect();
    assert_eq!(starts[0]["type"], "thinking");
    assert_eq!(starts[1]["type"], "tool_use");
    assert!(starts[1]["id"]
        .as_str()
        .is_some_and(|id| id.starts_with("toolu_")));
    assert_eq!(starts[1]["name"], "get_weather");
    let of = |kind: &str| -> Vec<&Value> {
        evs.iter()
            .filter(|e| e.data["delta"]["type"] == kind)
            .map(|e| &e.data["delta"])
            .collect()
    };
    let thinking: String = of("thinking_delta")
        .iter()
        .filter_map(|d| d["thinking"].as_str())
        .collect();
    assert_eq!(thinking, "Let me think about this.");
    assert_eq!(of("signature_delta").len(), 1);
    let args: String = of("input_json_delta")
        .iter()
        .filter_map(|d| d["partial_json"].as_str())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&args).expect("args"),
        json!({"city": "sample", "unit": "c"})
    );
    let delta = &evs[evs.len() - 2].data;
    assert_eq!(delta["delta"]["stop_reason"], "tool_use");
    assert_eq!(delta["usage"]["output_tokens"], 5 + 10);
}

#[tokio::test]
async fn errors_in_anthropic_shape() {
    let fake = start_default().await;
    for (status, kind) in [
        (429, "rate_limit_error"),
        (529, "overloaded_error"),
        (500, "api_error"),
        (401, "authentication_error"),
    ] {
        let resp = post(
            fake.addr,
            "/v1/messages",
            HEADERS,
            &request(&format!("[[error:{status}]]")),
        )
        .await;
        assert_eq!(resp.status, status);
        let v = resp.json();
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], kind);
        assert!(v["error"]["message"].is_string());
        assert!(resp.header("request-id").is_some());
        assert_eq!(resp.header("retry-after").is_some(), status == 429);
    }
    let no_max = json!({"model": "m", "messages": []});
    let resp = post(fake.addr, "/v1/messages", HEADERS, &no_max).await;
    assert_eq!(resp.status, 400);
    assert_eq!(resp.json()["error"]["type"], "invalid_request_error");
    let resp = crate::client::send(
        fake.addr,
        crate::client::request("POST", "/v1/messages", HEADERS, b"{nope".to_vec()),
    )
    .await;
    assert_eq!(resp.status, 400);
    assert_eq!(resp.json()["type"], "error");
}

#[tokio::test]
async fn cache_truncation_and_tool_result() {
    let fake = start_default().await;
    let mut body = request("[[words:10]]");
    body["max_tokens"] = json!(3);
    body["system"] =
        json!([{"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}]);
    let v = post(fake.addr, "/v1/messages", HEADERS, &body).await.json();
    assert_eq!(v["content"][0]["text"], "word1 word2 word3");
    assert_eq!(v["stop_reason"], "max_tokens");
    assert_eq!(v["usage"]["output_tokens"], 3);
    assert_eq!(v["usage"]["cache_read_input_tokens"], 100);
    assert_eq!(v["usage"]["cache_creation_input_tokens"], 50);
    assert_eq!(v["usage"]["input_tokens"], input_tokens(&body));

    let body = json!({"model": "m", "max_tokens": 100, "messages": [
        {"role": "user", "content": "weather? [[tool]]"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "w", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "72F"}]}],
        "tools": [{"name": "w", "input_schema": {"type": "object"}}]});
    let v = post(fake.addr, "/v1/messages", HEADERS, &body).await.json();
    assert_eq!(v["content"][0]["text"], "Tool result received: 72F.");
    assert_eq!(v["stop_reason"], "end_turn");
}

#[tokio::test]
async fn in_stream_error_and_count_tokens() {
    let fake = start_default().await;
    let mut body = request("[[stream-error-after:3]]");
    body["stream"] = json!(true);
    let resp = post(fake.addr, "/v1/messages", HEADERS, &body).await;
    let evs = events(&resp.text(), "\n\n");
    assert_eq!(
        names(&evs),
        ["message_start", "ping", "content_block_start", "error"]
    );
    assert_eq!(evs[3].data["error"]["type"], "overloaded_error");

    let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    let resp = post(fake.addr, "/v1/messages/count_tokens", HEADERS, &body).await;
    assert_eq!(resp.json(), json!({"input_tokens": input_tokens(&body)}));
}
