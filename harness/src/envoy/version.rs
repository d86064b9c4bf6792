//! Envoy version strings: the build version Envoy reports, and the release versions we install.

use serde::Serialize;

use super::EnvoyError;

/// A build version as Envoy reports it (`envoy --version`, `/server_info`), e.g.
/// `9e5580933739775e8bce696a57a2e1bc99368f23/1.40.0/Clean/RELEASE/BoringSSL`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BuildVersion {
    /// The release part, e.g. `1.40.0` (or `1.41.0-dev` for a development build).
    pub version: String,
    /// The whole build string: commit, release, tree state, build type and TLS library.
    pub full: String,
}

/// Parses a build string `<commit>/<release>/<state>/<type>/<ssl>`; `None` if it has no release.
pub fn parse_build_version(build: &str) -> Option<BuildVersion> {
    let full = build.trim();
    let release = full.split('/').nth(1)?;
    let starts_with_digit = release.chars().next().is_some_and(|c| c.is_ascii_digit());
    (starts_with_digit && release.contains('.')).then(|| BuildVersion {
        version: release.to_owned(),
        full: full.to_owned(),
    })
}

/// Parses what `envoy --version` prints: `\n<path>  version: <build string>\n`.
pub(crate) fn parse_version_output(output: &str) -> Option<BuildVersion> {
    let (_, rest) = output.split_once("version:")?;
    parse_build_version(rest.split_whitespace().next()?)
}

/// Checks that a release version is safe to put in a path and a pip requirement:
/// `X.Y.Z` in digits, with an optional `.postN` (PyPI post-release of the same Envoy).
pub(crate) fn validate_version(version: &str) -> Result<(), EnvoyError> {
    let numeric = |s: &str| !s.is_empty() && s.len() <= 6 && s.bytes().all(|b| b.is_ascii_digit());
    let parts: Vec<&str> = version.split('.').collect();
    let ok = match parts.as_slice() {
        [a, b, c] => numeric(a) && numeric(b) && numeric(c),
        [a, b, c, post] => {
            numeric(a) && numeric(b) && numeric(c) && post.strip_prefix("post").is_some_and(numeric)
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(EnvoyError::InvalidVersion {
            version: version.to_owned(),
        })
    }
}

/// The Envoy release a (validated) package version contains: `1.36.2.post1` → `1.36.2`.
pub(crate) fn release_of(version: &str) -> &str {
    match version.rsplit_once(".post") {
        Some((release, _)) => release,
        None => version,
    }
}

/// A sort key that orders `1.9.0` before `1.10.0` and `1.36.2` before `1.36.2.post1`.
pub(crate) fn sort_key(version: &str) -> Vec<u64> {
    version
        .split('.')
        .map(|part| part.trim_start_matches("post").parse().unwrap_or(0))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_version_output() {
        let cases = [
            (
                "\n/tmp/envoy  version: 9e5580933739775e8bce696a57a2e1bc99368f23/1.40.0/Clean/RELEASE/BoringSSL\n\n",
                Some("1.40.0"),
            ),
            (
                "envoy  version: abc/1.41.0-dev/Modified/DEBUG/BoringSSL-FIPS",
                Some("1.41.0-dev"),
            ),
            ("envoy version: 1.40.0", None),
            ("version:", None),
            ("command not found", None),
            ("envoy  version: abc/x.y/Clean/RELEASE/BoringSSL", None),
        ];
        for (output, want) in cases {
            let got = parse_version_output(output);
            assert_eq!(got.as_ref().map(|v| v.version.as_str()), want, "{output:?}");
        }
        let v = parse_version_output("e  version: c0ffee/1.39.3/Clean/RELEASE/BoringSSL\n");
        assert_eq!(
            v.map(|v| v.full).as_deref(),
            Some("c0ffee/1.39.3/Clean/RELEASE/BoringSSL")
        );
    }

    #[test]
    fn validates_versions() {
        for good in ["1.40.0", "1.36.2.post1", "0.0.0", "123456.1.2"] {
            assert!(validate_version(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "1.40",
            "1.40.0.0",
            "v1.40.0",
            "1.40.0-dev",
            "1.40.0.post",
            "1.40.0.postx",
            "../1.40.0",
            "1.40.0/..",
            "1.40.0 ",
            "1..0",
            "1.40.0;rm",
            "1234567.0.0",
        ] {
            let err = validate_version(bad).expect_err(bad);
            assert!(err.to_string().contains("X.Y.Z"), "{err}");
        }
    }

    #[test]
    fn release_and_order() {
        assert_eq!(release_of("1.36.2.post1"), "1.36.2");
        assert_eq!(release_of("1.40.0"), "1.40.0");
        let mut versions = vec!["1.10.0", "1.36.2.post1", "1.9.3", "1.36.2"];
        versions.sort_by_key(|v| sort_key(v));
        assert_eq!(versions, ["1.9.3", "1.10.0", "1.36.2", "1.36.2.post1"]);
    }
}
