//! Envoy provisioning, lifecycle and admin client.
