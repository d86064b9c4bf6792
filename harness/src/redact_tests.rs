use serde_json::json;

use super::*;

#[test]
fn secret_names_are_recognised_whatever_their_spelling() {
    for name in [
        "Authorization",
        "proxy-authorization",
        "Cookie",
        "Set-Cookie",
        "X-Api-Key",
        "API_KEY",
        "apikey",
        "GITHUB_TOKEN",
        "x-auth-token",
        "DB_PASSWORD",
        "passwd",
        "AWS_SECRET_ACCESS_KEY",
        "session-id",
        "X-Amz-Signature",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "private.pem",
    ] {
        assert!(is_secret_name(name), "{name} should be secret");
    }
    for name in [
        "content-type",
        "x-request-id",
        "user-agent",
        "end-user",
        "x-canary",
        "PATH",
        "RUST_LOG",
        "PORT",
    ] {
        assert!(!is_secret_name(name), "{name} should not be secret");
    }
}

#[test]
fn request_header_pairs_are_redacted_and_remembered() {
    let mut v = json!({
        "load": { "request": { "method": "GET", "headers": [
            ["authorization", "Bearer s3cr3t-t0ken"],
            ["x-request-id", "abc-123"],
            ["Cookie", "sid=0123456789"],
        ] } }
    });
    let secrets = redact_scenario(&mut v);
    assert_eq!(
        v["load"]["request"]["headers"],
        json!([
            ["authorization", REDACTED],
            ["x-request-id", "abc-123"],
            ["Cookie", REDACTED],
        ])
    );
    assert_eq!(v["load"]["request"]["method"], "GET");
    assert_eq!(
        secrets.scrub("got Bearer s3cr3t-t0ken and sid=0123456789"),
        "got <redacted> and <redacted>"
    );
}

#[test]
fn environment_maps_and_named_entries_are_redacted() {
    let mut v = json!({
        "services": [{
            "name": "auth-service",
            "command": ["./server", "--port", "8080"],
            "env": { "DB_PASSWORD": "hunter2hunter2", "RUST_LOG": "debug", "PIN_KEY": 123456 },
        }],
        "routes": [{ "match": { "headers": [
            { "name": "authorization", "value": { "exact": "Bearer abcdefgh" } },
            { "name": "x-debug", "value": "present" },
            { "name": "cookie", "value": "absent" },
        ] } }],
    });
    let secrets = redact_scenario(&mut v);
    let env = &v["services"][0]["env"];
    assert_eq!(env["DB_PASSWORD"], REDACTED);
    assert_eq!(env["PIN_KEY"], REDACTED);
    assert_eq!(env["RUST_LOG"], "debug");
    // The service's own name contains `auth` but is not an entry of a collection.
    assert_eq!(v["services"][0]["name"], "auth-service");
    let headers = &v["routes"][0]["match"]["headers"];
    assert_eq!(headers[0]["value"]["exact"], REDACTED);
    assert_eq!(headers[0]["name"], "authorization");
    assert_eq!(headers[1]["value"], "present");
    // Presence and absence hide nothing, and those words are not scrubbed elsewhere.
    assert_eq!(headers[2]["value"], "absent");
    assert_eq!(secrets.scrub("header absent"), "header absent");
    assert_eq!(secrets.scrub("x 123456 y"), "x <redacted> y");
    assert_eq!(secrets.scrub("pw hunter2hunter2"), "pw <redacted>");
}

#[test]
fn format_field_names_are_never_redacted() {
    let mut v = json!({
        "rate_limit": { "max_tokens": 100, "tokens_per_fill": 10 },
        "session": "not-a-collection",
    });
    let before = v.clone();
    assert!(redact_scenario(&mut v).is_empty());
    assert_eq!(v, before);
}

#[test]
fn short_values_are_redacted_but_not_scrubbed_from_text() {
    let mut v = json!({ "headers": { "x-api-key": "abc" } });
    let secrets = redact_scenario(&mut v);
    assert_eq!(v["headers"]["x-api-key"], REDACTED);
    assert!(secrets.is_empty());
    assert_eq!(secrets.scrub("abc"), "abc");
}

#[test]
fn scrubbing_json_skips_histograms_and_reaches_every_string() {
    let mut v = json!({ "headers": { "authorization": "Bearer zzzzzzzz" } });
    let secrets = redact_scenario(&mut v);
    let mut result = json!({
        "error": "Envoy rejected header Bearer zzzzzzzz",
        "windows": [{ "histogram": "HISTBearer zzzzzzzz", "n": 1 }],
        "events": [{ "error": null }],
    });
    secrets.scrub_json(&mut result);
    assert_eq!(result["error"], "Envoy rejected header <redacted>");
    assert_eq!(result["windows"][0]["histogram"], "HISTBearer zzzzzzzz");
}

#[test]
fn the_longest_secret_is_replaced_whole() {
    let mut v = json!({ "env": { "TOKEN": "abcdef", "SECRET": "abcdef-and-more" } });
    let secrets = redact_scenario(&mut v);
    assert_eq!(secrets.scrub("abcdef-and-more"), REDACTED);
}

#[test]
fn files_are_scrubbed_in_place_and_missing_ones_are_fine() {
    let dir = std::env::temp_dir().join(format!("gauntlet-redact-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("envoy.log");
    std::fs::write(&log, "'authorization', 'Bearer qwertyuiop'\n").unwrap();
    let mut v = json!({ "headers": [["authorization", "Bearer qwertyuiop"]] });
    let secrets = redact_scenario(&mut v);
    secrets.scrub_file(&log).unwrap();
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "'authorization', '<redacted>'\n"
    );
    secrets.scrub_file(&dir.join("missing.log")).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
