//! The batch reader on in-memory inputs: per-row errors keep the rest of the batch, file-level
//! problems are refused up front with the expected columns, and limits hold.

use pulsecure_batch_input::{BatchError, BatchReader, Item, MAX_JSON_ARRAY_BYTES};
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
        Item::Row(_) | Item::Raw(_) | Item::NotEligible(_) => panic!("row 3 must be rejected"),
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

fn spec() -> pulsecure_batch_input::ColumnSpec {
    let names = ["age", "sex", "egfr", "serum_creatinine", "known_cvd"];
    pulsecure_batch_input::ColumnSpec {
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

/// v3 declares its population (adults 30-79 without known CVD): `known_cvd` is a required
/// column besides the features, and a row outside the population is a decision, not an error.
#[test]
fn a_population_model_reads_known_cvd_and_decides_eligibility() {
    let model = Model::from_json(include_str!("../../../models/cvd-lr/v3/model.json")).expect("v3");
    let read_v3 = |text: &str| -> Result<Vec<Item>, BatchError> {
        BatchReader::from_reader(text.as_bytes(), &model, "test".into())?.collect()
    };
    let header =
        "patient_id,known_cvd,age,told_diabetes,systolic_bp,current_smoker,male,told_high_bp";
    let items = read_v3(&format!(
        "{header}\nA,0,55,0,132,1,1,0\nB,1,55,0,132,1,1,0\nC,0,25,0,132,1,1,0\nD,2,55,0,132,1,1,0\n"
    ))
    .expect("header is valid");
    assert!(matches!(&items[0], Item::Row(r) if r.patient_ref.as_str() == "A"));
    match &items[1] {
        Item::NotEligible(r) => {
            assert_eq!((r.row, r.patient_ref.as_str()), (3, "B"));
            assert_eq!(r.why.kind().code(), "known_cvd");
        }
        _ => panic!("known CVD is not eligible"),
    }
    assert!(
        matches!(&items[2], Item::NotEligible(r) if r.why.kind().code() == "age_outside_range")
    );
    assert!(
        matches!(&items[3], Item::Rejected(e) if e.column.as_deref() == Some("known_cvd")),
        "known_cvd must be 0 or 1"
    );
    let err = read_v3(&format!(
        "{}\nA,55,0,132,1,1,0\n",
        header.replace("known_cvd,", "")
    ))
    .err()
    .expect("known_cvd is a required column");
    assert!(
        err.to_string().contains("missing column(s) known_cvd"),
        "{err}"
    );
    let json = r#"{"patient_id":"J","known_cvd":true,"age":50,"told_diabetes":0,"systolic_bp":120,"current_smoker":0,"male":0,"told_high_bp":0}"#;
    assert!(matches!(
        &read_v3(json).expect("json")[0],
        Item::NotEligible(_)
    ));
}

/// A JSON row's reference (the rule `screen --json` shares, see `JsonPatient`):
/// `patient_id` or its alias `patient_ref`, a string or an integer, never both; a key the
/// model does not read is reported by its position, the reference counting.
#[test]
fn a_json_row_is_read_by_the_one_json_patient_rule() {
    let values = r#""age":55,"told_high_bp":1,"systolic_bp":140,"smoked_100_cigarettes":0,"serum_creatinine":0.9,"waist_circumference":100,"told_diabetes":0,"total_cholesterol":210,"told_high_cholesterol":1"#;
    let text = [
        format!(r#"{{"patient_id":1042,{values}}}"#),
        format!(r#"{{{values},"patient_ref":"ALIAS"}}"#),
        format!(r#"{{"patient_id":"A","patient_ref":"A",{values}}}"#),
        format!(r#"{{"patient_id":1.5,{values}}}"#),
        format!(r#"{{"patient_ref":"R","Jane Doe":1,{values}}}"#),
        format!(
            r#"{{"patient_id":"S",{}}}"#,
            values.replace("140", "\"140\"")
        ),
        values.to_string().replace("\"age\"", "{\"age\"") + "}",
    ]
    .join("\n");
    let items = read(&text).expect("json lines");
    let refs: Vec<&str> = items
        .iter()
        .filter_map(|i| match i {
            Item::Row(r) => Some(r.patient_ref.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(refs, ["1042", "ALIAS"]);
    let errors: Vec<(usize, Option<&str>, &str)> = items
        .iter()
        .filter_map(|i| match i {
            Item::Rejected(e) => Some((e.row, e.column.as_deref(), e.reason.as_str())),
            _ => None,
        })
        .collect();
    let expected: [(usize, &str, &str); 5] = [
        (3, "patient_id", "given more than once"),
        (4, "patient_id", "expected a string or an integer"),
        (5, "#2", "unknown field #2 (expected one of: age,"),
        (6, "systolic_bp", "expected a number"),
        (7, "patient_id", "missing"),
    ];
    assert_eq!(errors.len(), expected.len(), "{errors:?}");
    for ((row, column, reason), (want_row, want_column, want_reason)) in errors.iter().zip(expected)
    {
        assert_eq!((*row, *column), (want_row, Some(want_column)));
        assert!(reason.starts_with(want_reason), "row {row}: {reason}");
        assert!(!reason.contains("Jane"));
    }
}
