//! OpenAI Chat Completions: JSON and SSE shapes, usage, tools, reasoning, errors, cuts.

use serde_json::{json, Value};

use crate::client::{events, input_tokens, post, start, start_default};

const HEADERS: &[(&str, &str)] = &[("authorization", "Bearer sk-test")];

fn request(text: &str) -> Value {
    json!({"model": "gpt-test", "messages": [{"role": "system", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": text}]}]})
}

fn tools() -> Value {
    json!([
        {"type": "function", "function": {"name": "a", "parameters": {"type": "object",
            "properties": {"q": {"type": "string"}, "n": {"type": "number"}, "flag": {"type": "boolean"},
            "tags": {"type": "array"}}}}},
        {"type": "function", "function": {"name": "b", "parameters": {"type": "object",
            "properties": {"x": {"type": "integer"}, "y": {"type": "string"}}, "required": ["x"]}}}
    ])
}

#[tokio::test]
async fn completion_shape_and_usage() {
    let fake = start_default().await;
    let body = request("hello");
    let resp = post(fake.addr, "/v1/chat/completions", HEADERS, &body).await;
    assert_eq!(resp.status, 200);
    let v = resp.json();
    assert!(v["id"]
        .as_str()
        .is_some_and(|id| id.starts_with("chatcmpl-fake-")));
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "gpt-test");
    let choice = &v["choices"][0];
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(
        choice["message"]["content"],
        "Hello from fake via openai-chat for gpt-test."
    );
    assert_eq!(choice["finish_reason"], "stop");
    let prompt = input_tokens(&body);
    assert_eq!(v["usage"]["prompt_tokens"], prompt);
    assert_eq!(v["usage"]["completion_tokens"], 7);
    assert_eq!(v["usage"]["total_tokens"], prompt + 7);
    assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
}

#[tokio::test]
async fn stream_with_and_without_usage() {
    let fake = start_default().await;
    let mut body = request("hello");
    body["stream"] = json!(true);
    let plain = post(fake.addr, "/v1/chat/completions", HEADERS, &body).await;
    let evs = events(&plain.text(), "\n\n");
    assert!(evs.iter().all(|e| e.name.is_none()));
    assert_eq!(evs.last().map(|e| &e.data), Some(&json!("[DONE]")));
    assert!(evs[..evs.len() - 1]
        .iter()
        .all(|e| e.data.get("usage").is_none()));
    assert_eq!(evs[0].data["choices"][0]["delta"]["role"], "assistant");
    let text: String = evs
        .iter()
        .filter_map(|e| e.data["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "Hello from fake via openai-chat for gpt-test.");
    assert_eq!(
        evs[evs.len() - 2].data["choices"][0]["finish_reason"],
        "stop"
    );

    body["stream_options"] = json!({"include_usage": true});
    body["prompt_cache_key"] = json!("k1");
    let resp = post(fake.addr, "/v1/chat/completions", HEADERS, &body).await;
    let evs = events(&resp.text(), "\n\n");
    let usage_chunk = &evs[evs.len() - 2].data;
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(usage_chunk["usage"]["completion_tokens"], 7);
    assert_eq!(
        usage_chunk["usage"]["prompt_tokens"],
        input_tokens(&body).max(100)
    );
    assert_eq!(
        usage_chunk["usage"]["prompt_tokens_details"]["cached_tokens"],
        100
    );
    assert!(evs[..evs.len() - 2]
        .iter()
        .all(|e| e.data["usage"].is_null()));
}

#[tokio::test]
async fn parallel_tool_calls_from_schema() {
    let fake = start_default().await;
    let mut body = request("do it [[tools:2]]");
    body["tools"] = tools();
    let v = post(fake.addr, "/v1/chat/completions", HEADERS, &body)
        .await
        .json();
    let calls = v["choices"][0]["message"]["tool_calls"]
        .as_array()
        .expect("tool_calls")
        .clone();
    assert_eq!(calls.len(), 2);
    assert!(calls[0]["id"]
        .as_str()
        .is_some_and(|id| id.starts_with("call_")));
    assert_ne!(calls[0]["id"], calls[1]["id"]);
    let args = |c: &Value| {
        serde_json::from_str::<Value>(c["function"]["arguments"].as_str().expect("string"))
            .expect("json")
    };
    assert_eq!(
        args(&calls[0]),
        json!({"q": "sample", "n": 1, "flag": true, "tags": []})
    );
    assert_eq!(calls[1]["function"]["name"], "b");
    assert_eq!(args(&calls[1]), json!({"x": 1}));
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(v["usage"]["completion_tokens"], 20);

    body["stream"] = json!(true);
    body["tool_choice"] = json!({"type": "function", "function": {"name": "b"}});
    body["messages"][1]["content"] = json!("forced");
    let resp = post(fake.addr, "/v1/chat/completions", HEADERS, &body).await;
    let evs = events(&resp.text(), "\n\n");
    let deltas: Vec<&Value> = evs
        .iter()
        .filter_map(|e| e.data["choices"][0]["delta"]["tool_calls"].get(0))
        .collect();
    assert_eq!(deltas[0]["function"]["name"], "b");
    assert_eq!(deltas[0]["index"], 0);
    let args: String = deltas
        .iter()
        .filter_map(|d| d["function"]["arguments"].as_str())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&args).expect("args"),
        json!({"x": 1})
    );
}

#[tokio::test]
async fn reasoning_and_json_schema() {
    let fake = start_default().await;
    let mut body = request("think");
    body["reasoning_effort"] = json!("low");
    body["response_format"] = json!({"type": "json_schema", "json_schema": {"name": "r", "strict": true,
        "schema": {"type": "object", "properties": {"answer": {"type": "string"}, "score": {"type": "integer"}},
        "required": ["answer", "score"]}}});
    let v = post(fake.addr, "/v1/chat/completions", HEADERS, &body)
        .await
        .json();
    let msg = &v["choices"][0]["message"];
    assert_eq!(msg["reasoning_content"], "Let me think about this.");
    let content: Value =
        serde_json::from_str(msg["content"].as_str().expect("content")).expect("json content");
    assert_eq!(content, json!({"answer": "sample", "score": 1}));
    assert_eq!(
        v["usage"]["completion_tokens_details"]["reasoning_tokens"],
        5
    );
    assert_eq!(
        v["usage"]["completion_tokens"], 6,
        "5 thinking words and one JSON word"
    );
}

#[tokio::test]
async fn errors_and_expected_key() {
    let fake = start(bytespike_fake_provider::Config {
        expect_key: Some("sk-test".into()),
        ..Default::default()
    })
    .await;
    let resp = post(
        fake.addr,
        "/v1/chat/completions",
        HEADERS,
        &request("[[error:429]]"),
    )
    .await;
    assert_eq!(resp.status, 429);
    assert_eq!(resp.header("retry-after"), Some("1"));
    let e = &resp.json()["error"];
    assert!(e["message"].is_string());
    assert_eq!(e["code"], "rate_limit_exceeded");
    assert_eq!(e["param"], Value::Null);
    assert!(e.get("type").is_some());

    let resp = post(
        fake.addr,
        "/v1/chat/completions",
        &[("authorization", "Bearer wrong")],
        &request("hi"),
    )
    .await;
    assert_eq!(resp.status, 401);
    assert_eq!(resp.json()["error"]["code"], "invalid_api_key");

    let resp = post(
        fake.addr,
        "/v1/chat/completions",
        HEADERS,
        &json!({"messages": []}),
    )
    .await;
    assert_eq!(resp.status, 400);
    assert_eq!(resp.json()["error"]["type"], "invalid_request_error");
}

#[tokio::test]
async fn cut_after_and_stream_error() {
    let fake = start_default().await;
    let mut body = request("[[cut-after:3]]");
    body["stream"] = json!(true);
    let resp = post(fake.addr, "/v1/chat/completions", HEADERS, &body).await;
    assert_eq!(resp.status, 200);
    assert!(!resp.complete, "stream must end abruptly");
    assert_eq!(events(&resp.text(), "\n\n").len(), 3);

    body["stream"] = json!(false);
    let resp = post(fake.addr, "/v1/chat/completions", HEADERS, &body).await;
    assert!(!resp.complete);
    assert!(serde_json::from_slice::<Value>(&resp.body).is_err());

    let mut body = request("[[stream-error-after:2]]");
    body["stream"] = json!(true);
    let resp = post(fake.addr, "/v1/chat/completions", HEADERS, &body).await;
    let evs = events(&resp.text(), "\n\n");
    assert_eq!(evs.len(), 3);
    assert_eq!(evs[2].data["error"]["type"], "server_error");
}
