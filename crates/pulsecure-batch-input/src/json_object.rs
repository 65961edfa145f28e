//! A JSON value read as "an object with its keys in the order written, or something else".
//!
//! `serde_json::Value` keeps an object's keys sorted, so the position of an unexpected key —
//! the only thing an error may say about it, since the key itself may be patient data typed
//! in the wrong place — would be lost. This reads the object's entries in input order, and
//! skips anything that is not an object without keeping it.

use std::fmt;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// One JSON value: an object's entries in the order written, or not an object.
pub enum JsonRow {
    /// The entries of an object, in input order (repeated keys kept).
    Object(Vec<(String, serde_json::Value)>),
    /// A number, string, array, boolean or null.
    NotAnObject,
}

impl<'de> Deserialize<'de> for JsonRow {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RowVisitor)
    }
}

struct RowVisitor;

impl<'de> Visitor<'de> for RowVisitor {
    type Value = JsonRow;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonRow, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry::<String, serde_json::Value>()? {
            entries.push(entry);
        }
        Ok(JsonRow::Object(entries))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JsonRow, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(JsonRow::NotAnObject)
    }

    fn visit_bool<E>(self, _: bool) -> Result<JsonRow, E> {
        Ok(JsonRow::NotAnObject)
    }

    fn visit_i64<E>(self, _: i64) -> Result<JsonRow, E> {
        Ok(JsonRow::NotAnObject)
    }

    fn visit_u64<E>(self, _: u64) -> Result<JsonRow, E> {
        Ok(JsonRow::NotAnObject)
    }

    fn visit_f64<E>(self, _: f64) -> Result<JsonRow, E> {
        Ok(JsonRow::NotAnObject)
    }

    fn visit_str<E>(self, _: &str) -> Result<JsonRow, E> {
        Ok(JsonRow::NotAnObject)
    }

    fn visit_unit<E>(self) -> Result<JsonRow, E> {
        Ok(JsonRow::NotAnObject)
    }

    fn visit_none<E>(self) -> Result<JsonRow, E> {
        Ok(JsonRow::NotAnObject)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_their_written_order() {
        let row: JsonRow =
            serde_json::from_str(r#"{"z": 1, "a": 2, "m": null, "a": 3}"#).expect("parses");
        let JsonRow::Object(entries) = row else {
            panic!("an object")
        };
        let keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["z", "a", "m", "a"]);
    }

    #[test]
    fn other_values_are_not_objects() {
        for text in ["1", "-2", "2.5", "\"x\"", "true", "null", "[1, {\"a\": 2}]"] {
            let row: JsonRow = serde_json::from_str(text).expect("parses");
            assert!(matches!(row, JsonRow::NotAnObject), "{text}");
        }
    }
}
