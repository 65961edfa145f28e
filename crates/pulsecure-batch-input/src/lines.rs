//! Bounded line reading for files from outside, and the row count for progress.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use crate::MAX_LINE_BYTES;

/// Read one line of at most `MAX_LINE_BYTES` into `buf` (without the newline). Returns
/// `None` at end of file, `Some(false)` for an over-long line (consumed and dropped).
pub(crate) fn read_bounded_line(
    reader: &mut impl BufRead,
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<bool>> {
    read_line_within(reader, buf, MAX_LINE_BYTES)
}

/// Read one line of at most `max` bytes into `buf` (without the newline and a trailing
/// `\r`), never buffering more: `None` at end of input, `Some(false)` for a longer line
/// (consumed and dropped, `buf` left empty), `Some(true)` otherwise. Shared with the other
/// line-oriented readers of files from outside (FHIR NDJSON).
pub fn read_line_within(
    reader: &mut impl BufRead,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Option<bool>> {
    buf.clear();
    let mut too_long = false;
    let mut saw_any = false;
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            return Ok(if saw_any { Some(!too_long) } else { None });
        }
        saw_any = true;
        let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        let data = &chunk[..if done { take - 1 } else { take }];
        if !too_long {
            if buf.len() + data.len() > max {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(data);
            }
        }
        reader.consume(take);
        if done {
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
            return Ok(Some(!too_long));
        }
    }
}

/// Count the data rows (for the progress bar): lines after the header for CSV, non-blank
/// lines for JSON Lines. Reads the file once more, streaming.
pub fn count_rows(path: &Path) -> std::io::Result<u64> {
    let mut reader = BufReader::new(File::open(path)?);
    let mut buf = Vec::new();
    let mut lines = 0u64;
    let mut first: Option<u8> = None;
    while read_bounded_line(&mut reader, &mut buf)?.is_some() {
        if first.is_none() {
            first = buf.iter().copied().find(|b| !b.is_ascii_whitespace());
        }
        if !buf.iter().all(u8::is_ascii_whitespace) {
            lines += 1;
        }
    }
    Ok(match first {
        Some(b'{') => lines,
        _ => lines.saturating_sub(1),
    })
}
