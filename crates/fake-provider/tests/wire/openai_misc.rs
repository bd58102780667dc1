//! OpenAI embeddings, image generation and model listing.

use base64::Engine;
use serde_json::json;

use crate::client::{get, post, request, send, start_default};

#[tokio::test]
async fn embeddings_are_deterministic() {
    let fake = start_default().await;
    let body = json!({"model": "emb", "input": ["a", "b", "a"], "dimensions": 4});
    let v = post(fake.addr, "/v1/embeddings", &[], &body).await.json();
    let data = v["data"].as_array().expect("data");
    assert_eq!(data.len(), 3);
    assert_eq!(data[0]["embedding"].as_array().map(Vec::len), Some(4));
    assert_eq!(data[0]["embedding"], data[2]["embedding"]);
    assert_ne!(data[0]["embedding"], data[1]["embedding"]);
    assert_eq!(data[1]["index"], 1);
    assert!(v["usage"]["prompt_tokens"].as_u64().is_some_and(|n| n > 0));

    let body = json!({"model": "emb", "input": "a", "encoding_format": "base64"});
    let v = post(fake.addr, "/v1/embeddings", &[], &body).await.json();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(v["data"][0]["embedding"].as_str().expect("base64"))
        .expect("decodes");
    assert_eq!(raw.len(), 8 * 4, "default 8 dimensions of f32");
}

#[tokio::test]
async fn images_and_models() {
    let fake = start_default().await;
    let v = post(
        fake.addr,
        "/v1/images/generations",
        &[],
        &json!({"prompt": "cat", "n": 2}),
    )
    .await
    .json();
    assert_eq!(v["data"].as_array().map(Vec::len), Some(2));
    let png = base64::engine::general_purpose::STANDARD
        .decode(v["data"][0]["b64_json"].as_str().expect("b64"))
        .expect("decodes");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");

    let v = post(
        fake.addr,
        "/v1/images/generations",
        &[],
        &json!({"prompt": "cat", "response_format": "url"}),
    )
    .await
    .json();
    let url = v["data"][0]["url"].as_str().expect("url");
    let path = url
        .strip_prefix("http://fake.test")
        .expect("host from request");
    let img = get(fake.addr, path).await;
    assert_eq!(img.body.as_ref(), png.as_slice());

    let openai = get(fake.addr, "/v1/models").await.json();
    assert_eq!(openai["object"], "list");
    let anthropic = send(
        fake.addr,
        request(
            "GET",
            "/v1/models",
            &[("anthropic-version", "2023-06-01")],
            vec![],
        ),
    )
    .await
    .json();
    assert_eq!(anthropic["data"][0]["type"], "model");
    assert_eq!(anthropic["has_more"], false);
}
