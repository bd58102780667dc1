//! Typed, lenient views of upstream output, deserialized straight from the body.
//!
//! Building a `serde_json::Value` of an upstream answer allocates a string for every key and
//! every value, most of which the decoder never reads; on a small chat completion that is most
//! of the cost of translating it. A view names only the fields a decoder reads, borrows their
//! text from the body where it has no escapes, and skips everything else unbuilt.
//!
//! Upstream output is not the client's fault, so a view reads it as the `loose` lookups read a
//! `Value`: a field of an unexpected type counts as absent instead of failing the answer.
//! Derive a view with `#[serde(default)]` and these field types:
//!
//! - [`Text`]: a string, else absent;
//! - [`Num`]: a non-negative integer, else absent;
//! - [`Bool`]: a boolean, else absent;
//! - [`Obj<T>`]: an object read as the view `T`, else absent;
//! - [`List<T>`]: the object elements of an array, each read as `T`, else empty.

use crate::error::TranslateError;
use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

/// A string field: borrowed from the body unless it holds escapes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Text<'a>(pub Option<Cow<'a, str>>);

impl<'a> Text<'a> {
    /// The string, if the field was one.
    pub fn get(&self) -> Option<&str> {
        self.0.as_deref()
    }

    /// The string if the field was a non-empty one.
    pub fn non_empty(&self) -> Option<&str> {
        self.get().filter(|s| !s.is_empty())
    }

    /// The string, or `""`.
    pub fn or_empty(&self) -> &str {
        self.get().unwrap_or("")
    }

    /// The string if the field was a non-empty one, owned: text that held escapes was
    /// unescaped into a `String` already, and is moved rather than copied again.
    pub fn into_non_empty(self) -> Option<String> {
        self.0.filter(|s| !s.is_empty()).map(Cow::into_owned)
    }

    /// The string, or `""`, owned (moved when it was unescaped already).
    pub fn into_string(self) -> String {
        self.0.map(Cow::into_owned).unwrap_or_default()
    }
}

/// A non-negative integer field.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Num(pub Option<u64>);

/// A boolean field.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bool(pub Option<bool>);

/// An object field, read as the view `T`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Obj<T>(pub Option<T>);

impl<T> Default for Obj<T> {
    fn default() -> Self {
        Obj(None)
    }
}

/// The object elements of an array field, each read as the view `T`; other elements are skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct List<T>(pub Vec<T>);

impl<T> Default for List<T> {
    fn default() -> Self {
        List(Vec::new())
    }
}

/// Consumes whatever compound value a visitor was handed, so that parsing goes on after it.
fn skip_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

fn skip_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

/// Implements what a lenient visitor answers with "absent": `expecting`, the compound kinds
/// listed (`map`, `seq`), consumed so that parsing goes on, and the scalar visits listed.
macro_rules! absent_otherwise {
    ($de:lifetime; $($compound:ident),*; $($visit:ident: $ty:ty),*) => {
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("any JSON value")
        }
        $(absent_otherwise!(@$compound $de);)*
        $(fn $visit<E: serde::de::Error>(self, _: $ty) -> Result<Self::Value, E> {
            Ok(Default::default())
        })*
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
    };
    (@map $de:lifetime) => {
        fn visit_map<A: MapAccess<$de>>(self, map: A) -> Result<Self::Value, A::Error> {
            skip_map(map).map(|()| Default::default())
        }
    };
    (@seq $de:lifetime) => {
        fn visit_seq<A: SeqAccess<$de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            skip_seq(seq).map(|()| Default::default())
        }
    };
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Text<'a>;
            fn visit_borrowed_str<E: serde::de::Error>(self, s: &'de str) -> Result<Text<'a>, E> {
                Ok(Text(Some(Cow::Borrowed(s))))
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Text<'a>, E> {
                Ok(Text(Some(Cow::Owned(s.to_string()))))
            }
            fn visit_string<E: serde::de::Error>(self, s: String) -> Result<Text<'a>, E> {
                Ok(Text(Some(Cow::Owned(s))))
            }
            absent_otherwise!(
                'de; map, seq; visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_f64: f64
            );
        }
        d.deserialize_any(V(PhantomData))
    }
}

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Num;
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Num, E> {
                Ok(Num(Some(n)))
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Num, E> {
                Ok(Num(u64::try_from(n).ok()))
            }
            absent_otherwise!('de; map, seq; visit_bool: bool, visit_f64: f64, visit_str: &str);
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Bool {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Bool;
            fn visit_bool<E: serde::de::Error>(self, b: bool) -> Result<Bool, E> {
                Ok(Bool(Some(b)))
            }
            absent_otherwise!(
                'de; map, seq; visit_i64: i64, visit_u64: u64, visit_f64: f64, visit_str: &str
            );
        }
        d.deserialize_any(V)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Obj<T>;
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Obj<T>, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(|t| Obj(Some(t)))
            }
            absent_otherwise!(
                'de; seq;
                visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_f64: f64, visit_str: &str
            );
        }
        d.deserialize_any(V(PhantomData))
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for List<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = List<T>;
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<List<T>, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(16));
                while let Some(Obj(item)) = seq.next_element::<Obj<T>>()? {
                    items.extend(item);
                }
                Ok(List(items))
            }
            absent_otherwise!(
                'de; map;
                visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_f64: f64, visit_str: &str
            );
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// Reads a whole upstream body as the view `T`, failing as `field::parse_object` does.
pub(crate) fn parse_body<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, TranslateError> {
    match from_slice(body) {
        Ok(Some(view)) => Ok(view),
        Ok(None) => Err(TranslateError::invalid("body", "must be a JSON object")),
        Err(e) => Err(TranslateError::Json(e.to_string())),
    }
}

/// Reads a whole body as the view `T`: `None` if it is JSON but not an object.
pub(crate) fn from_slice<'a, T: Deserialize<'a>>(body: &'a [u8]) -> serde_json::Result<Option<T>> {
    serde_json::from_slice::<Obj<T>>(body).map(|Obj(view)| view)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(default)]
    struct Inner<'a> {
        #[serde(borrow)]
        name: Text<'a>,
        count: Num,
        flag: Bool,
    }

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(default)]
    struct Outer<'a> {
        #[serde(borrow)]
        id: Text<'a>,
        #[serde(borrow)]
        inner: Obj<Inner<'a>>,
        #[serde(borrow)]
        items: List<Inner<'a>>,
    }

    fn read(json: &str) -> Outer<'_> {
        from_slice::<Outer>(json.as_bytes()).unwrap().unwrap()
    }

    #[test]
    fn fields_of_the_expected_type_are_read_and_text_is_borrowed() {
        let o =
            read(r#"{"id":"a","inner":{"name":"n","count":3},"items":[{"name":"x"},{"count":2}]}"#);
        assert_eq!(o.id.get(), Some("a"));
        assert!(matches!(o.id.0, Some(Cow::Borrowed(_))));
        let inner = o.inner.0.unwrap();
        assert_eq!((inner.name.get(), inner.count.0), (Some("n"), Some(3)));
        assert_eq!(o.items.0.len(), 2);
        assert_eq!(o.items.0[1].count.0, Some(2));
    }

    #[test]
    fn escaped_text_is_unescaped() {
        let o = read(r#"{"id":"a\"b\u00e9"}"#);
        assert_eq!(o.id.get(), Some("a\"bé"));
    }

    #[test]
    fn fields_of_another_type_count_as_absent_and_parsing_goes_on() {
        let o =
            read(r#"{"id":{"x":[1,{"y":2}]},"inner":[1,2],"items":{"a":1},"extra":[{"id":"no"}]}"#);
        assert_eq!(o, Outer::default());
        let o =
            read(r#"{"inner":{"name":7,"count":-1},"items":[1,"s",null,{"name":"ok"}],"id":"z"}"#);
        assert_eq!(
            o.inner.0.as_ref().map(|i| (i.name.get(), i.count.0)),
            Some((None, None))
        );
        assert_eq!(o.items.0.len(), 1);
        assert_eq!(o.items.0[0].name.get(), Some("ok"));
        assert_eq!(o.id.get(), Some("z"));
        let o = read(r#"{"id":null,"inner":null,"items":null}"#);
        assert_eq!(o, Outer::default());
        let o = read(r#"{"inner":{"count":1.5,"flag":"true"}}"#);
        let inner = o.inner.0.unwrap();
        assert_eq!((inner.count.0, inner.flag.0), (None, None));
        let o = read(r#"{"inner":{"flag":true}}"#);
        assert_eq!(o.inner.0.unwrap().flag.0, Some(true));
    }

    #[test]
    fn a_body_that_is_not_an_object_is_none_and_bad_json_an_error() {
        assert_eq!(from_slice::<Outer>(b"[1]").unwrap(), None);
        assert_eq!(from_slice::<Outer>(b"\"s\"").unwrap(), None);
        assert!(from_slice::<Outer>(b"{\"id\":").is_err());
        assert!(from_slice::<Outer>(b"{} trailing").is_err());
    }
}
