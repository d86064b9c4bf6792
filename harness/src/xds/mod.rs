//! The xDS control plane: the only module that knows Envoy protos.
