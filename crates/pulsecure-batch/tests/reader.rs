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
        Item::Row(_) | Item::Raw(_) => panic!("row 3 must be rejected"),
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

fn spec() -> pulsecure_batch::ColumnSpec {
    let names = ["age", "sex", "egfr", "serum_creatinine", "known_cvd"];
    pulsecure_batch::ColumnSpec {
        accepted: names.iter().map(|s| s.to_string()).collect(),
        required: vec![
            vec!["age".into()],
            vec!["sex".into()],
            vec!["egfr".into(), "serum_creatinine".into()],
            vec!["known_cvd".into()],
        ],
    }
}

#[test]
fn column_mode_reads_levels_as_text_and_accepts_either_kidney_column() {
    use pulsecure_core::domain::equation::InputValue;
    let spec = spec();
    let csv = "patient_id,age,sex,serum_creatinine,known_cvd\nP1,50,female,0.8,0\n";
    let items: Vec<Item> = BatchReader::with_columns(csv.as_bytes(), &spec, "t".into())
        .expect("header with creatinine instead of egfr")
        .map(|i| i.expect("item"))
        .collect();
    match &items[0] {
        Item::Raw(raw) => {
            assert_eq!(
                raw.values.get("sex"),
                Some(&InputValue::Level("female".into()))
            );
            assert_eq!(raw.values.get("age"), Some(&InputValue::Number(50.0)));
            assert!(!raw.values.contains_key("patient_id"));
        }
        _ => panic!("a raw row"),
    }
    let json = r#"{"patient_id":"J1","age":50,"sex":"male","egfr":90,"known_cvd":false,"shoe":3}"#;
    let items: Vec<Item> = BatchReader::with_columns(json.as_bytes(), &spec, "t".into())
        .expect("json lines")
        .map(|i| i.expect("item"))
        .collect();
    match &items[0] {
        Item::Rejected(e) => {
            assert_eq!(e.column.as_deref(), Some("#6"), "by position");
            assert!(!e.reason.contains("shoe"), "{}", e.reason);
        }
        _ => panic!("an unknown key is refused"),
    }
    let missing = "patient_id,age,sex,known_cvd\nP1,50,female,0\n";
    let err = BatchReader::with_columns(missing.as_bytes(), &spec, "t".into())
        .err()
        .expect("no kidney column");
    assert!(
        err.to_string().contains("egfr or serum_creatinine"),
        "{err}"
    );
}
