//! `gauntlet load`: the load generator on its own against any loopback HTTP server, like
//! wrk or `fortio load`, with the same coordinated-omission-correct measurement as a run.

use std::net::SocketAddr;

use anyhow::{bail, Context};
use gauntlet_reports::StepResult;
use tokio_util::sync::CancellationToken;

use super::summary;
use crate::load::{self, LoadPlan};

/// Runs `plan` against its targets and returns the measured step, named `load`.
/// Refuses non-loopback targets: Gauntlet drives load only on this machine.
pub async fn run(plan: LoadPlan, cancel: CancellationToken) -> anyhow::Result<StepResult> {
    if let Some(t) = plan.targets.iter().find(|t| !t.ip().is_loopback()) {
        bail!("{t} is not a loopback address; `gauntlet load` only targets 127.0.0.0/8 or ::1");
    }
    let outcome = load::run(plan.clone(), cancel, None)
        .await
        .context("invalid load plan")?;
    Ok(StepResult {
        name: "load".to_string(),
        targets: plan.targets.iter().map(SocketAddr::to_string).collect(),
        load: summary::load(&plan, &outcome),
        envoy_stats: Default::default(),
        mocks: Default::default(),
        envoy_series: Vec::new(),
        resources: Vec::new(),
        resource_summary: None,
    })
}
