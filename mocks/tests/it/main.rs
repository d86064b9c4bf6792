//! End-to-end checks of the mocks over real loopback sockets: one test binary, a module per
//! surface (the `serve` function, upstreams, the standalone binary).

mod binary;
mod serve;
mod support;
mod upstream;
