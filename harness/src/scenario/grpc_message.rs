//! `load.grpc.request` → protobuf bytes, once, with the method's input type from a
//! descriptor set (prost-reflect). Errors point at the field of the request that does not
//! fit the message.

use std::path::Path;

use prost_reflect::prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, MethodDescriptor};

use super::check::{shorten, Ctx};
use super::locate::FieldPath;

/// Encodes `request` (absent: the empty message) as the input message of `method`
/// (`/package.Service/Method`) from the descriptor set in `file`.
pub(crate) fn encode(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    file: &Path,
    method: &str,
    request: Option<&serde_yaml::Value>,
) -> Option<Vec<u8>> {
    let set_path = path.key("descriptor_set");
    let pool = match std::fs::read(file)
        .map_err(|e| e.to_string())
        .and_then(|bytes| DescriptorPool::decode(&bytes[..]).map_err(|e| e.to_string()))
    {
        Ok(pool) => pool,
        Err(e) => {
            ctx.err(
                &set_path,
                format!("`{}` is not a descriptor set: {e}", file.display()),
                "make one with `protoc --include_imports --descriptor_set_out=api.pb your.proto`",
            );
            return None;
        }
    };
    let descriptor = find_method(ctx, &path.key("method"), &pool, method)?;
    let input = descriptor.input();
    let Some(request) = request else {
        return Some(Vec::new());
    };
    let req_path = path.key("request");
    let json = match serde_json::to_value(request) {
        Ok(json) => json,
        Err(e) => {
            ctx.err(
                &req_path,
                format!("the request cannot be read as JSON: {e}"),
                "write the message as a mapping of field names to values",
            );
            return None;
        }
    };
    let mut track = serde_path_to_error::Track::new();
    let de = serde_path_to_error::Deserializer::new(json, &mut track);
    match DynamicMessage::deserialize(input.clone(), de) {
        Ok(message) => Some(message.encode_to_vec()),
        Err(e) => {
            let tracked = track.path();
            let at = field_path(&req_path, &tracked);
            let field = tracked.to_string();
            let shown = if field == "." {
                String::new()
            } else {
                format!("`{field}`: ")
            };
            ctx.err(
                &at,
                format!(
                    "the request does not fit message `{}`: {shown}{e}",
                    input.full_name()
                ),
                format!(
                    "write the fields of `{}` in protobuf's JSON form (its fields: {})",
                    input.full_name(),
                    shorten(
                        &input
                            .fields()
                            .map(|f| f.json_name().to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                ),
            );
            None
        }
    }
}

/// The method `/package.Service/Method` in the pool, or an error naming what is there.
fn find_method(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    pool: &DescriptorPool,
    method: &str,
) -> Option<MethodDescriptor> {
    let (service, name) = method.trim_start_matches('/').split_once('/')?;
    let Some(svc) = pool.get_service_by_name(service) else {
        let services: Vec<String> = pool.services().map(|s| s.full_name().to_string()).collect();
        ctx.err(
            path,
            format!("service `{service}` is not in the descriptor set"),
            if services.is_empty() {
                "the descriptor set declares no service: build it from the .proto that does"
                    .to_string()
            } else {
                format!("its services: {}", shorten(&services.join(", ")))
            },
        );
        return None;
    };
    let found = svc.methods().find(|m| m.name() == name);
    if found.is_none() {
        let methods: Vec<String> = svc.methods().map(|m| m.name().to_string()).collect();
        ctx.err(
            path,
            format!("service `{service}` has no method `{name}`"),
            format!("its methods: {}", shorten(&methods.join(", "))),
        );
        return None;
    }
    if let Some(m) = &found {
        if m.is_client_streaming() || m.is_server_streaming() {
            ctx.err(
                path,
                format!("`{service}/{name}` is a streaming method"),
                "Gauntlet calls unary methods; pick one without `stream`",
            );
            return None;
        }
    }
    found
}

/// The scenario path of the request field serde stopped at, so the error points into the
/// YAML there.
fn field_path(base: &FieldPath, at: &serde_path_to_error::Path) -> FieldPath {
    use serde_path_to_error::Segment;
    at.iter().fold(base.clone(), |p, segment| match segment {
        Segment::Seq { index } => p.index(*index),
        Segment::Map { key } => p.key(key.clone()),
        Segment::Enum { variant } => p.key(variant.clone()),
        Segment::Unknown => p,
    })
}
