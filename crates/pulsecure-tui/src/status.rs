//! The message line under every screen: what just happened, or what went wrong.

/// A one-line message under the screen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// The text.
    pub text: String,
    /// Shown as an error (red) rather than information.
    pub error: bool,
}

impl Status {
    /// Information (shown in cyan).
    pub fn info(text: impl Into<String>) -> Self {
        Status {
            text: text.into(),
            error: false,
        }
    }

    /// An error (shown in red).
    pub fn error(text: impl Into<String>) -> Self {
        Status {
            text: text.into(),
            error: true,
        }
    }
}
