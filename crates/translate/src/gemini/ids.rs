//! Stable ids for Gemini function calls, which carry none of their own.

use crate::fnv::fnv;

/// The id of the `n`th function call of a response: the same inputs give the same id, so a
/// replayed response keeps its ids; the response id and arguments keep ids of other turns apart.
pub fn call_id(response_id: &str, n: usize, name: &str, args: &str) -> String {
    let h = fnv(&[
        response_id.as_bytes(),
        name.as_bytes(),
        args.as_bytes(),
        &n.to_le_bytes(),
    ]);
    format!("call_{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_distinct() {
        let a = call_id("r1", 0, "get_weather", r#"{"city":"Paris"}"#);
        assert_eq!(a, call_id("r1", 0, "get_weather", r#"{"city":"Paris"}"#));
        assert!(a.starts_with("call_") && a.len() == 21);
        assert_ne!(a, call_id("r1", 1, "get_weather", r#"{"city":"Paris"}"#));
        assert_ne!(a, call_id("r2", 0, "get_weather", r#"{"city":"Paris"}"#));
        assert_ne!(a, call_id("r1", 0, "get_weather", r#"{"city":"Rome"}"#));
        // Field boundaries count: moving bytes between fields changes the id.
        assert_ne!(call_id("ab", 0, "c", ""), call_id("a", 0, "bc", ""));
    }
}
