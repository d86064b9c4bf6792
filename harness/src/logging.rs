//! Diagnostic logging to stderr through `tracing`, filtered by `GAUNTLET_LOG` (default `warn`).

use tracing_subscriber::EnvFilter;

/// Installs the stderr subscriber once; later calls are no-ops.
pub fn init() {
    let filter = EnvFilter::try_from_env("GAUNTLET_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
