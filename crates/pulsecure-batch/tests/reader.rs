//! The batch reader on in-memory inputs: per-row errors keep the rest of the batch, file-level
//! problems are refused up front with the expected columns, and limits hold.

use pulsecure_batch::{BatchError, BatchReader, Item, MAX_JSON_ARRAY_BYTES};
use pulsecure_core::Model;

/// v1 (nine features, one continuous field between the yes/no ones): the reader's cases are
/// about rows and columns, not about which release is embedded.
fn model() -> Model {
    Model::from_json(include_str!("../../../models/cvd-lr/v1/model.json")).expect("v1 loads")
}

const HEADER: &str = "patient_id,age,told_high_bp,systolic_bp,smoked_100_cigarettes,serum_creatinine,waist_circumference,told_diabetes,total_cholesterol,told_high_cholesterol";

fn read(text: &str) -> Result<Vec<Item>, BatchError> {
    let model = model();
    let reader = BatchReader::from_reader(text.as_bytes(), &model, "test".into())?;
    reader.collect()
}

#[test]
fn a_bad_row_is_reported_and_the_next_one_still_reads() {
    let text = format!(
        "{HEADER}\nP1,55,1,140,0,0.9,100,0,210,1\nP2,55,1,abc,0,0.9,100,0,210,1\nP3,61,0,120,1,1.1,95,1,180,0\n"
    );
    let items = read(&text).expect("header is valid");
    assert_eq!(items.len(), 3);
    match &items[1] {
        Item::Rejected(e) => {
            assert_eq!(e.row, 3);
            assert_eq!(e.column.as_deref(), Some("systolic_bp"));
            assert!(!e.reason.contains("abc"), "the value is never echoed");
        }
        Item::Row(_) => panic!("row 3 must be rejected"),
    }
    assert!(matches!(&items[2], Item::Row(r) if r.patient_ref.as_str() == "P3" && r.row == 4));
}

#[test]
fn json_lines_and_arrays_read_the_same_patient() {
    let object = r#"{"patient_id":"J1","age":55,"told_high_bp":true,"systolic_bp":140,"smoked_100_cigarettes":false,"serum_creatinine":0.9,"waist_circumference":100,"told_diabetes":0,"total_cholesterol":210,"told_high_cholesterol":1}"#;
    let lines = read(object).expect("json lines");
    let array = read(&format!("[{object}]")).expect("json array");
    match (&lines[0], &array[0]) {
        (Item::Row(a), Item::Row(b)) => assert_eq!(a.features, b.features),
        _ => panic!("both must validate"),
    }
}

#[test]
fn file_level_problems_name_what_was_expected() {
    let err = read("patient_id;age\n1;2\n")
        .err()
        .expect("semicolons refused");
    assert!(
        err.to_string().contains("delimiter must be a comma"),
        "{err}"
    );
    let err = read(&format!("{HEADER},extra\n"))
        .err()
        .expect("unknown column");
    assert!(
        err.to_string()
            .contains("1 unknown column(s), at position(s) 11"),
        "{err}"
    );
    assert!(
        !err.to_string().contains("extra"),
        "header cells are not echoed: {err}"
    );
    let err = read("   \n").err().expect("empty refused");
    assert!(err.to_string().contains("empty"), "{err}");
}

#[test]
fn an_oversized_json_array_is_refused_without_parsing() {
    let mut text = String::from("[");
    text.push_str(&" ".repeat(MAX_JSON_ARRAY_BYTES as usize));
    text.push(']');
    let err = read(&text).err().expect("too large");
    assert!(err.to_string().contains("larger than 64 MiB"), "{err}");
}
