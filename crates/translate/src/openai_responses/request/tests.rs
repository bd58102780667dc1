use super::*;
use crate::ir::{Part, Role};

fn decode_json(v: Value) -> Result<(Request, Echo), TranslateError> {
    decode_with_echo(v.to_string().as_bytes())
}

fn refusal(v: Value) -> String {
    decode_json(v).unwrap_err().to_string()
}

#[test]
fn requests_on_stored_state_are_refused_naming_the_field() {
    for key in ["previous_response_id", "conversation"] {
        let msg = refusal(json!({"model": "m", "input": "hi", key: "resp_1"}));
        assert!(msg.starts_with(key), "{msg}");
        assert!(msg.contains("store: false"), "{msg}");
    }
    let msg = refusal(json!({"model": "m", "input": "hi", "background": true}));
    assert!(msg.starts_with("background"), "{msg}");
    let msg = refusal(json!({"model": "m", "input": [{"type": "item_reference", "id": "msg_1"}]}));
    assert!(msg.starts_with("input[0].type"), "{msg}");
    // `store: true` (the API's default) and a null previous_response_id need no state.
    let ok = json!({"model": "m", "input": "hi", "store": true, "previous_response_id": null});
    assert!(decode_json(ok).is_ok());
}

#[test]
fn malformed_items_are_refused_with_their_path() {
    let msg = refusal(json!({"model": "m", "input": [{"type": "function_call", "name": "f"}]}));
    assert_eq!(msg, "input[0].call_id: is required");
    let msg = refusal(
        json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file_1"}]}]}),
    );
    assert!(
        msg.starts_with("input[0].content[0]: images by file_id"),
        "{msg}"
    );
    let msg = refusal(
        json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_file", "file_data": "x"}]}]}),
    );
    assert!(msg.contains("\"input_file\""), "{msg}");
    let msg = refusal(json!({"model": "m", "input": [{"role": "tool", "content": "x"}]}));
    assert_eq!(msg, "input[0].role: unknown role \"tool\"");
    assert_eq!(refusal(json!({"model": "m"})), "input: is required");
    assert!(refusal(json!({"model": "m", "input": 3})).starts_with("input: must be"));
}

#[test]
fn calls_join_their_turn_and_outputs_form_one_turn() {
    let (req, _) = decode_json(json!({"model": "m", "input": [
        {"role": "user", "content": "go"},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Calling."}]},
        {"type": "function_call", "call_id": "a", "name": "f", "arguments": "{\"x\":1}"},
        {"type": "function_call", "call_id": "b", "name": "f", "arguments": "not json"},
        {"type": "function_call_output", "call_id": "a", "output": "1"},
        {"type": "function_call_output", "call_id": "b", "output": [{"type": "input_text", "text": "2"}]},
        {"role": "user", "content": "thanks"},
    ]}))
    .unwrap();
    let roles: Vec<Role> = req.messages.iter().map(|m| m.role).collect();
    assert_eq!(roles, [Role::User, Role::Assistant, Role::User, Role::User]);
    assert_eq!(req.messages[1].content.len(), 3);
    assert_eq!(
        req.messages[1].content[2],
        Part::ToolUse {
            id: "b".into(),
            name: "f".into(),
            input: json!("not json"),
        }
    );
    assert_eq!(req.messages[2].content.len(), 2);
}

#[test]
fn sealed_reasoning_returns_signed_and_summaries_return_unsigned() {
    let sealed = crate::openai_responses::reasoning::seal(&Part::Thinking {
        text: "deep".into(),
        signature: Some("sig".into()),
    })
    .unwrap();
    let (req, _) = decode_json(json!({"model": "m", "input": [
        {"role": "user", "content": "q"},
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": sealed},
        {"type": "reasoning", "id": "rs_2", "summary": [{"type": "summary_text", "text": "short"}], "encrypted_content": "gAAAA-foreign"},
        {"type": "reasoning", "id": "rs_3", "summary": []},
    ]}))
    .unwrap();
    assert_eq!(
        req.messages[1].content,
        [
            Part::Thinking {
                text: "deep".into(),
                signature: Some("sig".into()),
            },
            Part::Thinking {
                text: "short".into(),
                signature: None,
            },
        ]
    );
}

#[test]
fn settings_map_and_the_echo_keeps_what_the_response_repeats() {
    let (req, echo) = decode_json(json!({
        "model": "m", "input": "hi", "instructions": "Be terse.",
        "reasoning": {"effort": "minimal", "summary": "auto"},
        "tools": [{"type": "web_search"}, {"type": "function", "name": "f", "parameters": null}],
        "tool_choice": {"type": "allowed_tools", "mode": "required", "tools": []},
        "text": {"format": {"type": "json_object"}},
        "max_output_tokens": 10, "user": "u", "metadata": {"k": "v"}, "store": true,
    }))
    .unwrap();
    assert_eq!(req.system[0].text, "Be terse.");
    assert_eq!(req.thinking, Some(Thinking::Effort(Effort::Low)));
    assert_eq!(req.tools.len(), 1);
    assert_eq!(
        req.tools[0].schema,
        json!({"type": "object", "properties": {}})
    );
    assert_eq!(req.tool_choice, Some(ToolChoice::Any));
    assert_eq!(req.output, Some(OutputFormat::JsonObject));
    assert_eq!((req.max_tokens, req.user.as_deref()), (Some(10), Some("u")));
    assert!(echo.summary);
    assert_eq!(echo.fields["metadata"], json!({"k": "v"}));
    assert!(!echo.fields.contains_key("store") && !echo.fields.contains_key("input"));
    let (req, echo) =
        decode_json(json!({"model": "m", "input": "hi", "reasoning": {"effort": "none"}})).unwrap();
    assert_eq!(req.thinking, Some(Thinking::Disabled));
    assert!(!echo.summary);
    assert!(
        refusal(json!({"model": "m", "input": "hi", "reasoning": {"effort": "huge"}}))
            .contains("huge")
    );
}
