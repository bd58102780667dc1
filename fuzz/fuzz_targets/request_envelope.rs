//! `RequestEnvelope::parse` and the model rewrite on arbitrary request bodies: a rewritten body
//! parses again with the new model and the same stream flags, and everything outside the model
//! value is kept byte for byte.
#![no_main]

use bytespike_protocol::RequestEnvelope;
use libfuzzer_sys::fuzz_target;

const MODEL: &str = "upstream-\"model\"";

fuzz_target!(|data: &[u8]| {
    let Ok(envelope) = RequestEnvelope::parse(data) else {
        return;
    };
    assert!(!envelope.model.is_empty());

    let rewritten = envelope.with_model(data, MODEL);
    let span = envelope.model_span.clone();
    assert_eq!(&rewritten[..span.start], &data[..span.start]);
    assert!(rewritten.ends_with(&data[span.end..]));
    let again = RequestEnvelope::parse(&rewritten).expect("rewritten body no longer parses");
    assert_eq!(again.model, MODEL);
    assert_eq!(again.stream, envelope.stream);
    assert_eq!(again.include_usage, envelope.include_usage);

    let with_usage = envelope.with_model_and_usage(data, MODEL);
    let again = RequestEnvelope::parse(&with_usage).expect("body with usage no longer parses");
    assert_eq!(again.model, MODEL);
    assert_eq!(again.stream, envelope.stream);
    assert!(again.include_usage, "include_usage was not forced on");
});
