//! The exit codes `gauntlet` documents (README, "Exit codes"). Distinct so CI can tell a
//! failed gate from a broken scenario from a broken run.

/// Everything ran and every gate held.
pub const OK: u8 = 0;
/// The run completed but a gate failed.
pub const GATES_FAILED: u8 = 1;
/// The scenario or the command line is invalid; nothing ran.
pub const BAD_INPUT: u8 = 2;
/// The run could not complete: Envoy crashed or NACKed, a setup step failed.
pub const RUN_ERROR: u8 = 3;
/// Stopped by SIGINT or SIGTERM (partial results were written).
pub const INTERRUPTED: u8 = 130;
