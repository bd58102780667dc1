//! Upstream error bodies re-shaped for the client of every route, and read per vendor.
//! Input: two bytes of HTTP status (little endian), one byte choosing the route, the body.
#![no_main]

use bytespike_protocol::Dialect;
use bytespike_translate::fuzz::ROUTES;
use bytespike_translate::{decode_error, translate_error};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [a, b, r, body @ ..] = data else { return };
    let status = u16::from_le_bytes([*a, *b]);
    let (client, upstream) = ROUTES[usize::from(*r) % ROUTES.len()];
    let (client_status, rendered) = translate_error(client, upstream, status, body);
    assert!(
        (400..600).contains(&client_status),
        "status {status} became {client_status}"
    );
    let value: serde_json::Value =
        serde_json::from_slice(&rendered).expect("rendered error is not JSON");
    let message = match client {
        Dialect::Anthropic => {
            assert_eq!(value["type"], "error", "{value}");
            &value["error"]["message"]
        }
        _ => &value["error"]["message"],
    };
    assert!(message.is_string(), "no error message in {value}");
    for dialect in [Dialect::Anthropic, Dialect::OpenAiChat, Dialect::Gemini] {
        let _ = decode_error(dialect, body);
    }
});
