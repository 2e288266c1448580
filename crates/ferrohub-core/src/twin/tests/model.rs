//! Model check: random sequences of device patches, back-end patches and replaces against a
//! plain-JSON model of the twin.
//!
//! The generator knows when it planted a violation (bad key, long string, huge integer, too
//! deep), so it predicts acceptance; the model predicts the size limit from its own JSON. After
//! every step: an accepted write moved exactly the right versions by one and left the
//! properties equal to the model's RFC 7386 merge; a refused write left the stored JSON
//! byte-identical; `$metadata` mirrors the properties; the stored JSON round-trips.
//!
//! Seeded and deterministic (a failure names its seed). proptest is not a dependency of this
//! crate, so a small generator stands in for it.

use serde_json::{Map, Value, json};
use time::Duration;

use super::super::limits::{MAX_DEPTH, MAX_INTEGER, json_len};
use super::super::*;
use super::T0;

const SEQUENCES: u64 = 48;
const STEPS: usize = 32;

/// SplitMix64: tiny, good enough to spread cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True one time in `n`.
    fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
}

/// A generated patch and whether it breaks a rule on purpose.
struct Generated {
    value: Map<String, Value>,
    bad: bool,
}

struct Gen<'r> {
    rng: &'r mut Rng,
    bad: bool,
    /// How often (1 in n) to plant a violation; 0 never.
    mischief: u64,
}

impl Gen<'_> {
    fn planting(&mut self) -> bool {
        self.mischief != 0 && self.rng.one_in(self.mischief)
    }

    /// A key for an object at `level`.
    fn key(&mut self, level: usize) -> String {
        if self.planting() {
            self.bad = true;
            // A root `$metadata` is ignored by a replace rather than refused, so it is only
            // planted below the root.
            let bad = ["a.b", "$x", "", "sp ace", "tab\t", "x$", "$metadata"];
            let choices = if level == 0 { bad.len() - 1 } else { bad.len() };
            return bad[self.rng.below(choices as u64) as usize].to_owned();
        }
        match self.rng.below(4) {
            0 => ["Temp", "température", "温度"][self.rng.below(3) as usize].to_owned(),
            _ => format!("k{}", self.rng.below(16)),
        }
    }

    /// `level` is the level of the container that will hold the value.
    fn value(&mut self, level: usize) -> Value {
        match self.rng.below(13) {
            0 | 1 => Value::Null,
            2 => Value::Bool(self.rng.one_in(2)),
            3 => {
                if self.planting() {
                    self.bad = true;
                    json!(MAX_INTEGER + 1 + self.rng.below(1000))
                } else {
                    json!(self.rng.below(2 * MAX_INTEGER + 1) as i64 - MAX_INTEGER as i64)
                }
            }
            4 => json!(self.rng.below(1000) as f64 / 8.0),
            5 => {
                if self.planting() {
                    self.bad = true;
                    json!("s".repeat(4097))
                } else {
                    json!("v".repeat(self.rng.below(4097) as usize))
                }
            }
            6 => json!("short"),
            7 => {
                // The array itself is a level, even when empty.
                if level + 1 > MAX_DEPTH {
                    self.bad = true;
                }
                let n = self.rng.below(3);
                let items = (0..n).map(|_| self.value(level + 1)).collect();
                Value::Array(items)
            }
            8 => self.chain(level),
            _ => Value::Object(self.object_at(level + 1)),
        }
    }

    /// A chain of 1 to 12 single-key objects: what reaches (and passes) the depth limit.
    fn chain(&mut self, level: usize) -> Value {
        let len = 1 + self.rng.below(12) as usize;
        if level + len > MAX_DEPTH {
            if self.mischief == 0 {
                return Value::Null;
            }
            self.bad = true;
        }
        let keys: Vec<String> = (0..len).map(|i| self.key(level + 1 + i)).collect();
        let mut v = json!(self.rng.below(100));
        for key in keys.into_iter().rev() {
            v = Value::Object(Map::from_iter([(key, v)]));
        }
        v
    }

    fn object_at(&mut self, level: usize) -> Map<String, Value> {
        if level > MAX_DEPTH {
            self.bad = true;
        }
        // Deep levels mostly stay small, except when the generator is out to break depth.
        let wide = if level >= MAX_DEPTH - 1 && !self.planting() {
            1
        } else {
            4
        };
        let n = self.rng.below(wide);
        let mut map = Map::new();
        for _ in 0..n {
            let key = self.key(level);
            if map.contains_key(&key) {
                // A repeat would overwrite (and hide) whatever was planted under the first.
                continue;
            }
            let value = self.value(level);
            map.insert(key, value);
        }
        map
    }

    fn patch(rng: &mut Rng, mischief: u64) -> Generated {
        let mut g = Gen {
            rng,
            bad: false,
            mischief,
        };
        let mut value = g.object_at(0);
        // Now and then a bulk write of big strings, to reach the size limits.
        if g.rng.one_in(5) {
            for _ in 0..2 + g.rng.below(6) {
                let key = format!("k{}", g.rng.below(16));
                let len = 3000 + g.rng.below(1097) as usize;
                // Never over a key already generated: that could hide a planted violation.
                value.entry(key).or_insert_with(|| json!("b".repeat(len)));
            }
        }
        // A stray `$version` at the root is ignored, not refused.
        if g.rng.one_in(6) {
            value.insert("$version".into(), json!(g.rng.below(50)));
        }
        let bad = g.bad;
        Generated { value, bad }
    }
}

fn merge(target: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (k, v) in patch {
        match v {
            Value::Null => {
                target.shift_remove(k);
            }
            Value::Object(p) => {
                let mut child = match target.get(k) {
                    Some(Value::Object(c)) => c.clone(),
                    _ => Map::new(),
                };
                merge(&mut child, p);
                target.insert(k.clone(), Value::Object(child));
            }
            other => {
                target.insert(k.clone(), other.clone());
            }
        }
    }
}

fn without_version(mut m: Map<String, Value>) -> Map<String, Value> {
    m.shift_remove("$version");
    m
}

/// `$metadata` has exactly the properties' keys, with a stamp on every one.
fn assert_metadata_mirrors(
    props: &Map<String, Value>,
    meta: &Map<String, Value>,
    versioned: bool,
    max_version: u64,
) {
    let meta_keys: Vec<&String> = meta.keys().filter(|k| !k.starts_with('$')).collect();
    let prop_keys: Vec<&String> = props.keys().collect();
    assert_eq!(
        meta_keys, prop_keys,
        "metadata keys differ from property keys"
    );
    for (k, v) in props {
        let Some(Value::Object(m)) = meta.get(k) else {
            panic!("no metadata object for {k}");
        };
        assert!(m.get("$lastUpdated").is_some_and(Value::is_string));
        if versioned {
            let v = m
                .get("$lastUpdatedVersion")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            assert!(
                v >= 2 && v <= max_version,
                "lastUpdatedVersion {v} out of range"
            );
        } else {
            assert!(m.get("$lastUpdatedVersion").is_none());
        }
        match v {
            Value::Object(child) => assert_metadata_mirrors(child, m, versioned, max_version),
            _ => assert_eq!(m.len(), if versioned { 2 } else { 1 }),
        }
    }
}

#[derive(Default)]
struct Model {
    tags: Map<String, Value>,
    desired: Map<String, Value>,
    reported: Map<String, Value>,
    version: u64,
    desired_version: u64,
    reported_version: u64,
}

fn fits(map: &Map<String, Value>, max: usize) -> bool {
    json_len(map) <= max
}

fn check_sequence(seed: u64) {
    let rng = &mut Rng(seed);
    let mut now = T0;
    let mut doc = TwinDocument::new(now);
    let mut model = Model {
        version: 1,
        desired_version: 1,
        reported_version: 1,
        ..Model::default()
    };
    let mischief = [0, 10, 40][rng.below(3) as usize];

    for step in 0..STEPS {
        now += Duration::milliseconds(rng.below(5000) as i64);
        let before = serde_json::to_string(&doc).unwrap_or_default();
        let etag_before = doc.etag.clone();
        let ctx = format!("seed {seed} step {step}");
        let accepted = match rng.below(3) {
            0 => {
                let p = Gen::patch(rng, mischief);
                let mut expected = model.reported.clone();
                merge(&mut expected, &without_version(p.value.clone()));
                let accept = !p.bad && fits(&expected, 32 * 1024);
                let result = doc.patch_reported(&Value::Object(p.value), now);
                assert_eq!(result.is_ok(), accept, "{ctx}: reported {result:?}");
                if let Ok(v) = result {
                    model.reported = expected;
                    model.reported_version += 1;
                    model.version += 1;
                    assert_eq!(v, model.reported_version, "{ctx}");
                }
                accept
            }
            kind => {
                let replace = kind == 2;
                let tags = rng.one_in(2).then(|| Gen::patch(rng, mischief));
                let desired = rng
                    .one_in(3)
                    .then(|| Gen::patch(rng, mischief))
                    .or_else(|| {
                        // Keep most writes touching desired.
                        rng.one_in(4).then(|| Gen::patch(rng, mischief))
                    });
                let mut body = Map::new();
                if let Some(t) = &tags {
                    // Tags have no `$version` to ignore.
                    body.insert(
                        "tags".into(),
                        Value::Object(without_version(t.value.clone())),
                    );
                }
                if let Some(d) = &desired {
                    body.insert("properties".into(), json!({"desired": d.value}));
                }
                let bad =
                    tags.as_ref().is_some_and(|t| t.bad) || desired.as_ref().is_some_and(|d| d.bad);
                let (mut new_tags, mut new_desired) = if replace {
                    (Map::new(), Map::new())
                } else {
                    (model.tags.clone(), model.desired.clone())
                };
                if let Some(t) = &tags {
                    merge(&mut new_tags, &without_version(t.value.clone()));
                }
                if let Some(d) = &desired {
                    merge(&mut new_desired, &without_version(d.value.clone()));
                }
                let accept = !bad && fits(&new_tags, 8 * 1024) && fits(&new_desired, 32 * 1024);
                let body = Value::Object(body);
                let result = if replace {
                    doc.replace_service(&body, now)
                } else {
                    doc.patch_service(&body, now)
                };
                assert_eq!(
                    result.is_ok(),
                    accept,
                    "{ctx}: service {result:?} for {body}"
                );
                if let Ok(update) = result {
                    let desired_written = replace || desired.is_some();
                    if desired_written {
                        model.desired_version += 1;
                    }
                    assert_eq!(update.tags_changed, new_tags != model.tags, "{ctx}");
                    assert_eq!(update.desired_version, model.desired_version, "{ctx}");
                    match TwinDocument::desired_notification(&update) {
                        Some(Value::Object(mut n)) => {
                            assert!(desired_written, "{ctx}: notified without a desired write");
                            assert_eq!(
                                n.shift_remove("$version"),
                                Some(json!(model.desired_version))
                            );
                            // The notification, applied as a patch, takes the device to the new desired.
                            let mut device_copy = model.desired.clone();
                            merge(&mut device_copy, &n);
                            assert_eq!(device_copy, new_desired, "{ctx}: notification");
                        }
                        Some(other) => panic!("{ctx}: notification is not an object: {other}"),
                        None => {
                            assert!(!desired_written, "{ctx}: desired written, no notification")
                        }
                    }
                    model.tags = new_tags;
                    model.desired = new_desired;
                    model.version += 1;
                }
                accept
            }
        };

        let after = serde_json::to_string(&doc).unwrap_or_default();
        if accepted {
            assert_ne!(
                doc.etag, etag_before,
                "{ctx}: an accepted write kept the etag"
            );
        } else {
            assert_eq!(after, before, "{ctx}: a refused write changed the twin");
        }
        assert_eq!(doc.version, model.version, "{ctx}");
        assert_eq!(doc.desired.version, model.desired_version, "{ctx}");
        assert_eq!(doc.reported.version, model.reported_version, "{ctx}");
        assert_eq!(doc.tags, model.tags, "{ctx}");
        assert_eq!(doc.desired.properties, model.desired, "{ctx}");
        assert_eq!(doc.reported.properties, model.reported, "{ctx}");
        assert_metadata_mirrors(
            &doc.desired.properties,
            &doc.desired.metadata,
            true,
            doc.desired.version,
        );
        assert_metadata_mirrors(&doc.reported.properties, &doc.reported.metadata, false, 0);
        let view = doc.device_view();
        assert_eq!(
            view["desired"]["$version"],
            json!(model.desired_version),
            "{ctx}"
        );
        assert_eq!(
            view["reported"]["$version"],
            json!(model.reported_version),
            "{ctx}"
        );
        let back: TwinDocument = serde_json::from_str(&after).unwrap();
        assert_eq!(back, doc, "{ctx}: round trip");
        assert_eq!(
            serde_json::to_string(&back).unwrap_or_default(),
            after,
            "{ctx}: round trip bytes"
        );
    }
}

#[test]
fn random_write_sequences_match_the_model() {
    for seed in 0..SEQUENCES {
        check_sequence(seed);
    }
}
