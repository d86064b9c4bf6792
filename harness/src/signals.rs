//! SIGINT/SIGTERM: the first asks for a graceful stop (the run stops its load, scrapes what it
//! can, writes partial results and reaps Envoy); the second exits at once. Children die with
//! us even then, because they are started with a parent-death signal (see `envoy::process`).

use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

use crate::exit;

/// Starts listening for SIGINT and SIGTERM and returns the token the first one cancels.
pub fn install() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            tracing::warn!("cannot install signal handlers; Ctrl-C will kill without a report");
            return;
        };
        for n in 0..2 {
            tokio::select! {
                _ = int.recv() => {},
                _ = term.recv() => {},
            }
            if n == 0 {
                eprintln!("\ngauntlet: stopping (partial results will be written); press Ctrl-C again to abort at once");
                cancel.cancel();
            } else {
                eprintln!("gauntlet: aborted");
                // Children die with us; containers do not, so remove them first (bounded).
                crate::envoy::container::remove_live_blocking();
                std::process::exit(exit::INTERRUPTED.into());
            }
        }
    });
    token
}
