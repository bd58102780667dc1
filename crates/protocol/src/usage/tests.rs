use super::*;

fn scan_split(dialect: Dialect, stream: bool, input: &[u8], split: usize) -> Option<Usage> {
    let mut scanner = UsageScanner::new(dialect, stream);
    for chunk in input.chunks(split.max(1)) {
        scanner.feed(chunk);
    }
    scanner.usage()
}

/// Every split of the input gives the same usage as the whole.
fn scan(dialect: Dialect, stream: bool, input: &[u8]) -> Option<Usage> {
    let whole = scan_split(dialect, stream, input, input.len());
    for split in 1..input.len() {
        assert_eq!(
            scan_split(dialect, stream, input, split),
            whole,
            "split {split}"
        );
    }
    whole
}

#[test]
fn anthropic_stream_combines_start_and_delta() {
    let input = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"usage\":",
        "{\"input_tokens\":12,\"cache_creation_input_tokens\":50,\"cache_read_input_tokens\":100,",
        "\"output_tokens\":1}}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"text\":",
        "\"the \\\"usage\\\": {\\\"output_tokens\\\": 999}\"}}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":42}}\n\n",
    );
    let usage = scan(Dialect::Anthropic, true, input.as_bytes()).unwrap();
    assert_eq!(
        usage,
        Usage {
            input_tokens: 12,
            output_tokens: 42,
            cache_read_tokens: 100,
            cache_write_tokens: 50,
            reasoning_tokens: 0
        }
    );
}

#[test]
fn anthropic_body_takes_the_last_object_over_a_tool_input_named_usage() {
    let input = br#"{"content":[{"type":"tool_use","input":{"usage":{"input_tokens":999,"cache_read_input_tokens":7}}}],"usage":{"input_tokens":3,"output_tokens":4}}"#;
    let usage = scan(Dialect::Anthropic, false, input).unwrap();
    assert_eq!(
        (
            usage.input_tokens,
            usage.output_tokens,
            usage.cache_read_tokens
        ),
        (3, 4, 0)
    );
}

#[test]
fn openai_chat_stream_skips_null_usage_and_reads_cached_and_reasoning() {
    let input = concat!(
        "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\n\n",
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":120,\"completion_tokens\":30,",
        "\"prompt_tokens_details\":{\"cached_tokens\":100},",
        "\"completion_tokens_details\":{\"reasoning_tokens\":20}}}\n\n",
        "data: [DONE]\n\n",
    );
    let usage = scan(Dialect::OpenAiChat, true, input.as_bytes()).unwrap();
    assert_eq!(
        usage,
        Usage {
            input_tokens: 20,
            output_tokens: 30,
            cache_read_tokens: 100,
            cache_write_tokens: 0,
            reasoning_tokens: 20
        }
    );
}

#[test]
fn responses_completed_event() {
    let input = concat!(
        "event: response.created\ndata: {\"response\":{\"usage\":null}}\n\n",
        "event: response.completed\ndata: {\"response\":{\"usage\":{\"input_tokens\":50,",
        "\"input_tokens_details\":{\"cached_tokens\":10},\"output_tokens\":9,",
        "\"output_tokens_details\":{\"reasoning_tokens\":4}}}}\n\n",
    );
    let usage = scan(Dialect::OpenAiResponses, true, input.as_bytes()).unwrap();
    assert_eq!(
        (
            usage.input_tokens,
            usage.cache_read_tokens,
            usage.output_tokens
        ),
        (40, 10, 9)
    );
    assert_eq!(usage.reasoning_tokens, 4);
}

#[test]
fn gemini_counts_thoughts_as_output() {
    let input = br#"data: {"candidates":[],"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":5,"thoughtsTokenCount":7,"cachedContentTokenCount":4}}"#;
    let usage = scan(Dialect::Gemini, true, input).unwrap();
    assert_eq!(
        (
            usage.input_tokens,
            usage.output_tokens,
            usage.cache_read_tokens
        ),
        (6, 12, 4)
    );
}

#[test]
fn embeddings_usage() {
    let input = br#"{"object":"list","data":[{"embedding":[0.1]}],"usage":{"prompt_tokens":8,"total_tokens":8}}"#;
    let usage = scan(Dialect::OpenAiChat, false, input).unwrap();
    assert_eq!((usage.input_tokens, usage.output_tokens), (8, 0));
}

#[test]
fn no_usage_and_garbage_give_none() {
    assert_eq!(
        scan(Dialect::Anthropic, false, br#"{"type":"error"}"#),
        None
    );
    assert_eq!(
        scan(
            Dialect::OpenAiChat,
            true,
            b"\"usage\": \"usage\": {not json}"
        ),
        None
    );
    let mut scanner = UsageScanner::new(Dialect::OpenAiChat, false);
    let mut huge = b"{\"usage\":{\"x\":\"".to_vec();
    huge.extend(std::iter::repeat_n(b'a', MAX_CAPTURE * 2));
    scanner.feed(&huge);
    scanner.feed(br#""},"usage":{"prompt_tokens":1}}"#);
    assert_eq!(scanner.usage().map(|u| u.input_tokens), Some(1));
}

#[test]
fn a_quote_consumed_by_one_key_is_not_reused_by_the_next() {
    // Not valid JSON, but chunked and whole reads must still agree (found by fuzzing).
    let input = br#"{"x":"usageMetadata"usageMetadata":{"promptTokenCount":3}}"#;
    scan(Dialect::Gemini, false, input);
    let input = br#""usage""usage":{"input_tokens":3}}"#;
    scan(Dialect::Anthropic, false, input);
}

#[test]
fn the_quote_closing_an_escaped_key_may_open_the_next() {
    // `\"usage"` is model text; its closing quote starts `"usage":{`, a key. Split inside that
    // key, the part in the earlier chunk must be found as it is in one piece (found by fuzzing).
    let input = br#"{"x":"\"usage"usage":{"prompt_tokens":5,"completion_tokens":2}}"#;
    let usage = scan(Dialect::OpenAiChat, true, input).expect("usage");
    assert_eq!((usage.input_tokens, usage.output_tokens), (5, 2));
}

#[test]
fn a_usage_object_is_counted_in_the_chunk_where_its_brace_arrives() {
    // An escaped key inside a string and a null usage are not objects; the real one is.
    let frame = b"data: {\"choices\":[{\"delta\":{\"content\":\"\\\"usage\\\": {\"}}],\"usage\":null}\n\ndata: {\"choices\":[],\"usage\"  :  {\"prompt_tokens\":3}}\n\n";
    let usage_brace = frame
        .windows(3)
        .position(|w| w == b"  {")
        .expect("the usage object's brace")
        + 2;
    for split in 1..frame.len() {
        let mut scanner = UsageScanner::new(Dialect::OpenAiChat, true);
        scanner.feed(&frame[..split]);
        let first = scanner.objects_begun();
        scanner.feed(&frame[split..]);
        let second = scanner.objects_begun() - first;
        let expected = if split > usage_brace { (1, 0) } else { (0, 1) };
        assert_eq!((first, second), expected, "split {split}");
    }
}

#[test]
fn an_oversized_usage_object_is_ignored_whole_or_in_pieces() {
    // Parsed where it lies or captured across chunks, an object past the cap is not usage.
    let mut body = br#"{"usage":{"prompt_tokens":1,"x":""#.to_vec();
    body.extend(std::iter::repeat_n(b'a', MAX_CAPTURE * 2));
    body.extend_from_slice(br#""}}"#);
    for split in [body.len(), 7, 1000, MAX_CAPTURE] {
        assert_eq!(
            scan_split(Dialect::OpenAiChat, false, &body, split),
            None,
            "split {split}"
        );
    }
    let fits = br#"{"usage":{"prompt_tokens":1,"x":"aaaa"}}"#;
    let usage = scan(Dialect::OpenAiChat, false, fits).expect("usage");
    assert_eq!(usage.input_tokens, 1);
}

#[test]
fn chunking_never_changes_the_usage_read_of_random_bodies() {
    // Bodies built from the pieces that trip a byte scanner: keys, quotes, escapes, braces.
    const PIECES: [&str; 16] = [
        "\"usage\"",
        ":",
        " ",
        "{",
        "}",
        "\"",
        "\\",
        "\"prompt_tokens\"",
        "7",
        ",",
        "\"input_tokens\":3",
        "null",
        "\"usageMetadata\"",
        "data: ",
        "\n\n",
        "x",
    ];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        // xorshift64*: a fixed sequence, so a failure replays.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let cases = if cfg!(debug_assertions) {
        3_000
    } else {
        30_000
    };
    for case in 0..cases {
        let len = 1 + next() % 40;
        let body: String = (0..len).map(|_| PIECES[(next() % 16) as usize]).collect();
        let dialect = [Dialect::Anthropic, Dialect::OpenAiChat, Dialect::Gemini][case % 3];
        let stream = case % 2 == 0;
        let whole = scan_split(dialect, stream, body.as_bytes(), body.len());
        for split in 1..=12 {
            let chunked = scan_split(dialect, stream, body.as_bytes(), split);
            assert_eq!(chunked, whole, "case {case}, split {split}: {body:?}");
        }
    }
}
