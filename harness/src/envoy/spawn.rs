//! Spawning children that die with Gauntlet.
//!
//! A child gets `PR_SET_PDEATHSIG(SIGKILL)`, so the kernel kills it if Gauntlet dies, even by
//! SIGKILL. That signal fires when the *thread* that forked the child exits, not the process:
//! a child forked from a tokio blocking-pool thread (which exits after 10 s idle) or from a
//! test's thread would be killed too early. So every child is forked from one dedicated
//! thread that lives as long as the process: callers send it the command and get the child
//! back over a oneshot channel. The command is spawned inside the caller's runtime context so
//! that the runtime's process driver reaps the child.

use std::io;
use std::sync::mpsc;
use std::sync::OnceLock;

use nix::errno::Errno;
use nix::sys::prctl;
use nix::sys::signal::Signal;
use nix::unistd::{getpid, getppid};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send>;

/// The sending side of the spawner thread's queue; the thread is started on first use.
fn spawner() -> &'static mpsc::Sender<Job> {
    static SPAWNER: OnceLock<mpsc::Sender<Job>> = OnceLock::new();
    SPAWNER.get_or_init(|| {
        let (jobs, queue) = mpsc::channel::<Job>();
        let started = std::thread::Builder::new()
            .name("gauntlet-spawner".into())
            .spawn(move || queue.into_iter().for_each(|job| job()));
        if let Err(error) = started {
            // The queue's receiver is gone with the closure: every spawn then fails clearly.
            tracing::error!(%error, "could not start the process spawner thread");
        }
        jobs
    })
}

/// Spawns `command` in its own process group with a parent-death SIGKILL, from the
/// long-lived spawner thread, registered with the current tokio runtime.
pub(crate) async fn spawn_child(mut command: Command) -> io::Result<Child> {
    // Our own process group: a Ctrl-C in the terminal reaches Gauntlet only, which then stops
    // Envoy in order.
    command.process_group(0);
    let parent = getpid();
    // SAFETY: the closure runs in the forked child before exec, where only async-signal-safe
    // calls are allowed. It makes two system calls (prctl, getppid), does not allocate (an
    // io::Error from an errno is not boxed) and touches no lock. Comparing getppid with the
    // pid captured before the fork closes the race where Gauntlet died before prctl took
    // effect: the child was then reparented, and returning an error makes it _exit at once.
    unsafe {
        command.pre_exec(move || {
            prctl::set_pdeathsig(Signal::SIGKILL)?;
            if getppid() != parent {
                return Err(Errno::ESRCH.into());
            }
            Ok(())
        });
    }

    let runtime = tokio::runtime::Handle::current();
    let (reply, child) = oneshot::channel();
    let job: Job = Box::new(move || {
        let _context = runtime.enter();
        let _ = reply.send(command.spawn());
    });
    let gone = || io::Error::other("the process spawner thread is gone");
    spawner().send(job).map_err(|_| gone())?;
    child.await.map_err(|_| gone())?
}
