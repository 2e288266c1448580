//! The `If-Match` compare-and-swap rule, kept here so every backend applies the same semantics.

/// What the stored etag must be for a write or delete to go ahead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// No check (no `If-Match`, or `If-Match: *`).
    Any,
    /// The stored etag must equal this value (the caller has already stripped quotes).
    IfMatch(String),
}

impl Precondition {
    /// Whether a record whose stored etag is `stored` may be replaced or deleted.
    pub fn allows(&self, stored: &str) -> bool {
        match self {
            Precondition::Any => true,
            // `*` means "any existing record"; treated as `Any` in case a caller forgot to normalise.
            Precondition::IfMatch(expected) => expected == "*" || expected == stored,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_allows_every_etag() {
        assert!(Precondition::Any.allows("abc"));
    }

    #[test]
    fn if_match_allows_only_the_same_etag() {
        let p = Precondition::IfMatch("abc".into());
        assert!(p.allows("abc"));
        assert!(!p.allows("abd"));
    }

    #[test]
    fn if_match_star_behaves_like_any() {
        assert!(Precondition::IfMatch("*".into()).allows("whatever"));
    }
}
