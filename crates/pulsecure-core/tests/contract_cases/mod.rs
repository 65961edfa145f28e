//! Reading `models/contract-cases.json`, the schema-1 model contract's shared cases (also
//! read by `training/tests/test_model_contract.py`): each entry is a base model with edits.
//! Used by this crate's `model_contract` test and by `pulsecure-fhe`'s.
#![allow(dead_code)]

use std::path::PathBuf;

use serde_json::Value;

/// The repository root (this file is in `crates/pulsecure-core/tests/contract_cases/`).
fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// One model of the case file: a base with edits.
pub struct Entry {
    /// For messages: the limit, position and description (or the accepted model's name).
    pub name: String,
    /// The limit a case breaks (empty for an accepted model).
    pub limit: String,
    /// The base model's path, relative to the repository root.
    pub base: String,
    /// The edits, in order.
    pub edits: Vec<Value>,
}

/// The whole case file.
pub struct Contract {
    /// Every limit's name, in check order.
    pub limits: Vec<String>,
    /// Models both validators accept.
    pub accepted: Vec<Entry>,
    /// Models each refused naming its limit.
    pub cases: Vec<Entry>,
}

/// Read and parse the case file.
pub fn contract() -> Contract {
    let text = std::fs::read_to_string(repo().join("models/contract-cases.json"))
        .expect("models/contract-cases.json");
    let file: Value = serde_json::from_str(&text).expect("the case file is JSON");
    let base = file["base"].as_str().expect("base").to_string();
    let entries = |key: &str| -> Vec<Entry> {
        file[key]
            .as_array()
            .expect("a list")
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let limit = e["limit"].as_str().unwrap_or_default().to_string();
                let name = match e["what"].as_str() {
                    Some(what) => format!("{limit}-{i} ({what})"),
                    None => e["name"].as_str().expect("name").to_string(),
                };
                Entry {
                    name,
                    limit,
                    base: e["base"].as_str().unwrap_or(&base).to_string(),
                    edits: e["edits"].as_array().expect("edits").clone(),
                }
            })
            .collect()
    };
    Contract {
        limits: file["limits"]
            .as_array()
            .expect("limits")
            .iter()
            .map(|l| l.as_str().expect("a name").to_string())
            .collect(),
        accepted: entries("accepted"),
        cases: entries("cases"),
    }
}

impl Entry {
    /// The edited model as JSON.
    pub fn model_value(&self) -> Value {
        let text = std::fs::read_to_string(repo().join(&self.base)).expect("base model");
        let mut doc: Value = serde_json::from_str(&text).expect("base model is JSON");
        for edit in &self.edits {
            apply(&mut doc, edit);
        }
        doc
    }

    /// The edited model as `model.json` text.
    pub fn model_json(&self) -> String {
        self.model_value().to_string()
    }
}

/// One edit: `set` (replace, add a member, or append with `-`), `remove`, `set_runs`.
fn apply(doc: &mut Value, edit: &Value) {
    let op = edit["op"].as_str().expect("op");
    let path = edit["path"].as_str().expect("path");
    let (parent, last) = path.rsplit_once('/').expect("a JSON pointer");
    let last = last.replace("~1", "/").replace("~0", "~");
    let value = match op {
        "set_runs" => Value::Array(
            edit["runs"]
                .as_array()
                .expect("runs")
                .iter()
                .flat_map(|run| {
                    let count = run[1].as_u64().expect("count") as usize;
                    std::iter::repeat_n(run[0].clone(), count)
                })
                .collect(),
        ),
        _ => edit.get("value").cloned().unwrap_or(Value::Null),
    };
    let node = doc
        .pointer_mut(parent)
        .expect("the edited field's parent exists");
    match (op, node) {
        ("remove", Value::Array(items)) => {
            items.remove(last.parse::<usize>().expect("an index"));
        }
        ("remove", Value::Object(members)) => {
            members.remove(&last).expect("the removed field exists");
        }
        ("set" | "set_runs", Value::Array(items)) if last == "-" => items.push(value),
        ("set" | "set_runs", Value::Array(items)) => {
            items[last.parse::<usize>().expect("an index")] = value;
        }
        ("set" | "set_runs", Value::Object(members)) => {
            members.insert(last, value);
        }
        (op, _) => panic!("cannot apply `{op}` at {path}"),
    }
}
