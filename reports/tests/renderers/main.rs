//! The renderers, tested through the crate's public API: one integration-test binary.

mod fixture;
mod format;
mod fortio;
mod grpc;
mod hlog;
mod html;
mod markdown;
mod sizing;
