//! The wire protocols a client or an upstream can speak.

use std::fmt;

/// One wire protocol: the shape of requests, responses, stream events and errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// Anthropic Messages (`/v1/messages`).
    Anthropic,
    /// OpenAI Chat Completions, and OpenAI's other JSON endpoints (embeddings, images).
    OpenAiChat,
    /// OpenAI Responses (`/v1/responses`).
    OpenAiResponses,
    /// Google Gemini `generateContent` / `streamGenerateContent`.
    Gemini,
}

impl Dialect {
    /// Stable lowercase name, used in logs and as a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Anthropic => "anthropic",
            Dialect::OpenAiChat => "openai_chat",
            Dialect::OpenAiResponses => "openai_responses",
            Dialect::Gemini => "gemini",
        }
    }

    /// The error envelope family this dialect uses: Responses errors look like Chat errors.
    pub fn error_family(self) -> ErrorFamily {
        match self {
            Dialect::Anthropic => ErrorFamily::Anthropic,
            Dialect::OpenAiChat | Dialect::OpenAiResponses => ErrorFamily::OpenAi,
            Dialect::Gemini => ErrorFamily::Gemini,
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The three error envelopes in use across the dialects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorFamily {
    /// `{"type":"error","error":{"type":...,"message":...}}`
    Anthropic,
    /// `{"error":{"message":...,"type":...,"param":null,"code":...}}`
    OpenAi,
    /// `{"error":{"code":N,"message":...,"status":"..."}}`
    Gemini,
}
