//! Pattern redaction applied to every formatted log line.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

/// (pattern, replacement) in the order applied: PEM blocks first (they contain base64),
/// then UUIDs (they contain hex), long hex, long base64, e-mail addresses, SSNs.
static RULES: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        (
            r"-----BEGIN [A-Z0-9 ]+-----(?s:.*?)(-----END [A-Z0-9 ]+-----|$)",
            "[redacted pem]",
        ),
        (
            r"(?i)\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b",
            "[redacted uuid]",
        ),
        (r"(?i)\b[0-9a-f]{32,}\b", "[redacted hex]"),
        (r"[A-Za-z0-9+/_-]{40,}={0,2}", "[redacted base64]"),
        (
            r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
            "[redacted email]",
        ),
        (r"\b\d{3}-\d{2}-\d{4}\b", "[redacted ssn]"),
    ]
    .into_iter()
    .filter_map(|(pattern, replacement)| Regex::new(pattern).ok().map(|r| (r, replacement)))
    .collect()
});

/// Number of redaction rules compiled (all of them, unless a pattern failed to compile —
/// which the tests rule out).
pub fn rule_count() -> usize {
    RULES.len()
}

/// `text` with every sensitive-looking run replaced by a `[redacted …]` marker.
pub fn redact(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    for (pattern, replacement) in RULES.iter() {
        if pattern.is_match(&out) {
            out = Cow::Owned(pattern.replace_all(&out, *replacement).into_owned());
        }
    }
    out
}
