//! A `MakeWriter` that redacts: each event's formatted bytes are collected and written,
//! redacted, in one piece when the formatter is done with the writer.

use std::io::Write;

use tracing_subscriber::fmt::MakeWriter;

use crate::redact::redact;

/// Wraps any `MakeWriter`; lines reach it only through [`redact`].
pub struct RedactingMakeWriter<M> {
    inner: M,
}

impl<M> RedactingMakeWriter<M> {
    /// Redact everything written to `inner`.
    pub fn new(inner: M) -> Self {
        RedactingMakeWriter { inner }
    }
}

/// One event's buffer; redacted and written on drop.
pub struct RedactingWriter<W: Write> {
    buffer: Vec<u8>,
    inner: W,
}

impl<W: Write> Write for RedactingWriter<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&self.buffer);
        let clean = redact(&text);
        self.inner.write_all(clean.as_bytes())?;
        self.buffer.clear();
        self.inner.flush()
    }
}

impl<W: Write> Drop for RedactingWriter<W> {
    fn drop(&mut self) {
        // Logging must never take the program down; a failed log write is dropped.
        let _ = self.flush();
    }
}

impl<'a, M> MakeWriter<'a> for RedactingMakeWriter<M>
where
    M: MakeWriter<'a>,
{
    type Writer = RedactingWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter {
            buffer: Vec::new(),
            inner: self.inner.make_writer(),
        }
    }
}
