//! Runs a parsed [`Query`] over twin documents, in IoT Hub's order: filter (`WHERE`), then
//! group (`GROUP BY` / aggregates), then project (`SELECT`), and `TOP` last.
//!
//! Result keys: an alias verbatim; an unaliased top-level field under the document's own
//! spelling (`SELECT DeviceId` gives `deviceId`); an unaliased nested path under its last
//! segment; an unaliased aggregate as `$1`, `$2`… numbered over the unaliased aggregates.
//! A value that is missing is left out of its row. Group-by values not selected by name come
//! first in each row, under their last segment. Documents whose group-by value is missing form
//! their own group (the key is absent from that row).

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::ast::{Aggregate, Path, Query, SelectItem, Selection};
use super::error::QueryError;
use super::eval::{Num, Val, lookup, matches, top_level};

/// Runs `query` over `documents`; rows come back in document order (groups in order of first
/// appearance), at most `TOP n` of them.
///
/// Never fails today; the `Result` leaves room for run-time limits.
pub fn execute<'a>(
    query: &Query,
    documents: impl IntoIterator<Item = &'a Value>,
) -> Result<Vec<Value>, QueryError> {
    let limit = query
        .top
        .map_or(usize::MAX, |top| usize::try_from(top).unwrap_or(usize::MAX));
    let selected = documents.into_iter().filter(|document| {
        query
            .condition
            .as_ref()
            .is_none_or(|condition| matches(condition, document))
    });
    let rows = match &query.selection {
        Selection::All => selected.take(limit).cloned().collect(),
        Selection::Items(items) if query.is_aggregate() => {
            let mut rows = aggregate_rows(items, &query.group_by, selected);
            rows.truncate(limit);
            rows
        }
        Selection::Items(items) => selected
            .take(limit)
            .map(|document| project(items, document))
            .collect(),
    };
    Ok(rows)
}

fn project(items: &[SelectItem], document: &Value) -> Value {
    let mut row = Map::new();
    for item in items {
        if let SelectItem::Path { path, alias } = item
            && let Some((key, value)) = field(document, path)
        {
            row.insert(alias.clone().unwrap_or(key), value.clone());
        }
    }
    Value::Object(row)
}

/// The value at `path` with the key it gets when unaliased.
fn field<'a>(document: &'a Value, path: &Path) -> Option<(String, &'a Value)> {
    let value = lookup(document, path)?;
    let key = match path.segments.as_slice() {
        [only] => top_level(document, only).map_or_else(|| only.clone(), |(k, _)| k.to_owned()),
        [.., last] => last.clone(),
        [] => return None,
    };
    Some((key, value))
}

/// One group: a representative document (for the group-by values) and its members.
struct Group<'a> {
    first: &'a Value,
    members: Vec<&'a Value>,
}

fn aggregate_rows<'a>(
    items: &[SelectItem],
    group_by: &[Path],
    documents: impl Iterator<Item = &'a Value>,
) -> Vec<Value> {
    let mut groups: Vec<Group<'a>> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for document in documents {
        let key = group_key(group_by, document);
        match index.get(&key) {
            Some(&at) => {
                if let Some(group) = groups.get_mut(at) {
                    group.members.push(document);
                }
            }
            None => {
                index.insert(key, groups.len());
                groups.push(Group {
                    first: document,
                    members: vec![document],
                });
            }
        }
    }
    // Without GROUP BY, aggregates always give exactly one row, even over nothing.
    if group_by.is_empty() && groups.is_empty() {
        groups.push(Group {
            first: &Value::Null,
            members: Vec::new(),
        });
    }
    groups
        .iter()
        .map(|group| group_row(items, group_by, group))
        .collect()
}

/// A string identifying the group-by values of `document`; `undefined` is distinct from `null`.
fn group_key(group_by: &[Path], document: &Value) -> String {
    let mut key = String::new();
    for path in group_by {
        match lookup(document, path) {
            None => key.push('u'),
            // `1` and `1.0` are the same number, so the same group.
            Some(Value::Number(n)) => {
                key.push('n');
                key.push_str(&number_key(n));
            }
            Some(value) => {
                key.push('v');
                key.push_str(&value.to_string());
            }
        }
        // A separator that JSON text never contains unescaped.
        key.push('\u{1}');
    }
    key
}

fn number_key(n: &serde_json::Number) -> String {
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => format!("{f:.0}"),
        _ => n.to_string(),
    }
}

fn group_row(items: &[SelectItem], group_by: &[Path], group: &Group<'_>) -> Value {
    let mut row = Map::new();
    for path in group_by {
        let selected = items
            .iter()
            .any(|item| matches!(item, SelectItem::Path { path: p, .. } if p.same_field(path)));
        if !selected && let Some((key, value)) = field(group.first, path) {
            row.insert(key, value.clone());
        }
    }
    let mut unnamed = 0;
    for item in items {
        match item {
            SelectItem::Path { path, alias } => {
                if let Some((key, value)) = field(group.first, path) {
                    row.insert(alias.clone().unwrap_or(key), value.clone());
                }
            }
            SelectItem::Aggregate { function, alias } => {
                let key = alias.clone().unwrap_or_else(|| {
                    unnamed += 1;
                    format!("${unnamed}")
                });
                if let Some(value) = aggregate(function, &group.members) {
                    row.insert(key, value);
                }
            }
        }
    }
    Value::Object(row)
}

/// `COUNT()` counts documents; the others use the numeric values at their path and ignore the
/// rest. `SUM` of nothing is 0; `AVG`, `MIN` and `MAX` of nothing are left out.
fn aggregate(function: &Aggregate, members: &[&Value]) -> Option<Value> {
    let Some(path) = function.path() else {
        return Some(members.len().into());
    };
    let numbers =
        members
            .iter()
            .filter_map(|document| match Val::from_json(lookup(document, path)?) {
                Val::Number(n) => Some(n),
                _ => None,
            });
    let result = match function {
        Aggregate::Count => Num::Int(i64::try_from(members.len()).unwrap_or(i64::MAX)),
        Aggregate::Sum(_) => sum(numbers),
        Aggregate::Avg(_) => {
            let (total, count) = numbers.fold((0.0, 0.0), |(t, c), n| (t + n.as_f64(), c + 1.0));
            if count == 0.0 {
                return None;
            }
            Num::Float(total / count)
        }
        Aggregate::Min(_) => extreme(numbers, std::cmp::Ordering::Less)?,
        Aggregate::Max(_) => extreme(numbers, std::cmp::Ordering::Greater)?,
    };
    result.to_json()
}

fn sum(numbers: impl Iterator<Item = Num>) -> Num {
    numbers.fold(Num::Int(0), |total, n| match (total, n) {
        (Num::Int(a), Num::Int(b)) => a
            .checked_add(b)
            .map_or(Num::Float(total.as_f64() + n.as_f64()), Num::Int),
        _ => Num::Float(total.as_f64() + n.as_f64()),
    })
}

fn extreme(numbers: impl Iterator<Item = Num>, wanted: std::cmp::Ordering) -> Option<Num> {
    numbers.fold(None, |best, n| match best {
        Some(b) if n.compare(b) != Some(wanted) => Some(b),
        _ => Some(n),
    })
}
