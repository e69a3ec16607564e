//! Strict deserialization of the maps that serde merges silently, for the parse's fast path.
//!
//! A key written twice in a struct is an error from serde; in a `BTreeMap` or a JSON value the
//! later entry silently replaces the earlier one. Finding those needs the location index, which
//! costs as much as the parse itself. So the first attempt deserializes strictly: these maps
//! refuse a repeated key, and any error sends the parse down the full path (index, path
//! tracking, the same deserializers in their lenient form), which reports exactly what it
//! always did. Outside [`strictly`], every function here behaves as the plain serde impl.
//!
//! The mode is a thread-local because derived `Deserialize` impls cannot carry context.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

thread_local! {
    static STRICT: Cell<bool> = const { Cell::new(false) };
}

/// The message of the strict error; never shown, as the full path takes over.
const REPEATED: &str = "a key is repeated";

/// Runs `f` with repeated map keys refused.
pub(crate) fn strictly<T>(f: impl FnOnce() -> T) -> T {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            STRICT.with(|s| s.set(self.0));
        }
    }
    let _restore = Restore(STRICT.with(|s| s.replace(true)));
    f()
}

fn is_strict() -> bool {
    STRICT.with(Cell::get)
}

/// For `deserialize_with` on a `BTreeMap` field.
pub(crate) fn map<'de, D, K, V>(d: D) -> Result<BTreeMap<K, V>, D::Error>
where
    D: Deserializer<'de>,
    K: Deserialize<'de> + Ord,
    V: Deserialize<'de>,
{
    if !is_strict() {
        return BTreeMap::deserialize(d);
    }
    struct MapVisitor<K, V>(PhantomData<(K, V)>);
    impl<'de, K, V> Visitor<'de> for MapVisitor<K, V>
    where
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
    {
        type Value = BTreeMap<K, V>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a map")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
            let mut values = BTreeMap::new();
            while let Some((key, value)) = access.next_entry()? {
                if values.insert(key, value).is_some() {
                    return Err(de::Error::custom(REPEATED));
                }
            }
            Ok(values)
        }
    }
    d.deserialize_map(MapVisitor(PhantomData))
}

/// For `deserialize_with` on an `Option<serde_json::Value>` field.
pub(crate) fn json<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Option::<Json>::deserialize(d).map(|v| v.map(|j| j.0))
}

/// A JSON value that, in strict mode, refuses a repeated key in any of its objects.
pub(crate) struct Json(pub(crate) Value);

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if !is_strict() {
            return Value::deserialize(d).map(Json);
        }
        d.deserialize_any(JsonVisitor)
    }
}

/// serde_json's own value visitor, but for the check in `visit_map`. Scalars go through
/// serde_json's impl, so that numbers come out exactly as it makes them.
struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Json, E> {
        Ok(Json(Value::Bool(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Json, E> {
        Value::deserialize(v.into_deserializer()).map(Json)
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Json, E> {
        Value::deserialize(v.into_deserializer()).map(Json)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Json, E> {
        Value::deserialize(v.into_deserializer()).map(Json)
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Json, E> {
        Value::deserialize(v.into_deserializer()).map(Json)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Json, E> {
        Value::deserialize(v.into_deserializer()).map(Json)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Json, E> {
        Ok(Json(Value::String(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Json, E> {
        Ok(Json(Value::String(v)))
    }
    fn visit_none<E: de::Error>(self) -> Result<Json, E> {
        Ok(Json(Value::Null))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Json, D::Error> {
        Json::deserialize(d)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Json, E> {
        Ok(Json(Value::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut access: A) -> Result<Json, A::Error> {
        let mut values = Vec::new();
        while let Some(Json(value)) = access.next_element()? {
            values.push(value);
        }
        Ok(Json(Value::Array(values)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Json, A::Error> {
        let mut values = Map::new();
        while let Some((key, Json(value))) = access.next_entry::<String, Json>()? {
            if values.insert(key, value).is_some() {
                return Err(de::Error::custom(REPEATED));
            }
        }
        Ok(Json(Value::Object(values)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Doc {
        #[serde(default, deserialize_with = "map")]
        m: BTreeMap<String, u32>,
        #[serde(default, deserialize_with = "json")]
        j: Option<Value>,
    }

    fn both(text: &str) -> (Result<Doc, String>, Result<Doc, String>) {
        let lax = serde_norway::from_str::<Doc>(text).map_err(|e| e.to_string());
        let strict = strictly(|| serde_norway::from_str::<Doc>(text)).map_err(|e| e.to_string());
        (lax, strict)
    }

    #[test]
    fn repeated_keys_are_refused_only_when_strict() {
        for text in [
            "m: {a: 1, a: 2}",
            "j: {a: 1, a: 2}",
            "j: [1, {x: {y: 1, y: 2}}]",
        ] {
            let (lax, strict) = both(text);
            assert!(lax.is_ok(), "{text}");
            assert!(strict.is_err(), "{text}");
        }
        assert!(!is_strict());
    }

    #[test]
    fn values_are_the_same_either_way() {
        let text = "m: {a: 1, b: 2}\nj: {a: [1, -2, 3.5, .nan, 1e400, 18446744073709551615, \
                    -9223372036854775808, true, ~, '', x], b: {c: null}, 1: 2}\n";
        let (lax, strict) = both(text);
        let (lax, strict) = (lax.unwrap(), strict.unwrap());
        assert_eq!(lax.m, strict.m);
        assert_eq!(lax.j, strict.j);
    }
}
