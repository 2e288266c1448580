//! Twin limits, one test per rule: key rules, depth, string and integer ranges, section
//! sizes. A refused write always leaves the document byte-identical.

use serde_json::json;

use super::*;

// --- limits: keys ---

#[test]
fn keys_with_dot_dollar_space_or_control_characters_are_refused() {
    for key in [
        "a.b", "a$b", "$x", "a b", "a\u{0}b", "a\u{1f}", "a\u{7f}", "a\u{85}", "",
    ] {
        let err = refused_reported(json!({ key: 1 }));
        assert!(
            matches!(err, TwinError::InvalidKey { .. }),
            "{key:?}: {err}"
        );
    }
}

#[test]
fn bad_keys_are_refused_at_any_depth_and_inside_arrays() {
    let err = refused_reported(json!({"a": {"b": [{"c.d": 1}]}}));
    assert_eq!(
        err,
        TwinError::InvalidKey {
            path: "properties.reported.a.b[0]".into(),
            key: "c.d".into(),
            reason: "a property name must not contain '.'"
        }
    );
}

#[test]
fn keys_are_case_sensitive_and_may_be_unicode() {
    let mut doc = twin();
    doc.patch_reported(
        &json!({"Temp": 1, "temp": 2, "température": 3, "温度": 4}),
        T0,
    )
    .unwrap();
    assert_eq!(doc.reported.properties.len(), 4);
}

#[test]
fn a_key_of_1024_bytes_is_fine_and_1025_is_refused() {
    let mut doc = twin();
    doc.patch_reported(&json!({ "k".repeat(1024): 1 }), T0)
        .unwrap();
    let err = refused_reported(json!({ "k".repeat(1025): 1 }));
    match err {
        TwinError::InvalidKey { key, .. } => {
            assert!(key.chars().count() <= 65, "the message echoes a long key")
        }
        other => panic!("{other}"),
    }
}

#[test]
fn nested_version_or_metadata_keys_are_read_only() {
    for patch in [
        json!({"a": {"$metadata": 1}}),
        json!({"$metadata": {}}),
        json!({"a": {"$version": 1}}),
    ] {
        assert!(matches!(
            refused_reported(patch),
            TwinError::ReadOnlyProperty(_)
        ));
    }
}

#[test]
fn tags_follow_the_same_key_rules() {
    let mut doc = twin();
    let err = refused(&mut doc, |d| {
        d.patch_service(&json!({"tags": {"$version": 1}}), T1)
            .map(drop)
    });
    assert!(matches!(err, TwinError::ReadOnlyProperty(p) if p == "tags.$version"));
}

// --- limits: values ---

#[test]
fn a_string_of_4096_bytes_is_fine_and_4097_is_refused() {
    let mut doc = twin();
    doc.patch_reported(&json!({"s": "x".repeat(4096)}), T0)
        .unwrap();
    let err = refused_reported(json!({"a": ["ok", "é".repeat(2049)]}));
    assert_eq!(
        err,
        TwinError::StringTooLong {
            path: "properties.reported.a[1]".into(),
            max: 4096
        }
    );
}

#[test]
fn integers_must_stay_within_two_to_the_fifty_second() {
    let max = MAX_INTEGER as i64;
    let mut doc = twin();
    doc.patch_reported(&json!({"hi": max, "lo": -max, "f": 1.0e300}), T0)
        .unwrap();
    for bad in [
        json!(max + 1),
        json!(-max - 1),
        json!(u64::MAX),
        json!(i64::MIN),
    ] {
        let err = refused_reported(json!({ "n": bad }));
        assert_eq!(
            err,
            TwinError::IntegerOutOfRange {
                path: "properties.reported.n".into()
            }
        );
    }
}

#[test]
fn ten_levels_below_the_section_root_are_fine_and_eleven_are_not() {
    // The guide's own example: tags.one.two…ten.property is valid.
    let mut doc = twin();
    doc.patch_reported(&nested(MAX_DEPTH + 1), T0).unwrap();
    let err = refused_reported(nested(MAX_DEPTH + 2));
    assert!(matches!(err, TwinError::TooDeep { max: 10, .. }), "{err}");
}

#[test]
fn arrays_count_as_levels() {
    let mut v = json!(1);
    for _ in 0..=MAX_DEPTH {
        v = Value::Array(vec![v]);
    }
    assert!(matches!(
        refused_reported(json!({ "a": v })),
        TwinError::TooDeep { .. }
    ));
}

#[test]
fn hostile_nesting_is_refused_without_exhausting_the_stack() {
    // Built by hand, so serde_json's 128-level parse limit never saw it.
    // `json!([v])` would serialize `v` (recursively); build the nesting by moves instead.
    let mut v = json!(1);
    for _ in 0..100_000 {
        v = Value::Array(vec![v]);
    }
    let patch = Value::Object(Map::from_iter([("a".to_owned(), v)]));
    let mut doc = twin();
    let err = refused(&mut doc, |d| d.patch_reported(&patch, T1).map(drop));
    assert!(matches!(err, TwinError::TooDeep { .. }));
    let body = Value::Object(Map::from_iter([("tags".to_owned(), patch)]));
    let err = refused(&mut doc, |d| d.patch_service(&body, T1).map(drop));
    assert!(matches!(err, TwinError::TooDeep { .. }));
    let err = refused(&mut doc, |d| d.replace_service(&body, T1).map(drop));
    assert!(matches!(err, TwinError::TooDeep { .. }));
    // Dropping a Value this deep recurses inside serde_json; leak it instead in this test.
    std::mem::forget(body);
}

#[test]
fn a_deeply_nested_patch_from_the_wire_is_refused() {
    let text = format!("{{\"a\":{}1{}}}", "[".repeat(100), "]".repeat(100));
    let patch: Value = serde_json::from_str(&text).unwrap();
    assert!(matches!(refused_reported(patch), TwinError::TooDeep { .. }));
}

// --- limits: sizes ---

#[test]
fn reported_may_grow_to_32_kb_and_no_further() {
    let mut doc = twin();
    // Eight strings of 4 KB with their keys are just over 32 KB.
    for i in 0..7 {
        doc.patch_reported(&json!({ format!("k{i}"): "x".repeat(4096) }), T0)
            .unwrap();
    }
    let before = text(&doc);
    let err = doc
        .patch_reported(&json!({"k7": "x".repeat(4096)}), T1)
        .unwrap_err();
    assert!(
        matches!(
            err,
            TwinError::SectionTooLarge {
                section: "reported properties",
                max: 32768,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(text(&doc), before);
    // Deleting makes room again.
    doc.patch_reported(&json!({"k0": null, "k7": "x".repeat(4096)}), T1)
        .unwrap();
}

#[test]
fn desired_is_limited_to_32_kb() {
    let mut doc = twin();
    let big: Map<String, Value> = (0..9)
        .map(|i| (format!("k{i}"), json!("x".repeat(4000))))
        .collect();
    let err = refused(&mut doc, |d| {
        d.patch_service(&json!({"properties": {"desired": big}}), T1)
            .map(drop)
    });
    assert!(matches!(
        err,
        TwinError::SectionTooLarge {
            section: "desired properties",
            ..
        }
    ));
}

#[test]
fn tags_are_limited_to_8_kb_on_patch_and_replace() {
    let mut doc = twin();
    let big: Map<String, Value> = (0..3)
        .map(|i| (format!("k{i}"), json!("x".repeat(4000))))
        .collect();
    let body = json!({"tags": big});
    let err = refused(&mut doc, |d| d.patch_service(&body, T1).map(drop));
    assert!(matches!(
        err,
        TwinError::SectionTooLarge {
            section: "tags",
            max: 8192,
            ..
        }
    ));
    let err = refused(&mut doc, |d| d.replace_service(&body, T1).map(drop));
    assert!(matches!(
        err,
        TwinError::SectionTooLarge {
            section: "tags",
            ..
        }
    ));
}

#[test]
fn the_size_limit_counts_compact_properties_only() {
    // {"a0":"…",…,"a7":"…"}: 2 braces + 8 × 7 framing + 7 commas + the strings = 32768.
    let mut patch = Map::new();
    for i in 0..8 {
        let len = if i < 7 { 4096 } else { 32768 - 65 - 7 * 4096 };
        patch.insert(format!("a{i}"), json!("x".repeat(len)));
    }
    let mut doc = twin();
    doc.patch_reported(&Value::Object(patch), T0).unwrap();
    assert_eq!(
        crate::twin::limits::json_len(&doc.reported.properties),
        32768
    );
    let err = refused(&mut doc, |d| {
        d.patch_reported(&json!({"z": 1}), T1).map(drop)
    });
    assert_eq!(
        err,
        TwinError::SectionTooLarge {
            section: "reported properties",
            size: 32774,
            max: 32768
        }
    );
}

#[test]
fn error_messages_name_the_path_and_the_limit() {
    let err = refused_reported(json!({"a": {"b": "x".repeat(5000)}}));
    assert_eq!(
        err.to_string(),
        "The string at 'properties.reported.a.b' is longer than 4096 bytes"
    );
}
