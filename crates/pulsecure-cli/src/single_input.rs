//! One patient's JSON for `screen --json`: from stdin (`-`), a file (`@FILE`) or inline,
//! bounded in size, read by the rule every JSON patient follows ([`JsonPatient`], the
//! batch reader's for JSON rows). Shared by the cvd-lr and the published-equation paths.

use pulsecure_batch_input::{JsonPatient, JsonRow, RowError};

use crate::error::CliError;

type Result<T> = std::result::Result<T, CliError>;

/// Most bytes read for one patient from stdin or a file (a patient is a few hundred).
const MAX_SINGLE_INPUT: u64 = 64 * 1024;

/// One patient from `--json`: one JSON object read as a JSON batch row is (see
/// [`JsonPatient`]), except that its reference may be absent (the caller generates one).
/// Its fields are checked against the model once the vault is unlocked.
pub(crate) fn json_patient(json: &str) -> Result<JsonPatient> {
    let text = json_text(json)?;
    let value: JsonRow = serde_json::from_str(&text).map_err(|e| {
        CliError::Input(format!(
            "--json: not valid JSON (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    JsonPatient::read(1, value).map_err(|e| refused(&e))
}

/// A `--json` patient refused: the column and the reason a batch row would be rejected
/// with (never a value, nor a key the model does not read).
pub(crate) fn refused(e: &RowError) -> CliError {
    CliError::Input(match &e.column {
        Some(column) => format!("--json, column {column}: {}", e.reason),
        None => format!("--json: {}", e.reason),
    })
}

/// Read one patient's JSON from stdin (`-`) or a file (`@FILE`), or take it inline.
fn json_text(json: &str) -> Result<String> {
    use std::io::Read;
    let mut text = String::new();
    let (what, read) = match json {
        "-" => (
            "reading the patient from stdin".to_string(),
            std::io::stdin()
                .lock()
                .take(MAX_SINGLE_INPUT + 1)
                .read_to_string(&mut text),
        ),
        _ => match json.strip_prefix('@') {
            Some(path) => (
                format!("reading {path}"),
                std::fs::File::open(path)
                    .and_then(|f| f.take(MAX_SINGLE_INPUT + 1).read_to_string(&mut text)),
            ),
            None => return Ok(json.to_string()),
        },
    };
    read.map_err(|e| CliError::io(what, e))?;
    if text.len() as u64 > MAX_SINGLE_INPUT {
        return Err(CliError::Input(format!(
            "--json: one patient is at most {MAX_SINGLE_INPUT} bytes"
        )));
    }
    Ok(text)
}
