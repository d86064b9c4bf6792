//! The one error type of the mocks crate.

use std::net::SocketAddr;

/// Why a mock could not be built, started or changed. A request the mock answers badly on
/// purpose is never an error; it is the point of the mock.
#[derive(Debug, thiserror::Error)]
pub enum MockError {
    /// A [`Behavior`](crate::Behavior) that cannot be served, e.g. weights that do not sum
    /// to 1 or percentiles out of order.
    #[error("invalid behavior: {0}")]
    InvalidBehavior(String),
    /// An upstream configuration that cannot be started, e.g. with no endpoints.
    #[error("invalid upstream config: {0}")]
    InvalidConfig(String),
    /// An upstream name that cannot be sent as a header value.
    #[error("invalid upstream name {name:?}: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An endpoint index past the end of the upstream.
    #[error("no endpoint {index} in upstream {upstream:?}, which has {count} endpoints")]
    NoSuchEndpoint {
        /// The upstream asked about.
        upstream: String,
        /// The index asked for.
        index: u32,
        /// How many endpoints the upstream has.
        count: u32,
    },
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// Some other socket operation failed.
    #[error("socket error")]
    Io(#[from] std::io::Error),
}
