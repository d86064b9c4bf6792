//! The file's shape as serde reads it, before any check.
//!
//! Every field is optional here so that a missing field is reported by the validator, with
//! a position and a hint, rather than by serde. Values with units (`5ms`, `1KiB`, `97%`,
//! `2000/s`) are read as [`Scalar`]s and parsed by the validator. Unknown fields are
//! rejected at every level. The policy sections' types are in `raw_policy`.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::patch::OneOrMany;
use super::patch::Patch;
use super::raw_policy::{RawCluster, RawFault, RawMirror, RawPercentage, RawRateLimit, RawRetries};

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawScenario {
    pub name: Option<Scalar>,
    pub phase: Option<Scalar>,
    pub envoy: Option<RawEnvoy>,
    pub upstreams: Option<OrderedMap<Scalar, Option<RawUpstream>>>,
    pub routes: Option<Vec<RawRoute>>,
    /// Policies of upstreams' clusters, keyed by upstream name.
    pub clusters: Option<OrderedMap<Scalar, Option<RawCluster>>>,
    pub load: Option<RawLoad>,
    pub baseline: Option<bool>,
    pub timeline: Option<Vec<RawEvent>>,
    /// Gate expressions; any YAML value, so that a gate YAML reads as a mapping (an
    /// unquoted `: `) gets a clear message.
    pub gates: Option<Vec<serde_yaml::Value>>,
    /// The service under test of `phase: single-service`.
    pub service: Option<super::service::RawService>,
    /// The services of `phase: integration`, by name, in file order.
    pub services: Option<OrderedMap<Scalar, Option<super::integration::RawNode>>>,
    /// A stored run whose hops the report puts beside this run's.
    pub compare_with: Option<Scalar>,
    /// Sizing sections (`scenario::sizing`).
    pub sweep: Option<super::sizing::RawSweep>,
    pub capacity: Option<super::sizing::RawCapacity>,
    pub find_max_rps: Option<super::sizing::RawFindMax>,
    /// Mock upstreams in containers (`scenario::mocks`).
    pub mocks: Option<super::mocks::RawMocks>,
}

/// A file with several phases (`scenario::plan`): `name`, `phases`, and any other top-level
/// field, kept to be refused with a message that says where it belongs.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawPlan {
    pub name: Option<Scalar>,
    /// Each entry is a whole scenario body.
    pub phases: Option<Vec<RawScenario>>,
    #[serde(flatten)]
    pub other: OrderedMap<Scalar, serde::de::IgnoredAny>,
}

/// `envoy:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEnvoy {
    pub version: Option<Scalar>,
    pub binary: Option<Scalar>,
    pub concurrency: Option<i64>,
    pub log_level: Option<Scalar>,
    pub listen_port: Option<i64>,
    /// Container launcher (`scenario::container`).
    pub image: Option<Scalar>,
    pub cpus: Option<Scalar>,
    pub memory: Option<Scalar>,
}

/// One entry of `upstreams:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawUpstream {
    pub endpoints: Option<i64>,
    pub protocol: Option<Scalar>,
    /// `5ms`, or `{ fixed: 5ms }`, `{ uniform: [1ms, 5ms] }`, `{ p50: 5ms, p99: 40ms }`.
    pub latency: Option<serde_yaml::Value>,
    pub responses: Option<OrderedMap<Scalar, Scalar>>,
    pub body: Option<Scalar>,
    #[serde(default)]
    pub chaos: Patch<RawChaos>,
    pub connect_timeout: Option<Scalar>,
}

/// The behaviour fields of an upstream event's `set:`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawBehavior {
    pub latency: Option<serde_yaml::Value>,
    pub responses: Option<OrderedMap<Scalar, Scalar>>,
    pub body: Option<Scalar>,
    pub chaos: Patch<RawChaos>,
}

/// `chaos:` of an upstream: shares of requests that hang, are reset, or close their
/// connection, and a slow body.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawChaos {
    pub hang: Option<Scalar>,
    pub reset: Option<Scalar>,
    pub close: Option<Scalar>,
    pub slow_body: Patch<RawSlowBody>,
}

/// `chaos.slow_body:`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawSlowBody {
    pub chunk_bytes: Option<Scalar>,
    pub interval: Option<Scalar>,
}

/// One entry of `routes:`, and the `set:` of a route event. Every policy field is a
/// [`Patch`] so that an event can remove it. (serde cannot flatten with
/// `deny_unknown_fields`, hence one struct with every field.)
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawRoute {
    pub name: Option<Scalar>,
    #[serde(rename = "match")]
    pub matcher: Option<RawMatch>,
    pub cluster: Option<Scalar>,
    pub weighted: Option<OrderedMap<Scalar, i64>>,
    pub timeout: Patch<Scalar>,
    pub idle_timeout: Patch<Scalar>,
    pub retries: Patch<RawRetries>,
    pub mirror: Patch<OneOrMany<RawMirror>>,
    /// Istio's `mirrorPercentage: { value: 50 }`, beside `mirror`.
    #[serde(rename = "mirrorPercentage")]
    pub mirror_percentage: Patch<RawPercentage>,
    pub fault: Patch<RawFault>,
    pub rate_limit: Patch<RawRateLimit>,
}

/// `match:` of a route.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMatch {
    pub prefix: Option<Scalar>,
    pub path: Option<Scalar>,
    /// Header name → `value` (exact), `{ exact }`, `{ prefix }`, `present` or `absent`.
    pub headers: Option<OrderedMap<Scalar, serde_yaml::Value>>,
}

/// `load:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLoad {
    pub protocol: Option<Scalar>,
    pub rate: Option<Scalar>,
    pub concurrency: Option<i64>,
    pub connections: Option<i64>,
    pub duration: Option<Scalar>,
    pub warmup: Option<Scalar>,
    pub timeout: Option<Scalar>,
    pub workers: Option<i64>,
    pub request: Option<RawRequest>,
    /// Streams per HTTP/2 connection (`scenario::grpc`).
    pub streams: Option<i64>,
    /// The gRPC call (`scenario::grpc`).
    pub grpc: Option<super::grpc::RawGrpc>,
}

/// `load.request:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRequest {
    pub method: Option<Scalar>,
    pub path: Option<Scalar>,
    pub headers: Option<OrderedMap<Scalar, Scalar>>,
    pub body: Option<Scalar>,
}

/// One entry of `timeline:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEvent {
    pub at: Option<Scalar>,
    pub name: Option<Scalar>,
    pub route: Option<Scalar>,
    pub cluster: Option<Scalar>,
    pub upstream: Option<Scalar>,
    pub endpoints: Option<Vec<i64>>,
    /// Read as [`RawRoute`], [`RawCluster`] or [`RawBehavior`] once the kind of event is
    /// known, so each kind reports its own unknown fields.
    pub set: Option<serde_yaml::Value>,
    pub down: Option<bool>,
    pub up: Option<bool>,
    pub scale: Option<i64>,
}

// === impl Scalar ===

/// A YAML scalar of any type, kept as written as far as serde allows.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar {
    Str(String),
    Int(i128),
    Float(f64),
    Bool(bool),
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scalar::Str(s) => f.write_str(s),
            Scalar::Int(n) => write!(f, "{n}"),
            Scalar::Float(x) => write!(f, "{x}"),
            Scalar::Bool(b) => write!(f, "{b}"),
        }
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;

        impl Visitor<'_> for ScalarVisitor {
            type Value = Scalar;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a single value (a string or a number)")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar::Bool(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar::Int(v.into()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar::Int(v.into()))
            }
            fn visit_i128<E: de::Error>(self, v: i128) -> Result<Scalar, E> {
                Ok(Scalar::Int(v))
            }
            fn visit_u128<E: de::Error>(self, v: u128) -> Result<Scalar, E> {
                Ok(i128::try_from(v).map_or_else(|_| Scalar::Str(v.to_string()), Scalar::Int))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar::Float(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar::Str(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar, E> {
                Ok(Scalar::Str(v))
            }
        }

        deserializer.deserialize_any(ScalarVisitor)
    }
}

// === impl OrderedMap ===

/// A mapping read in file order. Used where the keys are names the user chose (upstreams,
/// status codes, headers), whose order matters. Duplicate keys are refused by the locator,
/// which sees the file before serde does.
#[derive(Debug, Clone)]
pub(crate) struct OrderedMap<K, V>(pub Vec<(K, V)>);

impl<K, V> Default for OrderedMap<K, V> {
    fn default() -> Self {
        OrderedMap(Vec::new())
    }
}

impl<'de, K, V> Deserialize<'de> for OrderedMap<K, V>
where
    K: Deserialize<'de>,
    V: Deserialize<'de>,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor<K, V>(PhantomData<(K, V)>);

        impl<'de, K, V> Visitor<'de> for MapVisitor<K, V>
        where
            K: Deserialize<'de>,
            V: Deserialize<'de>,
        {
            type Value = OrderedMap<K, V>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries: Vec<(K, V)> = Vec::new();
                while let Some(key) = map.next_key::<K>()? {
                    let value = map.next_value()?;
                    entries.push((key, value));
                }
                Ok(OrderedMap(entries))
            }
        }

        deserializer.deserialize_map(MapVisitor(PhantomData))
    }
}
