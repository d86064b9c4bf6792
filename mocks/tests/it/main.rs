//! End-to-end checks of the mocks over real loopback sockets: one test binary, a module per
//! surface (the `serve` function, chaos, upstreams and their lifecycle, the standalone
//! binary).

mod binary;
mod chaos;
mod grpc_binary;
mod lifecycle;
mod serve;
mod support;
mod upstream;
