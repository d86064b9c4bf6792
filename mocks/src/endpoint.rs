//! One mock endpoint's shared state: the behaviour it serves right now, prepared for the hot
//! path, and its counters.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use rand::Rng;

use crate::chaos::ChaosTable;
use crate::counters::Counters;
use crate::grpc::GrpcTable;
use crate::sample::{LatencySampler, StatusTable};
use crate::{Behavior, MockError};

/// Bodies up to this size are slices of one static buffer: cloning such a `Bytes` copies a
/// pointer and touches no shared reference count, so many cores can serve it without
/// contending on a cache line.
const STATIC_BODY_BYTES: usize = 64 * 1024;
static FILL: [u8; STATIC_BODY_BYTES] = [b'x'; STATIC_BODY_BYTES];

/// Which endpoint of which upstream this is; sent back in the `x-gauntlet-*` headers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EndpointId {
    /// The upstream (Envoy cluster) the endpoint belongs to.
    pub upstream: String,
    /// The endpoint's position in the upstream, from 0.
    pub index: u32,
}

/// A validated [`Behavior`] with everything a request needs precomputed, so serving one
/// allocates no body and takes no lock.
#[derive(Debug)]
pub struct Prepared {
    behavior: Behavior,
    body: Bytes,
    latency: LatencySampler,
    statuses: StatusTable,
    chaos: ChaosTable,
    chaos_enabled: bool,
    grpc: Option<GrpcTable>,
}

impl Prepared {
    /// Validates `behavior` and builds its body and sampling tables.
    pub fn new(behavior: Behavior) -> Result<Self, MockError> {
        behavior.validate()?;
        let latency = LatencySampler::new(&behavior.latency)?;
        let statuses = StatusTable::new(&behavior.statuses)?;
        let chaos = ChaosTable::new(&behavior.chaos)?;
        let chaos_enabled = !behavior.chaos.is_off();
        let grpc = match &behavior.grpc {
            Some(mix) => Some(GrpcTable::new(mix, behavior.body_bytes)?),
            None => None,
        };
        let n = behavior.body_bytes;
        let body = match FILL.get(..n) {
            Some(slice) => Bytes::from_static(slice),
            None => Bytes::from(vec![b'x'; n]),
        };
        Ok(Self {
            behavior,
            body,
            latency,
            statuses,
            chaos,
            chaos_enabled,
            grpc,
        })
    }

    /// The gRPC statuses and message, when the endpoint answers as a gRPC method.
    #[inline]
    pub fn grpc(&self) -> Option<&GrpcTable> {
        self.grpc.as_ref()
    }

    /// The behaviour as given.
    pub fn behavior(&self) -> &Behavior {
        &self.behavior
    }

    /// The response body, shared by every response.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The latency distribution, ready to sample.
    pub fn latency(&self) -> &LatencySampler {
        &self.latency
    }

    /// Draws a delay for one request.
    #[inline]
    pub fn sample_latency<R: Rng + ?Sized>(&self, rng: &mut R) -> Duration {
        self.latency.sample(rng)
    }

    /// Draws a status for one request.
    #[inline]
    pub fn sample_status<R: Rng + ?Sized>(&self, rng: &mut R) -> StatusCode {
        self.statuses.sample(rng)
    }

    /// True when the behaviour has any [`Chaos`](crate::Chaos). Checked first on every
    /// request, so that without chaos a request costs one branch more and no draw.
    #[inline]
    pub fn chaos_enabled(&self) -> bool {
        self.chaos_enabled
    }

    /// The chaos thresholds; all zero when [`Prepared::chaos_enabled`] is false.
    #[inline]
    pub(crate) fn chaos(&self) -> &ChaosTable {
        &self.chaos
    }
}

/// Everything a running endpoint shares between its connections. The behaviour is swapped
/// whole through `ArcSwap`, so a request sees either the old or the new one, never a mix.
#[derive(Debug)]
pub struct EndpointState {
    /// The behaviour served right now.
    pub behavior: ArcSwap<Prepared>,
    /// What the endpoint has seen.
    pub counters: Counters,
    /// Who the endpoint is.
    pub id: EndpointId,
    upstream_header: HeaderValue,
    endpoint_header: HeaderValue,
}

impl EndpointState {
    /// Validates the name and the behaviour and builds the state of a fresh endpoint.
    pub fn new(id: EndpointId, behavior: Behavior) -> Result<Self, MockError> {
        let prepared = Prepared::new(behavior)?;
        Self::with_prepared(id, Arc::new(prepared))
    }

    /// Like [`EndpointState::new`] with a behaviour already prepared, so an upstream can
    /// share one `Prepared` between its endpoints.
    pub fn with_prepared(id: EndpointId, prepared: Arc<Prepared>) -> Result<Self, MockError> {
        let upstream_header = upstream_header_value(&id.upstream)?;
        let endpoint_header = HeaderValue::from(id.index);
        Ok(Self {
            behavior: ArcSwap::new(prepared),
            counters: Counters::default(),
            id,
            upstream_header,
            endpoint_header,
        })
    }

    /// Validates and installs a new behaviour; requests already waiting keep the old one.
    pub fn set_behavior(&self, behavior: Behavior) -> Result<(), MockError> {
        self.set_prepared(Arc::new(Prepared::new(behavior)?));
        Ok(())
    }

    /// Installs a behaviour that is already prepared.
    pub fn set_prepared(&self, prepared: Arc<Prepared>) {
        self.behavior.store(prepared);
    }

    /// A copy of the behaviour served right now.
    pub fn current_behavior(&self) -> Behavior {
        self.behavior.load().behavior().clone()
    }

    /// The `x-gauntlet-upstream` header value.
    pub fn upstream_header(&self) -> &HeaderValue {
        &self.upstream_header
    }

    /// The `x-gauntlet-endpoint` header value.
    pub fn endpoint_header(&self) -> &HeaderValue {
        &self.endpoint_header
    }
}

/// Checks that an upstream name can travel in a header, and makes the header value.
pub(crate) fn upstream_header_value(name: &str) -> Result<HeaderValue, MockError> {
    let invalid = |reason| MockError::InvalidName {
        name: name.to_string(),
        reason,
    };
    if name.is_empty() {
        return Err(invalid("it is empty"));
    }
    if !name.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid("use visible ASCII without spaces"));
    }
    HeaderValue::from_str(name).map_err(|_| invalid("it is not a valid header value"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Latency, StatusMix};

    fn id(name: &str) -> EndpointId {
        EndpointId {
            upstream: name.into(),
            index: 3,
        }
    }

    #[test]
    fn bodies_small_and_large() {
        for n in [
            0,
            1,
            1024,
            STATIC_BODY_BYTES,
            STATIC_BODY_BYTES + 1,
            300_000,
        ] {
            let p = Prepared::new(Behavior {
                body_bytes: n,
                ..Behavior::default()
            })
            .unwrap();
            assert_eq!(p.body().len(), n);
            assert!(p.body().iter().all(|&b| b == b'x'));
        }
    }

    #[test]
    fn swap_replaces_the_whole_behavior() {
        let state = EndpointState::new(id("backend"), Behavior::default()).unwrap();
        assert_eq!(state.upstream_header(), "backend");
        assert_eq!(state.endpoint_header(), "3");
        let next = Behavior {
            latency: Latency::Fixed(Duration::from_millis(5)),
            statuses: StatusMix::always(503),
            body_bytes: 7,
            chaos: crate::Chaos {
                close: 0.5,
                ..crate::Chaos::default()
            },
            grpc: None,
        };
        assert!(!state.behavior.load().chaos_enabled());
        state.set_behavior(next.clone()).unwrap();
        assert_eq!(state.current_behavior(), next);
        assert!(state.behavior.load().chaos_enabled());
        let bad = Behavior {
            statuses: StatusMix(vec![(200, 0.5)]),
            ..Behavior::default()
        };
        assert!(state.set_behavior(bad).is_err());
        assert_eq!(
            state.current_behavior(),
            next,
            "a refused swap changes nothing"
        );
    }

    #[test]
    fn names_must_fit_in_a_header() {
        for bad in ["", "two words", "tab\there", "ünïcode"] {
            assert!(
                EndpointState::new(id(bad), Behavior::default()).is_err(),
                "{bad:?}"
            );
        }
    }
}
