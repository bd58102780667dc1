//! Compiled providers: parsed base URL, resolved credential, timeouts, pool and extra headers.

use std::time::Duration;

use http::{HeaderName, HeaderValue};
use k8s_openapi::api::core::v1::Secret;

use super::build::{secret_field_error, FieldError, SecretIndex};
use crate::resources::{Protocol, ProviderSpec, Redacted};
use crate::window::parse_duration;

/// A Provider ready for the request path.
#[derive(Debug)]
pub struct ProviderEntry {
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// The wire protocol it speaks.
    pub protocol: Protocol,
    /// Where to connect.
    pub base_url: BaseUrl,
    /// The vendor credential, if the provider needs one.
    pub credential: Option<Redacted>,
    /// Upstream timeouts.
    pub timeouts: Timeouts,
    /// Connection pool settings.
    pub pool: Pool,
    /// Extra headers (lower-case names) sent on every upstream request.
    pub headers: Vec<(String, String)>,
    /// Whether to speak HTTP/2 upstream.
    pub http2: bool,
    /// The headers above, the host and the credential as they go on the wire.
    pub wire: WireHeaders,
}

/// A provider's own upstream headers, parsed once when the config is compiled: every request
/// sends them, and parsing names and values per request cost a copy and a validation each.
#[derive(Debug, Clone)]
pub struct WireHeaders {
    /// `host`: the base URL's authority.
    pub host: HeaderValue,
    /// The header carrying the credential in the protocol's convention, with its value
    /// (marked sensitive: a debug print of it shows no secret).
    pub credential: Option<(HeaderName, HeaderValue)>,
    /// The extra headers.
    pub extra: Vec<(HeaderName, HeaderValue)>,
}

/// What precedes an OpenAI provider's credential in its `authorization` header.
const BEARER: &str = "Bearer ";

impl WireHeaders {
    /// Parses the wire form of a provider's headers.
    pub fn new(
        protocol: Protocol,
        base_url: &BaseUrl,
        credential: Option<&Redacted>,
        headers: &[(String, String)],
    ) -> Result<WireHeaders, String> {
        let host = HeaderValue::from_str(&base_url.authority)
            .map_err(|_| format!("{:?} is not a valid host header", base_url.authority))?;
        let credential = match credential {
            None => None,
            Some(secret) => {
                let (name, prefix) = match protocol {
                    Protocol::Openai => (http::header::AUTHORIZATION, BEARER),
                    Protocol::Anthropic => (HeaderName::from_static("x-api-key"), ""),
                    Protocol::Gemini => (HeaderName::from_static("x-goog-api-key"), ""),
                };
                let mut value = HeaderValue::try_from(format!("{prefix}{}", secret.expose()))
                    // Never the value itself: it is a secret.
                    .map_err(|_| "the credential cannot be sent in an HTTP header".to_string())?;
                value.set_sensitive(true);
                Some((name, value))
            }
        };
        let extra = headers
            .iter()
            .map(|(name, value)| {
                let name = HeaderName::try_from(name.as_str())
                    .map_err(|_| format!("{name:?} is not a valid header name"))?;
                let value = HeaderValue::from_str(value)
                    .map_err(|_| format!("the value of {name} is not a valid header value"))?;
                Ok((name, value))
            })
            .collect::<Result<_, String>>()?;
        Ok(WireHeaders {
            host,
            credential,
            extra,
        })
    }
}

/// The parts of a provider's base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    /// `https` (true) or `http` (false).
    pub tls: bool,
    /// Host name or IP address, lower-case, without IPv6 brackets.
    pub host: String,
    /// Port, defaulting to 443 or 80.
    pub port: u16,
    /// Path prefix without a trailing slash (`""` or e.g. `/api`), prepended to request paths.
    pub path_prefix: String,
    /// The `Host` header value: host, bracketed if IPv6, with the port when it is not the default.
    pub authority: String,
}

impl BaseUrl {
    /// `"https"` or `"http"`.
    pub fn scheme(&self) -> &'static str {
        if self.tls {
            "https"
        } else {
            "http"
        }
    }

    /// Parses an `http://` or `https://` URL with an optional path prefix.
    pub fn parse(url: &str) -> Result<BaseUrl, String> {
        if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("{url:?} contains whitespace"));
        }
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| format!("{url:?} is not an absolute http:// or https:// URL"))?;
        let tls = match scheme.to_ascii_lowercase().as_str() {
            "https" => true,
            "http" => false,
            other => return Err(format!("scheme {other:?} is not http or https")),
        };
        if rest.contains(['?', '#']) {
            return Err(format!("{url:?} must not carry a query or fragment"));
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(format!(
                "{scheme}:// URL must not carry user info; put credentials in a Secret"
            ));
        }
        // Brackets, and only brackets, mark an IPv6 literal.
        let (host, port, ipv6) = split_host_port(authority)?;
        let valid_host = if ipv6 {
            host.parse::<std::net::Ipv6Addr>().is_ok()
        } else {
            !host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        };
        if !valid_host {
            return Err(format!("{host:?} is not a valid host"));
        }
        let default_port = if tls { 443 } else { 80 };
        let port = port.unwrap_or(default_port);
        let host = host.to_ascii_lowercase();
        let bracketed = if ipv6 {
            format!("[{host}]")
        } else {
            host.clone()
        };
        let authority = if port == default_port {
            bracketed
        } else {
            format!("{bracketed}:{port}")
        };
        Ok(BaseUrl {
            tls,
            host,
            port,
            path_prefix: path.trim_end_matches('/').to_owned(),
            authority,
        })
    }
}

fn split_host_port(authority: &str) -> Result<(&str, Option<u16>, bool), String> {
    let bracketed = authority.starts_with('[');
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("{authority:?} has an unclosed IPv6 bracket"))?;
        match after {
            "" => (host, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None => return Err(format!("{authority:?} is not host[:port]")),
            },
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => Some(n),
            _ => return Err(format!("port {p:?} is not a number from 1 to 65535")),
        },
    };
    Ok((host, port, bracketed))
}

/// Upstream timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP + TLS connect.
    pub connect: Duration,
    /// Request sent to first response byte.
    pub first_byte: Duration,
    /// Longest gap between response bytes.
    pub idle: Duration,
    /// Whole exchange.
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            first_byte: Duration::from_secs(120),
            idle: Duration::from_secs(120),
            total: Duration::from_secs(30 * 60),
        }
    }
}

/// Upstream connection pool settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool {
    /// Idle connections kept per upstream host.
    pub max_idle_per_host: u32,
    /// How long an idle connection is kept.
    pub idle_timeout: Duration,
}

impl Default for Pool {
    fn default() -> Self {
        Pool {
            max_idle_per_host: 32,
            idle_timeout: Duration::from_secs(90),
        }
    }
}

/// Headers owned by the connection or by the gateway's own credential handling.
const FORBIDDEN_HEADERS: &[(&str, &str)] = &[
    ("connection", "hop-by-hop"),
    ("keep-alive", "hop-by-hop"),
    ("proxy-connection", "hop-by-hop"),
    ("transfer-encoding", "hop-by-hop"),
    ("te", "hop-by-hop"),
    ("trailer", "hop-by-hop"),
    ("upgrade", "hop-by-hop"),
    ("host", "set from baseUrl"),
    ("content-length", "set from the body"),
    ("authorization", "a credential header; use spec.credentials"),
    (
        "proxy-authorization",
        "a credential header; use spec.credentials",
    ),
    ("x-api-key", "a credential header; use spec.credentials"),
    (
        "x-goog-api-key",
        "a credential header; use spec.credentials",
    ),
    ("api-key", "a credential header; use spec.credentials"),
    ("cookie", "a credential header; use spec.credentials"),
];

/// Compiles a Provider spec, resolving its credential from `secrets` in `namespace`.
pub(crate) fn compile(
    namespace: &str,
    name: &str,
    spec: &ProviderSpec,
    secrets: &SecretIndex<'_>,
) -> Result<ProviderEntry, FieldError> {
    let base_url =
        BaseUrl::parse(&spec.base_url).map_err(|r| FieldError::new("spec.baseUrl", r))?;
    let credential = match &spec.credentials {
        None => None,
        Some(creds) => {
            let field = "spec.credentials.secretRef";
            let value = secret_value(namespace, &creds.secret_ref, secrets, field)?;
            if !value.expose().bytes().all(|b| (0x20..0x7f).contains(&b)) {
                return Err(FieldError::new(
                    field,
                    format!(
                        "Secret {namespace}/{} key {:?} holds characters that cannot be sent in an HTTP header",
                        creds.secret_ref.name, creds.secret_ref.key
                    ),
                ));
            }
            Some(value)
        }
    };
    let t = spec.timeouts.clone().unwrap_or_default();
    let d = Timeouts::default();
    let timeouts = Timeouts {
        connect: duration(t.connect.as_deref(), d.connect, "spec.timeouts.connect")?,
        first_byte: duration(
            t.first_byte.as_deref(),
            d.first_byte,
            "spec.timeouts.firstByte",
        )?,
        idle: duration(t.idle.as_deref(), d.idle, "spec.timeouts.idle")?,
        total: duration(t.total.as_deref(), d.total, "spec.timeouts.total")?,
    };
    let p = spec.pool.clone().unwrap_or_default();
    let pool = Pool {
        max_idle_per_host: p
            .max_idle_per_host
            .unwrap_or(Pool::default().max_idle_per_host),
        idle_timeout: duration(
            p.idle_timeout.as_deref(),
            Pool::default().idle_timeout,
            "spec.pool.idleTimeout",
        )?,
    };
    let mut headers = Vec::with_capacity(spec.headers.len());
    for (header, value) in &spec.headers {
        let field = || format!("spec.headers[{header:?}]");
        let lower = header.to_ascii_lowercase();
        if let Some((_, why)) = FORBIDDEN_HEADERS.iter().find(|(h, _)| *h == lower) {
            return Err(FieldError::new(
                field(),
                format!("{header:?} may not be set here: {why}"),
            ));
        }
        let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        if lower.is_empty() || !lower.bytes().all(token) {
            return Err(FieldError::new(
                field(),
                format!("{header:?} is not a valid header name"),
            ));
        }
        if !value
            .bytes()
            .all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
        {
            return Err(FieldError::new(
                field(),
                "value has characters not allowed in a header",
            ));
        }
        headers.push((lower, value.trim().to_owned()));
    }
    let wire = WireHeaders::new(spec.protocol, &base_url, credential.as_ref(), &headers)
        .map_err(|reason| FieldError::new("spec", reason))?;
    Ok(ProviderEntry {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        protocol: spec.protocol,
        base_url,
        credential,
        timeouts,
        pool,
        headers,
        http2: spec.http2,
        wire,
    })
}

fn duration(text: Option<&str>, default: Duration, field: &str) -> Result<Duration, FieldError> {
    match text {
        None => Ok(default),
        Some(text) => parse_duration(text).map_err(|e| FieldError::new(field, e.to_string())),
    }
}

/// Looks up a Secret key in `namespace`, turning each failure into an actionable field error.
pub(crate) fn secret_value(
    namespace: &str,
    reference: &crate::resources::SecretKeyRef,
    secrets: &SecretIndex<'_>,
    field: &str,
) -> Result<Redacted, FieldError> {
    let secret: Option<&&Secret> = secrets.get(&(namespace, reference.name.as_str()));
    let secret = secret.ok_or_else(|| {
        FieldError::new(
            field,
            format!("Secret {namespace}/{} not found", reference.name),
        )
    })?;
    crate::resources::secret_value(secret, &reference.key)
        .map_err(|e| secret_field_error(field, namespace, reference, e))
}
