//! The load client's side of HTTP/1.1: one target request, built once, and keep-alive
//! connections with TCP_NODELAY (so the client never adds a Nagle delay of its own).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE, HOST};
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::sse::EventCounter;

/// What every request of a run sends.
#[derive(Debug)]
pub struct Target {
    pub addr: SocketAddr,
    pub uri: Uri,
    pub host: HeaderValue,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
}

impl Target {
    /// `url` is `http://host:port/path`; `headers` are `name: value` strings.
    pub async fn new(url: &str, headers: &[String], body: String) -> Result<Target> {
        let uri: Uri = url.parse().with_context(|| format!("bad url {url:?}"))?;
        if uri.scheme_str() != Some("http") {
            bail!("only http:// urls are supported");
        }
        let authority = uri.authority().ok_or_else(|| anyhow!("url without host"))?;
        let port = authority.port_u16().unwrap_or(80);
        let addr = tokio::net::lookup_host((authority.host(), port))
            .await?
            .next()
            .ok_or_else(|| anyhow!("{} does not resolve", authority.host()))?;
        let mut parsed = Vec::with_capacity(headers.len() + 1);
        parsed.push((CONTENT_TYPE, HeaderValue::from_static("application/json")));
        for h in headers {
            let (name, value) = h
                .split_once(':')
                .ok_or_else(|| anyhow!("header without ':'"))?;
            parsed.push((name.trim().parse()?, value.trim().parse()?));
        }
        Ok(Target {
            addr,
            host: authority.as_str().parse()?,
            uri: uri.path_and_query().map_or("/", |p| p.as_str()).parse()?,
            headers: parsed,
            body: Bytes::from(body),
        })
    }

    /// The request; the body is a cheap clone of shared bytes.
    pub fn request(&self) -> Result<Request<Full<Bytes>>> {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(self.uri.clone())
            .header(HOST, self.host.clone())
            .body(Full::new(self.body.clone()))?;
        for (name, value) in &self.headers {
            req.headers_mut().insert(name.clone(), value.clone());
        }
        Ok(req)
    }
}

/// Owns a connection's task: dropping it aborts the task, which closes the socket at once
/// (the close a proxy must notice), whatever state the exchange was in.
pub struct ConnGuard(tokio::task::JoinHandle<()>);

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One HTTP/1.1 connection.
pub async fn connect(addr: SocketAddr) -> Result<(SendRequest<Full<Bytes>>, ConnGuard)> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    let task = tokio::spawn(async move {
        // Errors surface on the request side; nothing to add here.
        let _ = conn.await;
    });
    Ok((sender, ConnGuard(task)))
}

/// Timings of one exchange, in microseconds from the moment the request was sent.
#[derive(Debug, Default, Clone, Copy)]
pub struct Exchange {
    pub status: u16,
    /// Response headers received.
    pub headers_us: u64,
    /// First body bytes received (the first frame of a stream).
    pub first_byte_us: u64,
    pub total_us: u64,
    /// The longest wait between two body chunks (a Nagle stall shows as ~40 ms here).
    pub max_gap_us: u64,
    pub events: u64,
    pub bytes: u64,
}

/// Sends one request on a ready connection and reads the whole response, timing it.
pub async fn exchange(sender: &mut SendRequest<Full<Bytes>>, target: &Target) -> Result<Exchange> {
    let request = target.request()?;
    let start = Instant::now();
    let response = sender.send_request(request).await?;
    let mut out = Exchange {
        status: response.status().as_u16(),
        headers_us: micros(start.elapsed()),
        ..Exchange::default()
    };
    let mut body = response.into_body();
    let mut counter = EventCounter::default();
    let mut last = None::<Instant>;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue; // trailers
        };
        let now = Instant::now();
        if let Some(prev) = last {
            out.max_gap_us = out.max_gap_us.max(micros(now - prev));
        } else {
            out.first_byte_us = micros(now - start);
        }
        last = Some(now);
        out.bytes += data.len() as u64;
        counter.feed(&data);
    }
    out.total_us = micros(start.elapsed());
    out.events = counter.events;
    Ok(out)
}

pub fn micros(d: Duration) -> u64 {
    d.as_micros().min(u64::MAX as u128) as u64
}
