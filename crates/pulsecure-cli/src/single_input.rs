//! One patient's JSON for `screen --json`: from stdin (`-`), a file (`@FILE`) or inline,
//! bounded in size. Shared by the cvd-lr and the published-equation paths.

use crate::error::CliError;

type Result<T> = std::result::Result<T, CliError>;

/// Most bytes read for one patient from stdin or a file (a patient is a few hundred).
const MAX_SINGLE_INPUT: u64 = 64 * 1024;

/// Read one patient's JSON from stdin (`-`) or a file (`@FILE`), or take it inline.
pub(crate) fn json_text(json: &str) -> Result<String> {
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
