//! One dependency call of a mock service: [`Call`], the check that its URL is one the
//! pooled client can request, and the `--call NAME=URL` argument, whose `NAME=/path` form
//! takes its base URL from the `<NAME>_URL` variable.

use http::Uri;
use serde::Serialize;

use crate::MockError;

/// One downstream call: a name (for counters and messages) and the full URL to request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Call {
    pub name: String,
    pub url: String,
}

/// The URL of a call as the client requests it; only `http://host:port/path`.
pub(super) fn parse_url(url: &str) -> Result<Uri, MockError> {
    let uri: Uri = url
        .parse()
        .map_err(|e| MockError::InvalidBehavior(format!("call URL `{url}`: {e}")))?;
    if uri.scheme_str() != Some("http") || uri.authority().is_none() {
        return Err(MockError::InvalidBehavior(format!(
            "call URL `{url}` is not an http://host:port/path URL"
        )));
    }
    Ok(uri)
}

/// The name of the environment variable holding a dependency's base URL: `inventory` →
/// `INVENTORY_URL` (upper-cased, every character that is not a letter or digit becomes `_`).
pub fn url_env_var(name: &str) -> String {
    let mut var: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    var.push_str("_URL");
    var
}

/// Parses a `--call` argument: `NAME=http://host:port/path`, or `NAME=/path`, whose base URL
/// then comes from the variable [`url_env_var`]`(NAME)` looked up with `env` (Gauntlet sets
/// it to the egress sidecar's address).
pub fn parse_call(text: &str, env: impl Fn(&str) -> Option<String>) -> Result<Call, String> {
    let (name, target) = text
        .split_once('=')
        .filter(|(n, _)| !n.is_empty())
        .ok_or_else(|| format!("`{text}` is not NAME=URL or NAME=/path"))?;
    let url = if target.starts_with('/') {
        let var = url_env_var(name);
        let base = env(&var)
            .ok_or_else(|| format!("`{text}` takes its base URL from ${var}, which is not set"))?;
        format!("{}{target}", base.trim_end_matches('/'))
    } else {
        target.to_string()
    };
    parse_url(&url).map_err(|e| e.to_string())?;
    Ok(Call {
        name: name.to_string(),
        url,
    })
}

#[cfg(test)]
mod parse_tests {
    use super::*;

    #[test]
    fn call_arguments() {
        let env = |v: &str| (v == "MY_DEP_URL").then(|| "http://127.0.0.1:9/".to_string());
        assert_eq!(url_env_var("my-dep"), "MY_DEP_URL");
        let c = parse_call("my-dep=/items", env).unwrap();
        assert_eq!(c.url, "http://127.0.0.1:9/items");
        let c = parse_call("x=http://127.0.0.1:1/a", env).unwrap();
        assert_eq!(
            (c.name.as_str(), c.url.as_str()),
            ("x", "http://127.0.0.1:1/a")
        );
        assert!(parse_call("other=/items", env)
            .unwrap_err()
            .contains("OTHER_URL"));
        assert!(parse_call("=/items", env).is_err());
        assert!(parse_call("x=ftp://a/", env).is_err());
    }
}
