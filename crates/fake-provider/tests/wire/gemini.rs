//! Gemini generateContent / streamGenerateContent: JSON, SSE and JSON-array streams.

use serde_json::{json, Value};

use crate::client::{events, input_tokens, post, start, start_default};

fn request(text: &str) -> Value {
    json!({"contents": [{"role": "user", "parts": [{"text": text}]}]})
}

#[tokio::test]
async fn generate_content_with_thoughts_and_cache() {
    let fake = start_default().await;
    let mut body = request("hi [[cached:7]]");
    body["generationConfig"] = json!({"thinkingConfig": {"includeThoughts": true}});
    let resp = post(
        fake.addr,
        "/v1beta/models/gemini-x:generateContent",
        &[],
        &body,
    )
    .await;
    assert_eq!(resp.status, 200);
    let v = resp.json();
    let cand = &v["candidates"][0];
    assert_eq!(cand["content"]["role"], "model");
    assert_eq!(
        cand["content"]["parts"][0],
        json!({"text": "Let me think about this.", "thought": true})
    );
    assert_eq!(
        cand["content"]["parts"][1]["text"],
        "Hello from fake via gemini for gemini-x."
    );
    assert_eq!(cand["finishReason"], "STOP");
    let u = &v["usageMetadata"];
    assert_eq!(u["promptTokenCount"], input_tokens(&body).max(7));
    assert_eq!(u["candidatesTokenCount"], 7);
    assert_eq!(u["thoughtsTokenCount"], 5);
    assert_eq!(u["cachedContentTokenCount"], 7);
    assert_eq!(u["totalTokenCount"], input_tokens(&body).max(7) + 12);
}

#[tokio::test]
async fn sse_stream_frames() {
    let fake = start_default().await;
    let resp = post(
        fake.addr,
        "/v1beta/models/gemini-x:streamGenerateContent?alt=sse",
        &[],
        &request("[[text:a b c]]"),
    )
    .await;
    assert_eq!(
        resp.header("content-type"),
        Some("text/event-stream; charset=utf-8")
    );
    let evs = events(&resp.text(), "\r\n\r\n");
    assert_eq!(evs.len(), 3);
    let text: String = evs
        .iter()
        .filter_map(|e| e.data["candidates"][0]["content"]["parts"][0]["text"].as_str())
        .collect();
    assert_eq!(text, "a b c");
    assert!(evs[0].data["candidates"][0].get("finishReason").is_none());
    assert_eq!(evs[2].data["candidates"][0]["finishReason"], "STOP");
    assert_eq!(evs[2].data["usageMetadata"]["candidatesTokenCount"], 3);
}

#[tokio::test]
async fn json_array_stream_and_function_call() {
    let fake = start_default().await;
    let mut body = request("[[tool]] [[words:3]]");
    body["tools"] = json!([{"functionDeclarations": [{"name": "f", "parameters": {"type": "OBJECT",
        "properties": {"s": {"type": "STRING"}}, "required": ["s"]}}]}]);
    let resp = post(
        fake.addr,
        "/v1beta/models/g:streamGenerateContent",
        &[],
        &body,
    )
    .await;
    assert!(resp.complete);
    assert!(
        resp.frames >= 2,
        "written incrementally, got {} frames",
        resp.frames
    );
    let v = resp.json();
    let chunks = v.as_array().expect("a JSON array");
    let last = chunks.last().expect("chunks");
    assert_eq!(
        last["candidates"][0]["content"]["parts"][0]["functionCall"],
        json!({"name": "f", "args": {"s": "sample"}})
    );
    assert_eq!(last["usageMetadata"]["candidatesTokenCount"], 10);

    let mut body = request("[[words:5]]");
    body["generationConfig"] = json!({"maxOutputTokens": 2});
    let v = post(fake.addr, "/v1beta/models/g:generateContent", &[], &body)
        .await
        .json();
    assert_eq!(v["candidates"][0]["finishReason"], "MAX_TOKENS");
    assert_eq!(
        v["candidates"][0]["content"]["parts"][0]["text"],
        "word1 word2"
    );
}

#[tokio::test]
async fn errors_and_key() {
    let fake = start(bytespike_fake_provider::Config {
        expect_key: Some("g-key".into()),
        ..Default::default()
    })
    .await;
    let path = "/v1beta/models/g:generateContent?key=g-key";
    let resp = post(fake.addr, path, &[], &request("[[error:429]]")).await;
    assert_eq!(resp.status, 429);
    assert_eq!(
        resp.json()["error"],
        json!({"code": 429, "message": "Rate limit exceeded (injected by the fake provider).", "status": "RESOURCE_EXHAUSTED"})
    );
    let resp = post(
        fake.addr,
        "/v1beta/models/g:generateContent",
        &[("x-goog-api-key", "bad")],
        &request("hi"),
    )
    .await;
    assert_eq!(resp.status, 401);
    assert_eq!(resp.json()["error"]["status"], "UNAUTHENTICATED");
    let resp = post(
        fake.addr,
        "/v1beta/models/g:generateContent",
        &[("x-goog-api-key", "g-key")],
        &request("hi"),
    )
    .await;
    assert_eq!(resp.status, 200);

    let resp = post(
        fake.addr,
        "/v1beta/models/g:streamGenerateContent?alt=sse&key=g-key",
        &[],
        &request("[[stream-error-after:1]] [[words:4]]"),
    )
    .await;
    let evs = events(&resp.text(), "\r\n\r\n");
    assert_eq!(evs.len(), 2);
    assert_eq!(evs[1].data["error"]["code"], 500);
}

#[tokio::test]
async fn snake_case_fields_are_accepted() {
    let fake = start_default().await;
    let body = json!({"contents": [{"role": "user", "parts": [{"text": "[[tool]]"}]}],
        "generation_config": {"thinking_config": {"include_thoughts": true}},
        "tools": [{"function_declarations": [{"name": "f", "parameters_json_schema": {"type": "object",
            "properties": {"n": {"type": "integer"}}}}]}]});
    let v = post(fake.addr, "/v1beta/models/g:generateContent", &[], &body)
        .await
        .json();
    let parts = &v["candidates"][0]["content"]["parts"];
    assert_eq!(parts[0]["thought"], true);
    assert_eq!(
        parts[1]["functionCall"],
        json!({"name": "f", "args": {"n": 1}})
    );
}
