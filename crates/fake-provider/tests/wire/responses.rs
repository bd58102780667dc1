//! OpenAI Responses API: response object, typed stream events, reasoning, tool calls.

use serde_json::{json, Value};

use crate::client::{events, input_tokens, post, start_default, Event};

fn names(evs: &[Event]) -> Vec<&str> {
    evs.iter()
        .map(|e| e.name.as_deref().unwrap_or(""))
        .collect()
}

fn check_sequence(evs: &[Event]) {
    for (i, e) in evs.iter().enumerate() {
        assert_eq!(
            e.data["sequence_number"], i,
            "sequence_number of {:?}",
            e.name
        );
        assert_eq!(e.data["type"].as_str(), e.name.as_deref());
    }
}

#[tokio::test]
async fn response_object_and_usage() {
    let fake = start_default().await;
    let body = json!({"model": "gpt-r", "input": "hi [[cached:7]]", "instructions": "be nice"});
    let v = post(fake.addr, "/v1/responses", &[], &body).await.json();
    assert!(v["id"]
        .as_str()
        .is_some_and(|id| id.starts_with("resp_fake_")));
    assert_eq!(v["object"], "response");
    assert_eq!(v["status"], "completed");
    assert_eq!(v["instructions"], "be nice");
    let item = &v["output"][0];
    assert_eq!(item["type"], "message");
    assert_eq!(item["role"], "assistant");
    assert_eq!(item["content"][0]["type"], "output_text");
    assert_eq!(
        item["content"][0]["text"],
        "Hello from fake via openai-responses for gpt-r."
    );
    let u = &v["usage"];
    assert_eq!(u["input_tokens"], input_tokens(&body));
    assert_eq!(u["input_tokens_details"]["cached_tokens"], 7);
    assert_eq!(u["output_tokens"], 7);
    assert_eq!(u["output_tokens_details"]["reasoning_tokens"], 0);
    assert_eq!(u["total_tokens"], input_tokens(&body) + 7);
}

#[tokio::test]
async fn text_stream_sequence() {
    let fake = start_default().await;
    let body = json!({"model": "gpt-r", "stream": true, "input": [
        {"role": "user", "content": [{"type": "input_text", "text": "[[text:one two]]"}]}]});
    let resp = post(fake.addr, "/v1/responses", &[], &body).await;
    let evs = events(&resp.text(), "\n\n");
    check_sequence(&evs);
    assert_eq!(
        names(&evs),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    assert_eq!(evs[0].data["response"]["status"], "in_progress");
    assert_eq!(evs[6].data["text"], "one two");
    let done = &evs[9].data["response"];
    assert_eq!(done["output"][0]["content"][0]["text"], "one two");
    assert_eq!(done["usage"]["output_tokens"], 2);
}

#[tokio::test]
async fn reasoning_summary_and_function_call_stream() {
    let fake = start_default().await;
    let body = json!({"model": "o-r", "stream": true, "input": "go [[tool]]",
        "reasoning": {"effort": "low", "summary": "auto"},
        "tools": [{"type": "function", "name": "lookup", "parameters": {"type": "object",
            "properties": {"id": {"type": "integer"}}, "required": ["id"]}}]});
    let resp = post(fake.addr, "/v1/responses", &[], &body).await;
    let evs = events(&resp.text(), "\n\n");
    check_sequence(&evs);
    let n = names(&evs);
    for expected in [
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
    ] {
        assert!(n.contains(&expected), "missing {expected}: {n:?}");
    }
    let done = &evs.last().expect("events").data["response"];
    assert_eq!(done["output"][0]["type"], "reasoning");
    assert_eq!(
        done["output"][0]["summary"][0]["text"],
        "Let me think about this."
    );
    let call = &done["output"][1];
    assert_eq!(call["type"], "function_call");
    assert!(call["id"].as_str().is_some_and(|id| id.starts_with("fc_")));
    assert!(call["call_id"]
        .as_str()
        .is_some_and(|id| id.starts_with("call_")));
    assert_eq!(
        serde_json::from_str::<Value>(call["arguments"].as_str().expect("args")).expect("json"),
        json!({"id": 1})
    );
    assert_eq!(
        done["usage"]["output_tokens_details"]["reasoning_tokens"],
        5
    );
    assert_eq!(done["usage"]["output_tokens"], 15);
}

#[tokio::test]
async fn function_output_failure_and_incomplete() {
    let fake = start_default().await;
    let body = json!({"model": "m", "input": [
        {"role": "user", "content": "weather"},
        {"type": "function_call", "call_id": "call_1", "name": "w", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny"}]});
    let v = post(fake.addr, "/v1/responses", &[], &body).await.json();
    assert_eq!(
        v["output"][0]["content"][0]["text"],
        "Tool result received: sunny."
    );

    let body = json!({"model": "m", "input": "[[words:9]]", "max_output_tokens": 4});
    let v = post(fake.addr, "/v1/responses", &[], &body).await.json();
    assert_eq!(v["status"], "incomplete");
    assert_eq!(v["incomplete_details"]["reason"], "max_output_tokens");

    let body = json!({"model": "m", "input": "[[stream-error-after:2]]", "stream": true});
    let evs = events(
        &post(fake.addr, "/v1/responses", &[], &body).await.text(),
        "\n\n",
    );
    check_sequence(&evs);
    assert_eq!(
        names(&evs),
        [
            "response.created",
            "response.in_progress",
            "response.failed"
        ]
    );
    assert_eq!(evs[2].data["response"]["status"], "failed");
}
