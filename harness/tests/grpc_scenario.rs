//! gRPC in the scenario format, without Envoy: the request message encoded once from a
//! descriptor set built here (prost-types, as `protoc --descriptor_set_out` would write
//! it), errors that point into the request, and the gRPC model fields.

mod common;

use std::path::{Path, PathBuf};

use gauntlet::scenario::{self, LoadProtocol, Scenario, UpstreamProtocol};
use prost_reflect::prost::Message;
use prost_reflect::prost_types::field_descriptor_proto::{Label, Type};
use prost_reflect::prost_types::{
    DescriptorProto, FieldDescriptorProto, FileDescriptorProto, FileDescriptorSet,
    MethodDescriptorProto, ServiceDescriptorProto,
};
use prost_reflect::{DescriptorPool, DynamicMessage, Value};

fn field(name: &str, number: i32, ty: Type, label: Label, type_name: &str) -> FieldDescriptorProto {
    FieldDescriptorProto {
        name: Some(name.into()),
        number: Some(number),
        r#type: Some(ty as i32),
        label: Some(label as i32),
        type_name: (!type_name.is_empty()).then(|| type_name.into()),
        json_name: Some(name.into()),
        ..Default::default()
    }
}

fn method(name: &str, streaming: bool) -> MethodDescriptorProto {
    MethodDescriptorProto {
        name: Some(name.into()),
        input_type: Some(".shop.v1.Order".into()),
        output_type: Some(".shop.v1.Receipt".into()),
        server_streaming: Some(streaming),
        ..Default::default()
    }
}

/// `shop.proto`: `Checkout.PlaceOrder(Order) returns (Receipt)` and a streaming `Watch`.
fn descriptor_set() -> FileDescriptorSet {
    let item = DescriptorProto {
        name: Some("Item".into()),
        field: vec![
            field("sku", 1, Type::String, Label::Optional, ""),
            field("quantity", 2, Type::Int32, Label::Optional, ""),
        ],
        ..Default::default()
    };
    let order = DescriptorProto {
        name: Some("Order".into()),
        field: vec![
            field("items", 1, Type::Message, Label::Repeated, ".shop.v1.Item"),
            field("note", 2, Type::String, Label::Optional, ""),
        ],
        ..Default::default()
    };
    let receipt = DescriptorProto {
        name: Some("Receipt".into()),
        ..Default::default()
    };
    let file = FileDescriptorProto {
        name: Some("shop.proto".into()),
        package: Some("shop.v1".into()),
        message_type: vec![item, order, receipt],
        service: vec![ServiceDescriptorProto {
            name: Some("Checkout".into()),
            method: vec![method("PlaceOrder", false), method("Watch", true)],
            ..Default::default()
        }],
        syntax: Some("proto3".into()),
        ..Default::default()
    };
    FileDescriptorSet { file: vec![file] }
}

/// A scratch directory holding `api.pb` and `scenario.yaml` with this `grpc:` mapping.
fn scenario_with(name: &str, grpc: &str) -> (PathBuf, Result<Scenario, scenario::ScenarioError>) {
    let dir = common::scratch(&format!("grpc-scenario-{name}"));
    std::fs::write(dir.join("api.pb"), descriptor_set().encode_to_vec()).unwrap();
    let yaml = format!(
        "name: shop
upstreams:
  checkout: {{ protocol: grpc }}
load:
  protocol: grpc
  rate: 10/s
  duration: 1s
  grpc:
{grpc}
"
    );
    let path = common::scenario_file(&dir, &yaml);
    let parsed = scenario::load(&path);
    (dir, parsed)
}

fn error_of(name: &str, grpc: &str) -> String {
    let (_, parsed) = scenario_with(name, grpc);
    let e = parsed.expect_err("should be refused");
    let pos = format!("{}:{}", e.line.unwrap_or(0), e.column.unwrap_or(0));
    format!(
        "{pos} {}: {} (hint: {})",
        e.field.as_deref().unwrap_or("-"),
        e.message,
        e.hint.as_deref().unwrap_or("")
    )
}

#[test]
fn the_request_is_encoded_once_with_the_descriptor_set() {
    let (_, parsed) = scenario_with(
        "good",
        "    method: shop.v1.Checkout/PlaceOrder
    descriptor_set: api.pb
    deadline: 250ms
    request:
      items: [{ sku: A-1, quantity: 2 }, { sku: B-7, quantity: 1 }]
      note: gift",
    );
    let s = parsed.expect("valid");
    let call = s.load.grpc.as_ref().expect("a gRPC call");
    assert_eq!(call.path, "/shop.v1.Checkout/PlaceOrder");
    assert_eq!(
        s.load.request.path, call.path,
        "the route check sees the method"
    );
    assert_eq!(s.load.request.method, "POST");
    assert_eq!(call.deadline, Some(std::time::Duration::from_millis(250)));
    assert_eq!(call.message_bytes, call.message.len());
    // Decoding the bytes with the same descriptor gives the request back.
    let pool = DescriptorPool::from_file_descriptor_set(descriptor_set()).unwrap();
    let order = pool.get_message_by_name("shop.v1.Order").unwrap();
    let decoded = DynamicMessage::decode(order, &call.message[..]).unwrap();
    assert_eq!(
        decoded.get_field_by_name("note").unwrap().as_str(),
        Some("gift")
    );
    let items = decoded.get_field_by_name("items").unwrap();
    let items = items.as_list().unwrap();
    assert_eq!(items.len(), 2);
    let first = items[0].as_message().unwrap();
    assert_eq!(
        first.get_field_by_name("sku").unwrap().as_str(),
        Some("A-1")
    );
    assert_eq!(
        first.get_field_by_name("quantity").unwrap().into_owned(),
        Value::I32(2)
    );
}

#[test]
fn requests_that_do_not_fit_point_at_the_field() {
    let e = error_of(
        "bad-type",
        "    method: shop.v1.Checkout/PlaceOrder
    descriptor_set: api.pb
    request:
      items:
        - { sku: A-1, quantity: lots }",
    );
    assert!(
        e.starts_with("13:33 load.grpc.request.items[0].quantity: "),
        "{e}"
    );
    assert!(e.contains("does not fit message `shop.v1.Order`"), "{e}");
    let e = error_of(
        "unknown-field",
        "    method: shop.v1.Checkout/PlaceOrder
    descriptor_set: api.pb
    request: { colour: red }",
    );
    assert!(e.contains("load.grpc.request"), "{e}");
    assert!(e.contains("colour"), "{e}");
    assert!(e.contains("its fields: items, note"), "{e}");
}

#[test]
fn methods_must_be_unary_and_in_the_set() {
    let e = error_of(
        "no-service",
        "    method: shop.v1.Cart/Add
    descriptor_set: api.pb",
    );
    assert!(
        e.starts_with("9:13 load.grpc.method: service `shop.v1.Cart` is not in"),
        "{e}"
    );
    assert!(e.contains("its services: shop.v1.Checkout"), "{e}");
    let e = error_of(
        "no-method",
        "    method: shop.v1.Checkout/Place
    descriptor_set: api.pb",
    );
    assert!(e.contains("has no method `Place`"), "{e}");
    assert!(e.contains("its methods: PlaceOrder, Watch"), "{e}");
    let e = error_of(
        "streaming",
        "    method: shop.v1.Checkout/Watch
    descriptor_set: api.pb",
    );
    assert!(e.contains("is a streaming method"), "{e}");
    let e = error_of(
        "not-a-set",
        "    method: shop.v1.Checkout/PlaceOrder
    descriptor_set: scenario.yaml",
    );
    assert!(e.contains("is not a descriptor set"), "{e}");
}

#[test]
fn grpc_upstreams_and_load_in_the_model() {
    let s = scenario::parse(
        "name: g
upstreams:
  pay:
    protocol: grpc
    responses: { OK: 90%, 14: 5%, resource-exhausted: 5% }
timeline:
  - { at: 1s, upstream: pay, set: { responses: { unavailable: 100% } } }
load: { protocol: grpc, concurrency: 25, streams: 10, duration: 2s }
",
        Path::new("g.yaml"),
    )
    .expect("valid");
    let up = &s.upstreams[0];
    assert_eq!(up.protocol, UpstreamProtocol::Grpc);
    let mix = up.behavior.grpc.as_ref().expect("a gRPC mix");
    assert_eq!(
        mix.0.iter().map(|(c, _)| *c).collect::<Vec<_>>(),
        [0, 14, 8]
    );
    assert_eq!(s.load.protocol, LoadProtocol::Grpc);
    assert_eq!(s.load.connections, 3, "25 calls at 10 streams a connection");
    assert_eq!(s.load.request.path, scenario::GRPC_MOCK_METHOD);
    assert!(s.load.grpc.as_ref().unwrap().message.is_empty());
    // A gRPC upstream with no `responses` answers OK; its events take gRPC codes only.
    let plain = scenario::parse(
        "name: g
upstreams:
  pay: { protocol: grpc }
timeline:
  - { at: 1s, upstream: pay, set: { responses: { 503: 100% } } }
load: { protocol: grpc, rate: 10/s, duration: 2s }
",
        Path::new("g.yaml"),
    )
    .expect_err("HTTP statuses on a gRPC upstream");
    assert!(
        plain
            .message
            .contains("HTTP status codes on a gRPC upstream"),
        "{plain}"
    );
}
