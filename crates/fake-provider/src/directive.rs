//! `[[name:arg]]` directives found in the last user message, which steer one response.

/// Everything the directives in one message ask for; absent ones are `None`/`false`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Directives {
    /// `[[error:STATUS]]`: answer with this status in the vendor's error shape.
    pub error: Option<u16>,
    /// `[[stall]]`: never answer.
    pub stall: bool,
    /// `[[delay:MS]]`: wait before the response headers.
    pub delay_ms: Option<u64>,
    /// `[[frame-delay:MS]]`: pause between stream frames (overrides `--frame-delay-ms`).
    pub frame_delay_ms: Option<u64>,
    /// `[[cut-after:N]]`: drop the connection after N stream frames.
    pub cut_after: Option<usize>,
    /// `[[stall-after:N]]`: stop sending after N stream frames, keep the connection.
    pub stall_after: Option<usize>,
    /// `[[stream-error-after:N]]`: send the vendor's in-stream error after N frames.
    pub stream_error_after: Option<usize>,
    /// `[[tool]]` / `[[tools:N]]`: answer with N tool calls.
    pub tools: Option<usize>,
    /// `[[text:...]]`: reply with exactly this text.
    pub text: Option<String>,
    /// `[[words:N]]`: reply with N words.
    pub words: Option<usize>,
    /// `[[thinking]]`: begin the answer with reasoning.
    pub thinking: bool,
    /// `[[cached:N]]`: report N cached prompt tokens.
    pub cached: Option<u64>,
}

impl Directives {
    /// Parses every `[[...]]` in `text`; unknown or malformed directives are ignored so that
    /// ordinary prompts containing brackets still work.
    pub fn parse(text: &str) -> Self {
        let mut d = Directives::default();
        let mut rest = text;
        while let Some(start) = rest.find("[[") {
            let after = &rest[start + 2..];
            let Some(end) = after.find("]]") else { break };
            d.apply(&after[..end]);
            rest = &after[end + 2..];
        }
        d
    }

    fn apply(&mut self, body: &str) {
        let (name, arg) = match body.split_once(':') {
            Some((n, a)) => (n.trim(), Some(a)),
            None => (body.trim(), None),
        };
        let num = || arg.and_then(|a| a.trim().parse::<u64>().ok());
        match name {
            "error" => self.error = num().and_then(|n| u16::try_from(n).ok()),
            "stall" => self.stall = true,
            "delay" => self.delay_ms = num(),
            "frame-delay" => self.frame_delay_ms = num(),
            "cut-after" => self.cut_after = num().map(|n| n as usize),
            "stall-after" => self.stall_after = num().map(|n| n as usize),
            "stream-error-after" => self.stream_error_after = num().map(|n| n as usize),
            "tool" => self.tools = Some(1),
            "tools" => self.tools = num().map(|n| n.max(1) as usize),
            "text" => self.text = arg.map(str::to_owned),
            "words" => self.words = num().map(|n| n as usize),
            "thinking" => self.thinking = true,
            "cached" => self.cached = Some(num().unwrap_or(100)),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_several_directives() {
        let d = Directives::parse(
            "hi [[error:429]] [[delay:20]] [[tools:2]] [[text:a b]] [[cached]] [[nope]] [[frame-delay:7]]",
        );
        assert_eq!(d.frame_delay_ms, Some(7));
        assert_eq!(d.error, Some(429));
        assert_eq!(d.delay_ms, Some(20));
        assert_eq!(d.tools, Some(2));
        assert_eq!(d.text.as_deref(), Some("a b"));
        assert_eq!(d.cached, Some(100));
        assert!(!d.stall);
    }

    #[test]
    fn ignores_unterminated_and_bad_numbers() {
        let d = Directives::parse("[[error:abc]] [[cut-after:3");
        assert_eq!(d, Directives::default());
    }
}
