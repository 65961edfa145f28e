//! Batch reader (CSV, JSON Lines, JSON array) on any bytes: a file-level error or one item
//! per row, never a panic, and every item carries its row number.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use pulsecure_batch_input::{BatchReader, Item};
use pulsecure_core::embedded_model::DEFAULT_MODEL_JSON;
use pulsecure_core::Model;

/// The shipped model, parsed once rather than for every input.
fn model() -> Option<&'static Model> {
    static MODEL: OnceLock<Option<Model>> = OnceLock::new();
    MODEL
        .get_or_init(|| Model::from_json(DEFAULT_MODEL_JSON).ok())
        .as_ref()
}

fuzz_target!(|data: &[u8]| {
    let Some(model) = model() else {
        return;
    };
    let Ok(reader) = BatchReader::from_reader(data, model, "fuzz".into()) else {
        return;
    };
    for item in reader.take(10_000) {
        match item {
            Ok(Item::Row(row)) => assert!(row.row >= 1),
            Ok(Item::Rejected(e)) => assert!(e.row >= 1),
            Ok(Item::Raw(row)) => assert!(row.row >= 1),
            Ok(Item::NotEligible(row)) => assert!(row.row >= 1),
            Err(_) => break,
        }
    }
});
