//! `${NAME}` references in a service's argv and env values, replaced by the variables
//! Gauntlet sets (`PORT`, `<DEPENDENCY>_URL`). The command never goes through a shell, so
//! this is the only expansion there is; an unknown name is an error rather than an empty
//! string, which would start the service with a broken argument.

use std::collections::BTreeMap;

/// A `${…}` reference that cannot be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    #[error("`{text}` refers to ${{{name}}}, which Gauntlet does not set (it sets {known})")]
    Unknown {
        text: String,
        name: String,
        known: String,
    },
    #[error("`{text}` has a `${{` without its closing `}}`")]
    Unclosed { text: String },
}

/// Replaces every `${NAME}` in `text` by `vars[NAME]`. `$` not followed by `{` stays as is.
pub fn expand(text: &str, vars: &BTreeMap<String, String>) -> Result<String, ExpandError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or_else(|| ExpandError::Unclosed {
            text: text.to_string(),
        })?;
        let name = &after[..end];
        let value = vars.get(name).ok_or_else(|| ExpandError::Unknown {
            text: text.to_string(),
            name: name.to_string(),
            known: vars
                .keys()
                .map(|k| format!("${{{k}}}"))
                .collect::<Vec<_>>()
                .join(", "),
        })?;
        out.push_str(value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_known_names_and_refuses_unknown_ones() {
        let vars = BTreeMap::from([
            ("PORT".to_string(), "8080".to_string()),
            ("DB_URL".to_string(), "http://127.0.0.1:9".to_string()),
        ]);
        assert_eq!(
            expand("127.0.0.1:${PORT}", &vars).unwrap(),
            "127.0.0.1:8080"
        );
        assert_eq!(
            expand("db=${DB_URL}/x$y", &vars).unwrap(),
            "db=http://127.0.0.1:9/x$y"
        );
        let e = expand("${HOME}", &vars).unwrap_err();
        assert!(e.to_string().contains("${HOME}") && e.to_string().contains("${PORT}"));
        assert!(matches!(
            expand("${PORT", &vars),
            Err(ExpandError::Unclosed { .. })
        ));
    }
}
