//! Anthropic Messages client request bodies translated for every upstream the gateway supports for them,
//! and the response translator built from each translated request.
#![no_main]

use bytespike_protocol::Dialect;
use bytespike_translate::fuzz::{fuzz_request, ROUTES};
use bytespike_translate::translate_request;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for &(client, upstream) in ROUTES.iter().filter(|(c, _)| *c == Dialect::Anthropic) {
        if let Ok(request) = translate_request(client, upstream, data, "fuzz-model") {
            // Whatever is accepted must leave as a JSON object.
            let body: serde_json::Value =
                serde_json::from_slice(&request.body).expect("translated body is not JSON");
            assert!(body.is_object(), "translated body is not an object: {body}");
            assert!(request.path.starts_with('/'), "bad path {:?}", request.path);
        }
        fuzz_request(client, upstream, data);
    }
});
