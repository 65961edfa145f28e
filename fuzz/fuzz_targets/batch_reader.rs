//! Batch reader (CSV, JSON Lines, JSON array) on any bytes: a file-level error or one item
//! per row, never a panic, and a rejected row never echoes a cell.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pulsecure_batch::{BatchReader, Item};
use pulsecure_core::embedded_model::DEFAULT_MODEL_JSON;
use pulsecure_core::Model;

fuzz_target!(|data: &[u8]| {
    let Ok(model) = Model::from_json(DEFAULT_MODEL_JSON) else {
        return;
    };
    let Ok(reader) = BatchReader::from_reader(data, &model, "fuzz".into()) else {
        return;
    };
    for item in reader.take(10_000) {
        match item {
            Ok(Item::Row(row)) => assert!(row.row >= 1),
            Ok(Item::Rejected(e)) => assert!(e.row >= 1),
            Err(_) => break,
        }
    }
});
