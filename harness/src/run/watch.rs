//! Watching the processes a step depends on besides the Envoy the step itself watches: the
//! services under test and the other sidecars. The first one to exit stops the step (which
//! keeps what it measured) and becomes the run's error, like an Envoy crash.

use std::future::Future;
use std::pin::Pin;

use anyhow::anyhow;
use gauntlet_reports::StepResult;
use tokio_util::sync::CancellationToken;

use crate::envoy::Envoy;
use crate::service::RunningService;

/// Resolves, with the error to report, when the watched process exits.
pub(super) type Death<'a> = Pin<Box<dyn Future<Output = anyhow::Error> + Send + 'a>>;

/// The death of a service, quoting the end of its log.
pub(super) fn service(s: &RunningService) -> Death<'_> {
    Box::pin(async move {
        let info = s.exited().await;
        anyhow!(
            "service `{}` exited during the run: {info}\n  last lines of {}:\n{}",
            s.name(),
            s.log_path().display(),
            s.log_tail(15)
        )
    })
}

/// The death of a sidecar Envoy, quoting the end of its log.
pub(super) fn envoy<'a>(role: &'a str, e: &'a Envoy) -> Death<'a> {
    Box::pin(async move {
        let info = e.exited().await;
        anyhow!(
            "the {role} Envoy exited during the run: {info}\n  last lines of {}:\n{}",
            e.log_path().display(),
            e.log_tail(15)
        )
    })
}

/// Runs a step while watching `deaths`: the first to resolve cancels `stop` (which the
/// step's context carries) and its error replaces the step's own.
pub(super) async fn watched<F>(
    run: F,
    deaths: Vec<Death<'_>>,
    stop: &CancellationToken,
) -> (StepResult, Option<anyhow::Error>)
where
    F: Future<Output = (StepResult, Option<anyhow::Error>)>,
{
    tokio::pin!(run);
    let mut any = if deaths.is_empty() {
        None
    } else {
        Some(futures::future::select_all(deaths))
    };
    let mut died: Option<anyhow::Error> = None;
    let (step, err) = loop {
        tokio::select! {
            r = &mut run => break r,
            (error, _, _) = async { any.as_mut().expect("guarded").await }, if any.is_some() => {
                any = None;
                died = Some(error);
                stop.cancel();
            }
        }
    };
    (step, died.or(err))
}
