//! Topic name and topic filter syntax (MQTT 3.1.1 section 4.7).
//!
//! The decoder enforces only what makes a packet unusable (wildcards in a
//! PUBLISH topic, empty names). Misplaced wildcards in a SUBSCRIBE filter are
//! better answered with a SUBACK failure code than a dropped connection, so
//! the server checks filters with these helpers instead.

/// A topic name as used in PUBLISH and wills: non-empty, no wildcards, no NUL.
pub fn is_valid_topic_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(['+', '#', '\0']) && name.len() <= usize::from(u16::MAX)
}

/// A topic filter: non-empty, no NUL, `+` only as a whole level and `#` only
/// as the whole last level.
pub fn is_valid_topic_filter(filter: &str) -> bool {
    if filter.is_empty() || filter.contains('\0') || filter.len() > usize::from(u16::MAX) {
        return false;
    }
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        let is_last = levels.peek().is_none();
        match level {
            "+" => {}
            "#" if is_last => {}
            _ if level.contains(['+', '#']) => return false,
            _ => {}
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_reject_wildcards_and_emptiness() {
        assert!(is_valid_topic_name("devices/d1/messages/events/"));
        assert!(!is_valid_topic_name(""));
        assert!(!is_valid_topic_name("a/+/b"));
        assert!(!is_valid_topic_name("a/#"));
        assert!(!is_valid_topic_name("a\0b"));
    }

    #[test]
    fn topic_filters_allow_wildcards_only_as_whole_levels() {
        assert!(is_valid_topic_filter("#"));
        assert!(is_valid_topic_filter("+"));
        assert!(is_valid_topic_filter("a/+/c/#"));
        assert!(is_valid_topic_filter("/"));
        assert!(!is_valid_topic_filter(""));
        assert!(!is_valid_topic_filter("a/#/c"));
        assert!(!is_valid_topic_filter("a/b#"));
        assert!(!is_valid_topic_filter("a+/b"));
    }
}
