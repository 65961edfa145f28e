//! A reader that counts the bytes it hands out: progress by position in an input file.

use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// `inner`, counting what is read from it.
pub(crate) struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

/// How many bytes a [`Counting`] reader has handed out so far.
#[derive(Clone)]
pub(crate) struct BytesRead(Arc<AtomicU64>);

impl BytesRead {
    /// Bytes read so far.
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl<R> Counting<R> {
    /// Wrap `inner`; the counter goes to whoever reports progress.
    pub(crate) fn new(inner: R) -> (Self, BytesRead) {
        let count = Arc::new(AtomicU64::new(0));
        (
            Counting {
                inner,
                count: Arc::clone(&count),
            },
            BytesRead(count),
        )
    }
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}
