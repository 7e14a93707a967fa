//! The one error type of the library and its mapping to C status codes.

use std::fmt;

/// Everything that can go wrong in a tensorblas call.
///
/// Every variant maps to one `tblas_status` value of the C API ([`Error::status`]); the
/// `Display` text is the message `tblas_get_last_error_message` returns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An argument broke a rule. `position` is 1-based in the C signature of `function`
    /// (the handle is 1); the Rust methods take their arguments in the same order.
    #[error("{function}: argument {position} ({name}) {rule}")]
    InvalidArgument {
        /// The C function name, e.g. `tblas_sgemm_strided_batched`.
        function: &'static str,
        /// 1-based position of the offending argument.
        position: i32,
        /// Name of the argument as `docs/c-api.md` spells it.
        name: &'static str,
        /// The rule that was broken, with the values involved.
        rule: String,
    },
    /// The handle is NULL or was destroyed (C API only).
    #[error("{function}: argument 1 (handle) is NULL or was destroyed")]
    NotInitialized {
        /// The C function name.
        function: &'static str,
    },
    /// A valid request this build or backend cannot perform.
    #[error("{0}")]
    NotSupported(String),
    /// The requested backend is not usable here (no driver, no device, not built in).
    #[error("{0}")]
    BackendUnavailable(String),
    /// A backend call failed while executing.
    #[error("{0}")]
    Execution(String),
    /// Memory could not be allocated.
    #[error("{0}")]
    Alloc(String),
    /// An internal error (a bug), including a caught panic.
    #[error("{0}")]
    Internal(String),
}

impl Error {
    // `Error::status()`, the C status code of an error, is implemented in `ffi/mod.rs`, next to
    // the `TBLAS_STATUS_*` constants it returns: the codes are defined once, there.

    /// The 1-based argument position reported to C (`0` when no argument is at fault).
    pub fn position(&self) -> i32 {
        match self {
            Error::InvalidArgument { position, .. } => *position,
            Error::NotInitialized { .. } => 1,
            _ => 0,
        }
    }

    pub(crate) fn invalid(function: &'static str, position: i32, name: &'static str, rule: impl fmt::Display) -> Self {
        Error::InvalidArgument {
            function,
            position,
            name,
            rule: rule.to_string(),
        }
    }
}

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
