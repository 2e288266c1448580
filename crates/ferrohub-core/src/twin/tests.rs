//! Twin rules, one test per rule. The randomized model check lives in `tests/model.rs`.
#![allow(clippy::unwrap_used)]

use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::macros::datetime;

use super::limits::{MAX_DEPTH, MAX_INTEGER};
use super::*;

mod limits;
mod model;

const T0: OffsetDateTime = datetime!(2024-05-01 10:00:00 UTC);
const T1: OffsetDateTime = datetime!(2024-05-01 10:00:01.5 UTC);
const T0_TEXT: &str = "2024-05-01T10:00:00.0000000Z";
const T1_TEXT: &str = "2024-05-01T10:00:01.5000000Z";

fn twin() -> TwinDocument {
    TwinDocument::new(T0)
}

fn text(doc: &TwinDocument) -> String {
    serde_json::to_string(doc).unwrap()
}

/// Runs `write` and asserts it failed and left the document byte-identical.
fn refused(
    doc: &mut TwinDocument,
    write: impl FnOnce(&mut TwinDocument) -> Result<(), TwinError>,
) -> TwinError {
    let before = text(doc);
    let err = write(doc).unwrap_err();
    assert_eq!(
        text(doc),
        before,
        "a refused write changed the twin ({err})"
    );
    err
}

fn refused_reported(patch: Value) -> TwinError {
    let mut doc = twin();
    doc.patch_reported(&json!({"keep": 1}), T0).unwrap();
    refused(&mut doc, |d| d.patch_reported(&patch, T1).map(drop))
}

fn nested(levels: usize) -> Value {
    let mut v = json!("leaf");
    for _ in 0..levels {
        v = json!({ "k": v });
    }
    v
}

// --- a new twin ---

#[test]
fn a_new_twin_starts_empty_at_version_one() {
    let doc = twin();
    assert!(doc.tags.is_empty());
    assert_eq!(doc.version, 1);
    assert_eq!(doc.desired.version, 1);
    assert_eq!(doc.reported.version, 1);
    assert_eq!(doc.desired.last_updated, T0_TEXT);
    assert!(!doc.etag.is_empty());
}

#[test]
fn a_new_twin_shows_the_device_both_versions() {
    assert_eq!(
        twin().device_view(),
        json!({"desired": {"$version": 1}, "reported": {"$version": 1}})
    );
}

// --- reported patches ---

#[test]
fn a_reported_patch_merges_and_returns_the_new_version() {
    let mut doc = twin();
    assert_eq!(
        doc.patch_reported(&json!({"a": 1, "b": {"c": 2}}), T0)
            .unwrap(),
        2
    );
    assert_eq!(doc.patch_reported(&json!({"b": {"d": 3}}), T1).unwrap(), 3);
    assert_eq!(
        Value::Object(doc.reported.properties.clone()),
        json!({"a": 1, "b": {"c": 2, "d": 3}})
    );
    assert_eq!(doc.version, 3);
}

#[test]
fn null_in_a_patch_deletes_the_key_and_its_metadata() {
    let mut doc = twin();
    doc.patch_reported(&json!({"a": 1, "b": {"c": 2, "d": 3}}), T0)
        .unwrap();
    doc.patch_reported(&json!({"a": null, "b": {"c": null}, "absent": null}), T1)
        .unwrap();
    assert_eq!(
        Value::Object(doc.reported.properties.clone()),
        json!({"b": {"d": 3}})
    );
    assert!(!doc.reported.metadata.contains_key("a"));
    assert!(doc.reported.metadata["b"].get("c").is_none());
    assert!(doc.reported.metadata["b"].get("d").is_some());
}

#[test]
fn a_non_object_value_replaces_an_object_and_arrays_replace_whole() {
    let mut doc = twin();
    doc.patch_reported(&json!({"a": {"x": 1}, "l": [1, 2, 3]}), T0)
        .unwrap();
    doc.patch_reported(&json!({"a": 5, "l": [4]}), T1).unwrap();
    assert_eq!(
        Value::Object(doc.reported.properties.clone()),
        json!({"a": 5, "l": [4]})
    );
    assert_eq!(doc.reported.metadata["a"], json!({"$lastUpdated": T1_TEXT}));
}

#[test]
fn an_empty_patch_is_still_a_write_and_bumps_the_version() {
    let mut doc = twin();
    let etag = doc.etag.clone();
    assert_eq!(doc.patch_reported(&json!({}), T1).unwrap(), 2);
    assert_eq!(doc.version, 2);
    assert_ne!(doc.etag, etag);
    assert_eq!(doc.reported.last_updated, T1_TEXT);
}

#[test]
fn a_top_level_version_in_a_patch_is_ignored() {
    let mut doc = twin();
    assert_eq!(
        doc.patch_reported(&json!({"$version": 99, "a": 1}), T0)
            .unwrap(),
        2
    );
    assert_eq!(
        Value::Object(doc.reported.properties.clone()),
        json!({"a": 1})
    );
}

#[test]
fn a_reported_patch_leaves_tags_and_desired_alone() {
    let mut doc = twin();
    doc.patch_service(
        &json!({"tags": {"t": 1}, "properties": {"desired": {"d": 1}}}),
        T0,
    )
    .unwrap();
    let (tags, desired) = (doc.tags.clone(), doc.desired.clone());
    doc.patch_reported(&json!({"r": 1}), T1).unwrap();
    assert_eq!(doc.tags, tags);
    assert_eq!(doc.desired, desired);
}

#[test]
fn a_reported_patch_must_be_an_object() {
    for bad in [json!([]), json!("x"), json!(1), Value::Null] {
        assert!(matches!(refused_reported(bad), TwinError::InvalidJson(_)));
    }
}

// --- metadata ---

#[test]
fn reported_metadata_has_only_times() {
    let mut doc = twin();
    doc.patch_reported(&json!({"a": {"b": 1}}), T1).unwrap();
    assert_eq!(
        Value::Object(doc.reported.metadata.clone()),
        json!({"a": {"$lastUpdated": T1_TEXT, "b": {"$lastUpdated": T1_TEXT}}})
    );
}

#[test]
fn desired_metadata_records_time_and_version_of_each_write() {
    let mut doc = twin();
    doc.patch_service(
        &json!({"properties": {"desired": {"a": {"b": 1, "c": 2}}}}),
        T0,
    )
    .unwrap();
    doc.patch_service(&json!({"properties": {"desired": {"a": {"c": 3}}}}), T1)
        .unwrap();
    assert_eq!(
        Value::Object(doc.desired.metadata.clone()),
        json!({"a": {
            "$lastUpdated": T1_TEXT, "$lastUpdatedVersion": 3,
            "b": {"$lastUpdated": T0_TEXT, "$lastUpdatedVersion": 2},
            "c": {"$lastUpdated": T1_TEXT, "$lastUpdatedVersion": 3}
        }})
    );
}

#[test]
fn an_object_replacing_a_value_gets_fresh_metadata() {
    let mut doc = twin();
    doc.patch_reported(&json!({"a": 1}), T0).unwrap();
    doc.patch_reported(&json!({"a": {"b": 2}}), T1).unwrap();
    assert_eq!(
        doc.reported.metadata["a"],
        json!({"$lastUpdated": T1_TEXT, "b": {"$lastUpdated": T1_TEXT}})
    );
}

#[test]
fn the_service_view_carries_metadata_and_versions() {
    let mut doc = twin();
    doc.patch_service(
        &json!({"tags": {"t": "x"}, "properties": {"desired": {"d": 1}}}),
        T1,
    )
    .unwrap();
    doc.patch_reported(&json!({"r": true}), T1).unwrap();
    let mut identity = Map::new();
    identity.insert("deviceId".into(), json!("dev-01"));
    identity.insert("status".into(), json!("enabled"));
    identity.insert("version".into(), json!(12345));
    let view = doc.service_view(identity);
    assert_eq!(
        view,
        json!({
            "deviceId": "dev-01",
            "status": "enabled",
            "version": 3,
            "etag": doc.etag,
            "tags": {"t": "x"},
            "properties": {
                "desired": {
                    "d": 1,
                    "$metadata": {
                        "$lastUpdated": T1_TEXT, "$lastUpdatedVersion": 2,
                        "d": {"$lastUpdated": T1_TEXT, "$lastUpdatedVersion": 2}
                    },
                    "$version": 2
                },
                "reported": {
                    "r": true,
                    "$metadata": {"$lastUpdated": T1_TEXT, "r": {"$lastUpdated": T1_TEXT}},
                    "$version": 2
                }
            }
        })
    );
}

// --- service patch ---

#[test]
fn a_service_patch_merges_tags_and_desired_and_reports_the_patch() {
    let mut doc = twin();
    let up = doc
        .patch_service(
            &json!({"tags": {"loc": {"region": "US"}}, "properties": {"desired": {"freq": 300}}}),
            T0,
        )
        .unwrap();
    assert_eq!(
        up,
        ServiceUpdate {
            desired_patch: Some(json!({"freq": 300})),
            desired_version: 2,
            tags_changed: true
        }
    );
    assert_eq!(
        Value::Object(doc.tags.clone()),
        json!({"loc": {"region": "US"}})
    );
    assert_eq!(doc.version, 2);
}

#[test]
fn a_tags_only_patch_does_not_touch_desired() {
    let mut doc = twin();
    let up = doc.patch_service(&json!({"tags": {"a": 1}}), T0).unwrap();
    assert_eq!(up.desired_patch, None);
    assert_eq!(up.desired_version, 1);
    assert_eq!(TwinDocument::desired_notification(&up), None);
    assert_eq!(doc.desired.version, 1);
}

#[test]
fn rewriting_the_same_tags_is_not_a_tags_change() {
    let mut doc = twin();
    doc.patch_service(&json!({"tags": {"a": 1}}), T0).unwrap();
    assert!(
        !doc.patch_service(&json!({"tags": {"a": 1}}), T1)
            .unwrap()
            .tags_changed
    );
}

#[test]
fn the_desired_notification_is_the_patch_with_its_version() {
    let mut doc = twin();
    let up = doc
        .patch_service(
            &json!({"properties": {"desired": {"a": {"b": null}, "c": 1}}}),
            T0,
        )
        .unwrap();
    assert_eq!(
        TwinDocument::desired_notification(&up),
        Some(json!({"a": {"b": null}, "c": 1, "$version": 2}))
    );
}

#[test]
fn a_service_patch_ignores_echoed_identity_fields_and_desired_version() {
    let mut doc = twin();
    let body = json!({
        "deviceId": "dev-01", "etag": "AAAA", "version": 7, "status": "disabled",
        "properties": {"desired": {"$version": 40, "a": 1}}
    });
    let up = doc.patch_service(&body, T0).unwrap();
    assert_eq!(up.desired_patch, Some(json!({"a": 1})));
    assert_eq!(doc.version, 2);
}

#[test]
fn a_service_patch_may_not_write_reported_or_metadata() {
    let mut doc = twin();
    for body in [
        json!({"properties": {"reported": {"a": 1}}}),
        json!({"properties": {"desired": {"$metadata": {}}}}),
        json!({"properties": {"desired": {"a": {"$version": 1}}}}),
        json!({"$version": 3}),
    ] {
        let err = refused(&mut doc, |d| d.patch_service(&body, T1).map(drop));
        assert!(
            matches!(err, TwinError::ReadOnlyProperty(_)),
            "{body}: {err}"
        );
    }
}

#[test]
fn a_service_patch_refuses_unknown_shapes() {
    let mut doc = twin();
    for body in [
        json!([]),
        json!({"tag": {}}),
        json!({"tags": 1}),
        json!({"tags": null}),
        json!({"properties": {"desired": null}}),
        json!({"properties": {"wanted": {}}}),
        json!({"properties": []}),
    ] {
        let err = refused(&mut doc, |d| d.patch_service(&body, T1).map(drop));
        assert!(matches!(err, TwinError::InvalidJson(_)), "{body}: {err}");
    }
}

#[test]
fn a_bad_desired_part_refuses_the_tags_part_too() {
    let mut doc = twin();
    refused(&mut doc, |d| {
        d.patch_service(
            &json!({"tags": {"ok": 1}, "properties": {"desired": {"bad key": 1}}}),
            T1,
        )
        .map(drop)
    });
}

// --- service replace ---

#[test]
fn a_replace_swaps_tags_and_desired_and_keeps_reported() {
    let mut doc = twin();
    doc.patch_service(
        &json!({"tags": {"old": 1}, "properties": {"desired": {"a": 1, "b": {"x": 1, "y": 2}}}}),
        T0,
    )
    .unwrap();
    doc.patch_reported(&json!({"r": 1}), T0).unwrap();
    let reported = doc.reported.clone();
    let up = doc
        .replace_service(
            &json!({"tags": {"new": 2}, "properties": {"desired": {"b": {"y": 3}, "c": 4}}}),
            T1,
        )
        .unwrap();
    assert_eq!(Value::Object(doc.tags.clone()), json!({"new": 2}));
    assert_eq!(
        Value::Object(doc.desired.properties.clone()),
        json!({"b": {"y": 3}, "c": 4})
    );
    assert_eq!(doc.reported, reported);
    assert!(up.tags_changed);
    assert_eq!(up.desired_version, 3);
    // The notification spells out the whole new desired, with nulls for what went away.
    assert_eq!(
        TwinDocument::desired_notification(&up),
        Some(json!({"b": {"y": 3, "x": null}, "c": 4, "a": null, "$version": 3}))
    );
}

#[test]
fn a_replace_restamps_all_desired_metadata() {
    let mut doc = twin();
    doc.patch_service(&json!({"properties": {"desired": {"a": {"b": 1}}}}), T0)
        .unwrap();
    doc.replace_service(&json!({"properties": {"desired": {"a": {"b": 1}}}}), T1)
        .unwrap();
    assert_eq!(
        doc.desired.metadata["a"],
        json!({"$lastUpdated": T1_TEXT, "$lastUpdatedVersion": 3,
               "b": {"$lastUpdated": T1_TEXT, "$lastUpdatedVersion": 3}})
    );
}

#[test]
fn a_replace_without_parts_empties_tags_and_desired() {
    let mut doc = twin();
    doc.patch_service(
        &json!({"tags": {"t": 1}, "properties": {"desired": {"d": 1}}}),
        T0,
    )
    .unwrap();
    let up = doc.replace_service(&json!({}), T1).unwrap();
    assert!(doc.tags.is_empty());
    assert!(doc.desired.properties.is_empty());
    assert_eq!(up.desired_patch, Some(json!({"d": null})));
}

#[test]
fn a_replace_drops_nulls_instead_of_storing_them() {
    let mut doc = twin();
    doc.replace_service(
        &json!({"tags": {"a": null, "b": {"c": null}}, "properties": {"desired": {"d": null}}}),
        T1,
    )
    .unwrap();
    assert_eq!(Value::Object(doc.tags.clone()), json!({"b": {}}));
    assert!(doc.desired.properties.is_empty());
}

#[test]
fn a_replace_accepts_a_twin_as_the_service_view_printed_it() {
    let mut doc = twin();
    doc.patch_service(
        &json!({"tags": {"t": 1}, "properties": {"desired": {"d": 1}}}),
        T0,
    )
    .unwrap();
    doc.patch_reported(&json!({"r": 1}), T0).unwrap();
    let mut identity = Map::new();
    identity.insert("deviceId".into(), json!("dev-01"));
    let mut body = doc.service_view(identity);
    body["properties"]["desired"]["d"] = json!(2);
    doc.replace_service(&body, T1).unwrap();
    assert_eq!(
        Value::Object(doc.desired.properties.clone()),
        json!({"d": 2})
    );
    assert_eq!(
        Value::Object(doc.reported.properties.clone()),
        json!({"r": 1})
    );
}

// --- device view ---

#[test]
fn the_device_view_always_has_both_versions_and_no_metadata() {
    let mut doc = twin();
    doc.patch_service(
        &json!({"tags": {"t": 1}, "properties": {"desired": {"d": {"e": 1}}}}),
        T0,
    )
    .unwrap();
    doc.patch_reported(&json!({"r": 1}), T0).unwrap();
    doc.patch_reported(&json!({"r": 2}), T0).unwrap();
    assert_eq!(
        doc.device_view(),
        json!({"desired": {"d": {"e": 1}, "$version": 2}, "reported": {"r": 2, "$version": 3}})
    );
}

// --- versions and etags ---

#[test]
fn every_accepted_write_moves_the_twin_version_and_etag() {
    let mut doc = twin();
    let mut etags = vec![doc.etag.clone()];
    doc.patch_reported(&json!({"a": 1}), T0).unwrap();
    etags.push(doc.etag.clone());
    doc.patch_service(&json!({"tags": {"a": 1}}), T0).unwrap();
    etags.push(doc.etag.clone());
    doc.replace_service(&json!({}), T0).unwrap();
    etags.push(doc.etag.clone());
    assert_eq!(doc.version, 4);
    etags.sort();
    etags.dedup();
    assert_eq!(etags.len(), 4);
}

#[test]
fn a_twin_round_trips_through_its_stored_json() {
    let mut doc = twin();
    doc.patch_service(
        &json!({"tags": {"t": [1, 2.5, "x"]}, "properties": {"desired": {"d": {"e": 0.1}}}}),
        T0,
    )
    .unwrap();
    doc.patch_reported(&json!({"r": {"s": null, "u": -3}}), T1)
        .unwrap();
    let back: TwinDocument = serde_json::from_str(&text(&doc)).unwrap();
    assert_eq!(back, doc);
    assert_eq!(text(&back), text(&doc));
}

#[test]
fn a_twin_error_becomes_an_invalid_argument() {
    let err = TwinError::IntegerOutOfRange {
        path: "tags.a".into(),
    };
    assert!(
        matches!(crate::HubError::from(err), crate::HubError::InvalidArgument(m) if m.contains("tags.a"))
    );
}
