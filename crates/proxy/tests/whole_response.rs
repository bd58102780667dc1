//! The vendored proxy's whole-response hold (`pingora_proxy::whole_response`), which sends a
//! translated answer's header and body in one write: what it holds, joins and releases.

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use pingora_core::protocols::http::HttpTask;
use pingora_error::{Error, ErrorType};
use pingora_http::ResponseHeader;
use pingora_proxy::whole_response::hold_or_release;

fn header(chunked: bool) -> Box<ResponseHeader> {
    let mut header = ResponseHeader::build(200, None).unwrap();
    if chunked {
        header
            .insert_header("transfer-encoding", "chunked")
            .unwrap();
    }
    Box::new(header)
}

fn body(text: &'static str, end: bool) -> HttpTask {
    HttpTask::Body(Some(Bytes::from_static(text.as_bytes())), end)
}

/// What a task list looks like, for comparing: each header's length and framing, each body.
fn shape(tasks: &[HttpTask]) -> Vec<String> {
    tasks
        .iter()
        .map(|task| match task {
            HttpTask::Header(h, end) => format!(
                "header length={:?} chunked={} end={end}",
                h.headers.get(CONTENT_LENGTH).map(|v| v.to_str().unwrap()),
                h.headers.contains_key(TRANSFER_ENCODING),
            ),
            HttpTask::Body(data, end) => format!(
                "body {:?} end={end}",
                data.as_ref()
                    .map(|d| String::from_utf8_lossy(d).into_owned())
            ),
            HttpTask::Failed(e) => format!("failed {:?}", e.etype()),
            other => other.type_str().to_string(),
        })
        .collect()
}

fn never_asked() -> bool {
    panic!("asked whether to hold without a final header to hold")
}

#[test]
fn a_held_header_leaves_with_its_body_and_its_length() {
    let mut held = None;
    let first = hold_or_release(
        &mut held,
        vec![HttpTask::Header(header(true), false)],
        || true,
    )
    .unwrap();
    assert!(first.is_empty());
    let second = hold_or_release(&mut held, vec![body("", false)], never_asked).unwrap();
    assert!(second.is_empty());
    let last = hold_or_release(&mut held, vec![body("{\"a\":1}", true)], never_asked).unwrap();
    assert_eq!(
        shape(&last),
        [
            "header length=Some(\"7\") chunked=false end=false",
            "body Some(\"{\\\"a\\\":1}\") end=true"
        ]
    );
    assert!(held.is_none());
}

#[test]
fn chunks_are_joined_in_order() {
    let mut held = None;
    let tasks = vec![
        HttpTask::Header(header(false), false),
        body("ab", false),
        body("cd", false),
        body("e", false),
        HttpTask::Done,
    ];
    let out = hold_or_release(&mut held, tasks, || true).unwrap();
    assert_eq!(
        shape(&out),
        [
            "header length=Some(\"5\") chunked=false end=false",
            "body Some(\"abcde\") end=true"
        ]
    );
}

#[test]
fn an_empty_body_ends_with_the_header() {
    let mut held = None;
    let tasks = vec![
        HttpTask::Header(header(true), false),
        HttpTask::Body(None, true),
    ];
    let out = hold_or_release(&mut held, tasks, || true).unwrap();
    assert_eq!(
        shape(&out),
        ["header length=Some(\"0\") chunked=false end=true"]
    );
}

#[test]
fn a_failure_drops_what_was_held() {
    let mut held = None;
    let tasks = vec![
        HttpTask::Header(header(true), false),
        body("partial", false),
        HttpTask::Failed(Error::new(ErrorType::ReadError)),
    ];
    let out = hold_or_release(&mut held, tasks, || true).unwrap();
    assert_eq!(shape(&out), ["failed ReadError"]);
    assert!(held.is_none());
}

#[test]
fn responses_not_held_pass_untouched_and_the_question_is_asked_once() {
    let mut held = None;
    let mut asked = 0;
    let tasks = vec![
        HttpTask::Header(header(true), false),
        body("x", false),
        body("y", true),
    ];
    let out = hold_or_release(&mut held, tasks, || {
        asked += 1;
        false
    })
    .unwrap();
    assert_eq!(asked, 1);
    assert_eq!(
        shape(&out),
        [
            "header length=None chunked=true end=false",
            "body Some(\"x\") end=false",
            "body Some(\"y\") end=true"
        ]
    );
}

#[test]
fn informational_and_bodiless_headers_are_never_held() {
    let mut held = None;
    let informational = Box::new(ResponseHeader::build(100, None).unwrap());
    let tasks = vec![
        HttpTask::Header(informational, false),
        HttpTask::Header(header(false), true),
    ];
    let out = hold_or_release(&mut held, tasks, never_asked).unwrap();
    assert_eq!(
        shape(&out),
        [
            "header length=None chunked=false end=false",
            "header length=None chunked=false end=true"
        ]
    );
}

#[test]
fn a_batch_with_nothing_to_hold_passes_as_it_came() {
    // The batches of every response not held (each stream's events) cost no new list.
    let mut held = None;
    let tasks = vec![body("data: 1\n\n", false), body("data: 2\n\n", false)];
    let buffer = tasks.as_ptr();
    let out = hold_or_release(&mut held, tasks, never_asked).unwrap();
    assert_eq!(out.as_ptr(), buffer);

    let tasks = vec![HttpTask::Header(header(true), false), body("x", false)];
    let buffer = tasks.as_ptr();
    let out = hold_or_release(&mut held, tasks, || false).unwrap();
    assert_eq!(out.as_ptr(), buffer);
    assert!(held.is_none());
}
