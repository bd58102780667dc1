//! The control surface: request log, stats, server mode, stalls, h2c, large bodies.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::client::{get, post, request, send, send_h2, start, start_default};

fn chat(text: &str) -> Value {
    json!({"model": "m", "messages": [{"role": "user", "content": text}]})
}

async fn stats(addr: std::net::SocketAddr) -> Value {
    get(addr, "/_fake/stats").await.json()
}

/// Polls the stats until `pred` holds, for counters updated when a connection winds down.
async fn wait_stats(addr: std::net::SocketAddr, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let s = stats(addr).await;
        if pred(&s) || Instant::now() > deadline {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn request_log_records_and_clears() {
    let fake = start_default().await;
    post(
        fake.addr,
        "/v1/chat/completions?x=1",
        &[("x-multi", "a"), ("x-multi", "b")],
        &chat("hi"),
    )
    .await;
    send(
        fake.addr,
        request("POST", "/v1/messages", &[], b"not json".to_vec()),
    )
    .await;
    let log = get(fake.addr, "/_fake/requests").await.json();
    let log = log.as_array().expect("array");
    assert_eq!(log.len(), 2, "admin requests are not recorded: {log:?}");
    assert_eq!(log[0]["method"], "POST");
    assert_eq!(log[0]["path"], "/v1/chat/completions?x=1");
    assert_eq!(log[0]["headers"]["x-multi"], "a, b");
    assert_eq!(log[0]["headers"]["content-type"], "application/json");
    assert_eq!(log[0]["body"], chat("hi"));
    assert!(log[0]["received_at_ms"].as_u64().is_some_and(|t| t > 0));
    assert_eq!(log[1]["body"], "not json");

    assert_eq!(get(fake.addr, "/_fake/requests").await.status, 200);
    send(fake.addr, request("DELETE", "/_fake/requests", &[], vec![])).await;
    assert_eq!(get(fake.addr, "/_fake/requests").await.json(), json!([]));
    assert_eq!(stats(fake.addr).await["requests_total"], 2);
}

#[tokio::test]
async fn no_record_and_unknown_path() {
    let fake = start(bytespike_fake_provider::Config {
        record: false,
        name: "b".into(),
        ..Default::default()
    })
    .await;
    let resp = post(fake.addr, "/v1/nope", &[], &json!({})).await;
    assert_eq!(resp.status, 404);
    assert!(resp.json()["error"]["message"].is_string());
    assert_eq!(resp.header("x-fake-provider"), Some("b"));
    assert_eq!(get(fake.addr, "/_fake/requests").await.json(), json!([]));
}

#[tokio::test]
async fn multi_megabyte_body_is_read_and_recorded() {
    let fake = start_default().await;
    let big = "x".repeat(3 * 1024 * 1024);
    let body = chat(&big);
    let resp = post(fake.addr, "/v1/chat/completions", &[], &body).await;
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.json()["usage"]["prompt_tokens"],
        (body.to_string().len() as u64).div_ceil(4)
    );
    let log = get(fake.addr, "/_fake/requests").await.json();
    assert_eq!(
        log[0]["body"]["messages"][0]["content"]
            .as_str()
            .map(str::len),
        Some(big.len())
    );
}

#[tokio::test]
async fn h2c_prior_knowledge() {
    let fake = start_default().await;
    let body =
        json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let req = request(
        "POST",
        "/v1/chat/completions",
        &[("content-type", "application/json")],
        body.to_string().into_bytes(),
    );
    let resp = send_h2(fake.addr, req).await;
    assert_eq!(resp.status, 200);
    assert!(resp.complete);
    assert!(resp.text().ends_with("data: [DONE]\n\n"));
    let log = get(fake.addr, "/_fake/requests").await.json();
    assert_eq!(log[0]["version"], "HTTP/2.0");

    let cut = json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "[[cut-after:2]]"}]});
    let req = request(
        "POST",
        "/v1/chat/completions",
        &[],
        cut.to_string().into_bytes(),
    );
    let resp = send_h2(fake.addr, req).await;
    assert!(!resp.complete, "a cut h2 stream is reset");
    assert_eq!(resp.text().matches("data: ").count(), 2);
}

#[tokio::test]
async fn mode_fails_a_counted_number_of_requests() {
    let fake = start_default().await;
    let mode = json!({"fail_status": 503, "fail_count": 2});
    assert_eq!(post(fake.addr, "/_fake/mode", &[], &mode).await.status, 200);
    for _ in 0..2 {
        let resp = post(
            fake.addr,
            "/v1/messages",
            &[],
            &json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}),
        )
        .await;
        assert_eq!(resp.status, 503);
        assert_eq!(resp.json()["error"]["type"], "overloaded_error");
    }
    assert_eq!(
        post(fake.addr, "/v1/chat/completions", &[], &chat("x"))
            .await
            .status,
        200
    );

    post(
        fake.addr,
        "/_fake/mode",
        &[],
        &json!({"delay_ms": 150, "cut_after": 2}),
    )
    .await;
    let started = Instant::now();
    let mut body = chat("x");
    body["stream"] = json!(true);
    let resp = post(fake.addr, "/v1/chat/completions", &[], &body).await;
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert!(!resp.complete);
    send(fake.addr, request("DELETE", "/_fake/mode", &[], vec![])).await;
    assert!(
        post(fake.addr, "/v1/chat/completions", &[], &body)
            .await
            .complete
    );
    assert_eq!(
        post(fake.addr, "/_fake/mode", &[], &json!({"bogus": 1}))
            .await
            .status,
        400
    );
}

#[tokio::test]
async fn stream_counters_and_disconnects() {
    let fake = start_default().await;
    let mut body = chat("[[words:3]]");
    body["stream"] = json!(true);
    post(fake.addr, "/v1/chat/completions", &[], &body).await;
    let s = wait_stats(fake.addr, |s| s["streams_completed"] == 1).await;
    assert_eq!(
        (
            s["streams_started"].as_u64(),
            s["streams_completed"].as_u64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(s["client_disconnects"], 0);

    // A stream that stalls after two frames: the client reads a little, then hangs up.
    body["messages"][0]["content"] = json!("[[stall-after:2]]");
    let raw = body.to_string();
    let mut tcp = tokio::net::TcpStream::connect(fake.addr)
        .await
        .expect("connect");
    let head = format!("POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n", raw.len());
    tcp.write_all(head.as_bytes()).await.expect("write");
    tcp.write_all(raw.as_bytes()).await.expect("write");
    let mut buf = vec![0u8; 4096];
    let n = tcp.read(&mut buf).await.expect("read");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let open = wait_stats(fake.addr, |s| s["open_connections"].as_i64() >= Some(2)).await;
    assert!(open["open_connections"].as_i64() >= Some(2), "{open}");
    drop(tcp);
    let s = wait_stats(fake.addr, |s| s["client_disconnects"] == 1).await;
    assert_eq!(s["client_disconnects"], 1, "{s}");
    assert_eq!(s["streams_completed"], 1);
}

#[tokio::test]
async fn stall_never_answers() {
    let fake = start_default().await;
    let addr = fake.addr;
    let mut pending =
        tokio::spawn(
            async move { post(addr, "/v1/chat/completions", &[], &chat("[[stall]]")).await },
        );
    let waited = tokio::time::timeout(Duration::from_millis(300), &mut pending).await;
    assert!(waited.is_err(), "a stalled request must not be answered");
    pending.abort();
    let s = wait_stats(fake.addr, |s| s["client_disconnects"] == 1).await;
    assert_eq!(
        s["client_disconnects"], 1,
        "dropping the waiting client counts as a disconnect: {s}"
    );
}

#[tokio::test]
async fn frame_delay_paces_streams() {
    let config = bytespike_fake_provider::Config {
        frame_delay: Duration::from_millis(25),
        ..Default::default()
    };
    let fake = start(config).await;
    let mut body = chat("[[words:3]]");
    body["stream"] = json!(true);
    let started = Instant::now();
    let resp = post(fake.addr, "/v1/chat/completions", &[], &body).await;
    // Role chunk, three words, finish chunk, [DONE]: five pauses between six frames.
    assert_eq!(crate::client::events(&resp.text(), "\n\n").len(), 6);
    assert!(
        started.elapsed() >= Duration::from_millis(125),
        "{:?}",
        started.elapsed()
    );
}
