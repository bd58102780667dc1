//! A small HTTP client and SSE reader for driving the fake provider in-process.

use std::net::SocketAddr;

use bytes::Bytes;
use bytespike_fake_provider::{serve, Config};
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};

/// A running fake provider; the server task stops when this is dropped.
pub struct Fake {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn start(config: Config) -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(serve(config, listener));
    Fake { addr, task }
}

pub async fn start_default() -> Fake {
    start(Config::default()).await
}

/// A response read as far as the server sent it.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Data frames as received (a frame boundary may not match an event boundary).
    pub frames: usize,
    /// False when the connection ended before the body did.
    pub complete: bool,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub fn request(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Request<Full<Bytes>> {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "fake.test");
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    builder.body(Full::new(Bytes::from(body))).expect("request")
}

async fn read(resp: http::Response<hyper::body::Incoming>) -> Resp {
    let (parts, mut body) = resp.into_parts();
    let mut bytes = Vec::new();
    let mut frames = 0;
    let mut complete = true;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => {
                if let Ok(data) = f.into_data() {
                    frames += 1;
                    bytes.extend_from_slice(&data);
                }
            }
            Err(_) => {
                complete = false;
                break;
            }
        }
    }
    Resp {
        status: parts.status,
        headers: parts.headers,
        body: bytes.into(),
        frames,
        complete,
    }
}

/// Sends one request over a fresh HTTP/1.1 connection.
pub async fn send(addr: SocketAddr, req: Request<Full<Bytes>>) -> Resp {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let resp = sender.send_request(req).await.expect("response head");
    read(resp).await
}

/// Sends one request over a fresh h2c (prior knowledge) connection.
pub async fn send_h2(addr: SocketAddr, req: Request<Full<Bytes>>) -> Resp {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .expect("h2 handshake");
    tokio::spawn(conn);
    let resp = sender.send_request(req).await.expect("response head");
    read(resp).await
}

pub async fn post(addr: SocketAddr, path: &str, headers: &[(&str, &str)], body: &Value) -> Resp {
    let mut all = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    send(
        addr,
        request("POST", path, &all, body.to_string().into_bytes()),
    )
    .await
}

pub async fn get(addr: SocketAddr, path: &str) -> Resp {
    send(addr, request("GET", path, &[], Vec::new())).await
}

/// Input tokens the fake reports for a JSON body sent by [`post`].
pub fn input_tokens(body: &Value) -> u64 {
    (body.to_string().len() as u64).div_ceil(4)
}

/// One server-sent event: its `event:` name if any, and its `data:` parsed as JSON.
#[derive(Debug)]
pub struct Event {
    pub name: Option<String>,
    pub data: Value,
}

/// Parses an SSE body strictly: every event is `event:`/`data:` lines ended by a blank line
/// (`separator` is `\n\n`, or `\r\n\r\n` for Gemini), and every `data:` is JSON except
/// OpenAI's `[DONE]` (returned as the string "[DONE]").
pub fn events(body: &str, separator: &str) -> Vec<Event> {
    assert!(
        body.is_empty() || body.ends_with(separator),
        "body does not end with a blank line: {body:?}"
    );
    let line_end = if separator == "\r\n\r\n" {
        "\r\n"
    } else {
        "\n"
    };
    body.split(separator)
        .filter(|e| !e.is_empty())
        .map(|raw| {
            let mut name = None;
            let mut data = None;
            for line in raw.split(line_end) {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = Some(n.to_owned());
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data = Some(if d == "[DONE]" {
                        Value::String(d.to_owned())
                    } else {
                        serde_json::from_str(d).unwrap_or_else(|e| panic!("bad data {d:?}: {e}"))
                    });
                } else {
                    panic!("unexpected SSE line {line:?}");
                }
            }
            Event {
                name,
                data: data.expect("event without data"),
            }
        })
        .collect()
}
