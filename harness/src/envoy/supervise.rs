//! The supervisor of a child process: the only place that reaps it and the only place that
//! signals it, and it signals only while the child is not yet reaped, so a signal can never
//! reach a recycled pid. The handle talks to it over a channel and learns of the exit through
//! a `watch` channel the moment the kernel reports it.

use std::future::Future;
use std::io;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::process::Child;
use tokio::sync::{mpsc, watch};

use super::{EnvoyError, ExitInfo};

/// How long to wait for the kernel to report a SIGKILLed child.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// The handle side of a supervised child. Dropping it kills the child.
#[derive(Debug)]
pub(crate) struct Supervised {
    pub(crate) pid: u32,
    control: mpsc::UnboundedSender<Signal>,
    pub(crate) exit: watch::Receiver<Option<ExitInfo>>,
}

impl Supervised {
    /// Hands `child` to a new supervisor task (which needs a tokio runtime).
    pub(crate) fn start(child: Child) -> io::Result<Self> {
        let pid = child
            .id()
            .ok_or_else(|| io::Error::other("the child has no pid"))?;
        let (control, signals) = mpsc::unbounded_channel();
        let (report, exit) = watch::channel(None);
        tokio::spawn(supervise(child, signals, report));
        Ok(Self { pid, control, exit })
    }

    /// Asks the supervisor to deliver `signal`; a no-op once the child is reaped.
    pub(crate) fn signal(&self, signal: Signal) {
        // Fails only once the supervisor has finished, i.e. the child is reaped.
        let _ = self.control.send(signal);
    }

    /// Resolves with the exit as soon as the supervisor reports it.
    pub(crate) fn exited(&self) -> impl Future<Output = ExitInfo> + Send + 'static {
        ExitInfo::reported(self.exit.clone())
    }

    /// SIGKILLs the child and waits until it is reaped.
    pub(crate) async fn kill_and_wait(&self) -> Result<ExitInfo, EnvoyError> {
        self.signal(Signal::SIGKILL);
        tokio::time::timeout(KILL_WAIT, self.exited())
            .await
            .map_err(|_| EnvoyError::StopTimeout {
                pid: self.pid,
                waited: KILL_WAIT,
            })
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        if self.exit.borrow().is_none() {
            tracing::debug!(
                pid = self.pid,
                "Envoy handle dropped while running; killing it"
            );
            self.signal(Signal::SIGKILL);
        }
    }
}

/// Owns the child: reaps it, delivers signals, reports the exit. If every handle is gone,
/// kills the child. If the task itself is dropped (runtime shutdown), `kill_on_drop` does.
async fn supervise(
    mut child: Child,
    mut signals: mpsc::UnboundedReceiver<Signal>,
    report: watch::Sender<Option<ExitInfo>>,
) {
    let mut requested = false;
    let status = loop {
        tokio::select! {
            status = child.wait() => break status,
            signal = signals.recv() => {
                let signal = signal.unwrap_or(Signal::SIGKILL);
                requested |= matches!(
                    signal,
                    Signal::SIGTERM | Signal::SIGINT | Signal::SIGQUIT | Signal::SIGKILL
                );
                deliver(&mut child, signal);
                if signals.is_closed() && signals.is_empty() {
                    break child.wait().await;
                }
            }
        }
    };
    let info = ExitInfo::new(status, requested);
    tracing::debug!(%info, "Envoy exited");
    report.send_replace(Some(info));
}

/// Signals the child if it has not been reaped yet (so its pid is still ours).
fn deliver(child: &mut Child, signal: Signal) {
    if !matches!(child.try_wait(), Ok(None)) {
        return;
    }
    let Some(pid) = child.id().and_then(|id| i32::try_from(id).ok()) else {
        return;
    };
    if let Err(errno) = kill(Pid::from_raw(pid), signal) {
        tracing::warn!(pid, %signal, %errno, "could not signal Envoy");
    }
}
