//! Prometheus text metrics: requests by method and status, an evaluation-latency histogram,
//! bootstrappings done, queue depth and cached keys. Counted in memory always; exposed only
//! when the operator asks for a metrics listener.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of the evaluation-latency histogram buckets.
const LATENCY_BUCKETS: [f64; 10] = [0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0];

/// The evaluator's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, i32), u64>>,
    latency_buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    latency_count: AtomicU64,
    latency_micros: AtomicU64,
    bootstrappings: AtomicU64,
}

/// Gauges read at scrape time.
#[derive(Clone, Copy, Debug)]
pub struct Gauges {
    /// Evaluations admitted (waiting or running).
    pub queue_depth: usize,
    /// Decompressed server keys in memory.
    pub cached_keys: usize,
    /// Server keys on disk.
    pub stored_keys: usize,
}

impl Metrics {
    /// Count one finished request.
    pub fn request(&self, method: &'static str, code: tonic::Code) {
        let mut requests = self
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *requests.entry((method, code as i32)).or_default() += 1;
    }

    /// Count one evaluation: its duration and bootstrappings.
    pub fn evaluated(&self, took: Duration, bootstrappings: u64) {
        let seconds = took.as_secs_f64();
        for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&self.latency_buckets) {
            if seconds <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
        self.bootstrappings
            .fetch_add(bootstrappings, Ordering::Relaxed);
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self, gauges: Gauges) -> String {
        let mut out = String::new();
        out.push_str("# HELP pulsecure_requests_total gRPC requests by method and status.\n");
        out.push_str("# TYPE pulsecure_requests_total counter\n");
        let requests = self
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        for ((method, code), n) in requests {
            let status = format!("{:?}", tonic::Code::from_i32(code));
            let _ = writeln!(
                out,
                "pulsecure_requests_total{{method=\"{method}\",status=\"{status}\"}} {n}"
            );
        }
        out.push_str("# HELP pulsecure_evaluation_seconds Time of one encrypted evaluation, queueing excluded.\n");
        out.push_str("# TYPE pulsecure_evaluation_seconds histogram\n");
        for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&self.latency_buckets) {
            let _ = writeln!(
                out,
                "pulsecure_evaluation_seconds_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "pulsecure_evaluation_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "pulsecure_evaluation_seconds_sum {}",
            self.latency_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "pulsecure_evaluation_seconds_count {count}");
        out.push_str("# HELP pulsecure_bootstrappings_total Programmable bootstrappings done (rate() gives bootstrappings per second).\n");
        out.push_str("# TYPE pulsecure_bootstrappings_total counter\n");
        let _ = writeln!(
            out,
            "pulsecure_bootstrappings_total {}",
            self.bootstrappings.load(Ordering::Relaxed)
        );
        for (name, help, value) in [
            (
                "pulsecure_queue_depth",
                "Evaluations admitted (waiting or running).",
                gauges.queue_depth,
            ),
            (
                "pulsecure_cached_keys",
                "Decompressed server keys in memory.",
                gauges.cached_keys,
            ),
            (
                "pulsecure_stored_keys",
                "Server keys on disk.",
                gauges.stored_keys,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_show_in_the_exposition() {
        let metrics = Metrics::default();
        metrics.request("Evaluate", tonic::Code::Ok);
        metrics.request("Evaluate", tonic::Code::Ok);
        metrics.request("Evaluate", tonic::Code::ResourceExhausted);
        metrics.evaluated(Duration::from_millis(1200), 75);
        let text = metrics.render(Gauges {
            queue_depth: 3,
            cached_keys: 1,
            stored_keys: 2,
        });
        assert!(text.contains("pulsecure_requests_total{method=\"Evaluate\",status=\"Ok\"} 2"));
        assert!(text.contains("status=\"ResourceExhausted\"} 1"));
        assert!(text.contains("pulsecure_evaluation_seconds_bucket{le=\"1\"} 0"));
        assert!(text.contains("pulsecure_evaluation_seconds_bucket{le=\"1.5\"} 1"));
        assert!(text.contains("pulsecure_bootstrappings_total 75"));
        assert!(text.contains("pulsecure_queue_depth 3"));
    }
}
