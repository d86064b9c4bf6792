//! "Did you mean" hints: the closest spelling by edit distance (with transpositions).

/// The candidate closest to `word`, when one is close enough to be a likely typo and no
/// other candidate is as close; failing that, the one candidate that `word` begins.
pub fn closest<S: AsRef<str>>(word: &str, candidates: &[S]) -> Option<String> {
    nearest(word, candidates).or_else(|| {
        let mut longer = candidates
            .iter()
            .map(AsRef::as_ref)
            .filter(|c| word.chars().count() >= 3 && c.starts_with(word));
        match (longer.next(), longer.next()) {
            (Some(c), None) => Some(c.to_string()),
            _ => None,
        }
    })
}

fn nearest<S: AsRef<str>>(word: &str, candidates: &[S]) -> Option<String> {
    let limit = (word.chars().count() / 3).max(1);
    let mut best: Option<(usize, &str)> = None;
    let mut tied = false;
    for c in candidates {
        let c = c.as_ref();
        let d = distance(word, c);
        if d > limit {
            continue;
        }
        match best {
            Some((bd, _)) if d > bd => {}
            Some((bd, _)) if d == bd => tied = true,
            _ => {
                best = Some((d, c));
                tied = false;
            }
        }
    }
    match best {
        Some((_, c)) if !tied => Some(c.to_string()),
        _ => None,
    }
}

/// A hint for a segment of `family` that is not one of `options`: the closest option, or
/// the whole list.
pub fn one_of(text: &str, options: &[&str], family: &str) -> String {
    match closest(text, options) {
        Some(s) => format!("did you mean `{family}.{s}`?"),
        None => format!("`{family}` takes {}", list(options)),
    }
}

/// `a`, `b` or `c`.
pub fn list(options: &[&str]) -> String {
    let quoted: Vec<String> = options.iter().map(|o| format!("`{o}`")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        Some((last, _)) => last.clone(),
        None => String::new(),
    }
}

/// Optimal-string-alignment distance: insertions, deletions, substitutions and swaps of
/// two neighbours each cost 1.
pub fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    for i in 0..=a.len() {
        d[i * w] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(w) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[(i - 1) * w + j] + 1)
                .min(d[i * w + j - 1] + 1)
                .min(d[(i - 1) * w + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[(i - 2) * w + j - 2] + 1);
            }
            d[i * w + j] = v;
        }
    }
    d[a.len() * w + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(distance("latncy", "latency"), 1);
        assert_eq!(distance("rsp", "rps"), 1);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("p95", "p99"), 1);
    }

    #[test]
    fn closest_needs_a_unique_near_candidate() {
        assert_eq!(
            closest("erros", &["errors", "status"]),
            Some("errors".into())
        );
        assert_eq!(closest("p95", &["p90", "p99"]), None);
        assert_eq!(closest("zzzzzz", &["errors"]), None);
        assert_eq!(closest("ack", &["ack_ms", "pushes"]), Some("ack_ms".into()));
        assert_eq!(closest("lat", &["latency", "latency_x"]), None);
        assert_eq!(list(&["a", "b", "c"]), "`a`, `b` or `c`");
    }
}
