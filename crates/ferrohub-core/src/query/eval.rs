//! Evaluates one expression over one twin document with Cosmos-style `undefined`: a missing
//! path, a comparison across types or with `undefined`, arithmetic on non-numbers — all give
//! `undefined`, and only an exactly `true` condition selects a document.
//!
//! Choices where the spec is silent:
//! - Objects and arrays are not comparable: every comparison and `IN` on them is `undefined`
//!   (`ARRAY_CONTAINS` is the way to look inside arrays).
//! - `null` compares equal to `null` (`=`, `!=`), and ordering on `null` is `undefined`.
//!   Booleans order `false < true`, strings ordinally (by code point), case-sensitively.
//! - Numbers: integers compare exactly; anything involving a float compares as `f64`.
//! - The first path segment matches a top-level field case-insensitively; deeper segments
//!   match exactly.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use super::ast::{BinaryOp, Expr, Function, Literal, Path};

/// Evaluates a condition on one document: true only when the result is exactly boolean `true`.
pub fn matches(condition: &Expr, document: &Value) -> bool {
    matches!(evaluate(condition, document), Val::Bool(true))
}

/// A value during evaluation: JSON borrowed from the document or the query, or a computed
/// number, or `undefined`.
#[derive(Debug, Clone, Copy)]
pub(super) enum Val<'a> {
    Undefined,
    Null,
    Bool(bool),
    Number(Num),
    String(&'a str),
    Array(&'a [Value]),
    Object(&'a Map<String, Value>),
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Num {
    Int(i64),
    Float(f64),
}

impl Num {
    fn from_json(n: &serde_json::Number) -> Self {
        match n.as_i64() {
            Some(i) => Self::Int(i),
            None => Self::Float(n.as_f64().unwrap_or(f64::NAN)),
        }
    }

    pub(super) fn as_f64(self) -> f64 {
        match self {
            // Exact for |i| <= 2^53, the nearest float beyond.
            #[allow(clippy::cast_precision_loss)]
            Self::Int(i) => i as f64,
            Self::Float(f) => f,
        }
    }

    pub(super) fn compare(self, other: Self) -> Option<Ordering> {
        match (self, other) {
            (Self::Int(a), Self::Int(b)) => Some(a.cmp(&b)),
            (a, b) => a.as_f64().partial_cmp(&b.as_f64()),
        }
    }

    pub(super) fn to_json(self) -> Option<Value> {
        match self {
            Self::Int(i) => Some(i.into()),
            Self::Float(f) => serde_json::Number::from_f64(f).map(Value::Number),
        }
    }
}

impl<'a> Val<'a> {
    pub(super) fn from_json(value: &'a Value) -> Self {
        match value {
            Value::Null => Self::Null,
            Value::Bool(b) => Self::Bool(*b),
            Value::Number(n) => Self::Number(Num::from_json(n)),
            Value::String(s) => Self::String(s),
            Value::Array(items) => Self::Array(items),
            Value::Object(map) => Self::Object(map),
        }
    }

    fn from_literal(literal: &'a Literal) -> Self {
        match literal {
            Literal::Null => Self::Null,
            Literal::Undefined => Self::Undefined,
            Literal::Bool(b) => Self::Bool(*b),
            Literal::Number(n) => Self::Number(Num::from_json(n)),
            Literal::String(s) => Self::String(s),
        }
    }

    /// Three-valued truth: `Some(bool)` for booleans, `None` (undefined) for anything else.
    fn truth(self) -> Option<bool> {
        match self {
            Self::Bool(b) => Some(b),
            _ => None,
        }
    }
}

/// Looks `path` up in `document`; `None` when any segment is missing.
pub(super) fn lookup<'a>(document: &'a Value, path: &Path) -> Option<&'a Value> {
    let (first, rest) = path.segments.split_first()?;
    let mut current = top_level(document, first)?.1;
    for segment in rest {
        current = current.as_object()?.get(segment)?;
    }
    Some(current)
}

/// A top-level field by exact name, else case-insensitively (twin fields are case-insensitive
/// in queries: `DeviceId` is `deviceId`). Returns the document's own spelling with the value.
pub(super) fn top_level<'a>(document: &'a Value, name: &str) -> Option<(&'a str, &'a Value)> {
    let map = document.as_object()?;
    if let Some((key, value)) = map.get_key_value(name) {
        return Some((key, value));
    }
    map.iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(key, value)| (key.as_str(), value))
}

/// Evaluates `expr` against `document`. Recursion depth is bounded by the parser's height cap.
pub(super) fn evaluate<'a>(expr: &'a Expr, document: &'a Value) -> Val<'a> {
    match expr {
        Expr::Literal(literal) => Val::from_literal(literal),
        Expr::Path(path) => lookup(document, path).map_or(Val::Undefined, Val::from_json),
        Expr::Or(items) => {
            // true wins; all false is false; otherwise undefined.
            let mut all_false = true;
            for item in items {
                match evaluate(item, document).truth() {
                    Some(true) => return Val::Bool(true),
                    Some(false) => {}
                    None => all_false = false,
                }
            }
            if all_false {
                Val::Bool(false)
            } else {
                Val::Undefined
            }
        }
        Expr::And(items) => {
            // false wins; all true is true; otherwise undefined.
            let mut all_true = true;
            for item in items {
                match evaluate(item, document).truth() {
                    Some(false) => return Val::Bool(false),
                    Some(true) => {}
                    None => all_true = false,
                }
            }
            if all_true {
                Val::Bool(true)
            } else {
                Val::Undefined
            }
        }
        Expr::Not(inner) => match evaluate(inner, document).truth() {
            Some(b) => Val::Bool(!b),
            None => Val::Undefined,
        },
        Expr::Neg(inner) => match evaluate(inner, document) {
            Val::Number(n) => negate(n),
            _ => Val::Undefined,
        },
        Expr::Binary { op, left, right } => {
            binary(*op, evaluate(left, document), evaluate(right, document))
        }
        Expr::In {
            expr,
            list,
            negated,
        } => {
            let value = evaluate(expr, document);
            if matches!(value, Val::Undefined | Val::Array(_) | Val::Object(_)) {
                return Val::Undefined;
            }
            let found = list
                .iter()
                .any(|item| equals(value, Val::from_literal(item)) == Some(true));
            Val::Bool(found != *negated)
        }
        Expr::Call { function, args } => call(*function, args, document),
    }
}

fn negate(n: Num) -> Val<'static> {
    Val::Number(match n {
        Num::Int(i) => i.checked_neg().map_or(Num::Float(-n.as_f64()), Num::Int),
        Num::Float(f) => Num::Float(-f),
    })
}

fn binary<'a>(op: BinaryOp, left: Val<'a>, right: Val<'a>) -> Val<'a> {
    match op {
        BinaryOp::Eq => bool_or_undefined(equals(left, right)),
        BinaryOp::Ne => bool_or_undefined(equals(left, right).map(|b| !b)),
        BinaryOp::Lt => ordered(left, right, Ordering::is_lt),
        BinaryOp::Le => ordered(left, right, Ordering::is_le),
        BinaryOp::Gt => ordered(left, right, Ordering::is_gt),
        BinaryOp::Ge => ordered(left, right, Ordering::is_ge),
        BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod => {
            match (left, right) {
                (Val::Number(a), Val::Number(b)) => arithmetic(op, a, b),
                _ => Val::Undefined,
            }
        }
    }
}

fn bool_or_undefined(value: Option<bool>) -> Val<'static> {
    value.map_or(Val::Undefined, Val::Bool)
}

/// `=` between two values: `None` (undefined) across types, with `undefined`, or on
/// objects/arrays.
fn equals(left: Val<'_>, right: Val<'_>) -> Option<bool> {
    match (left, right) {
        (Val::Null, Val::Null) => Some(true),
        _ => compare(left, right).map(Ordering::is_eq),
    }
}

fn ordered(left: Val<'_>, right: Val<'_>, test: fn(Ordering) -> bool) -> Val<'static> {
    bool_or_undefined(compare(left, right).map(test))
}

/// Ordering between two primitives of the same type; `None` otherwise.
fn compare(left: Val<'_>, right: Val<'_>) -> Option<Ordering> {
    match (left, right) {
        (Val::Number(a), Val::Number(b)) => a.compare(b),
        (Val::String(a), Val::String(b)) => Some(a.cmp(b)),
        (Val::Bool(a), Val::Bool(b)) => Some(a.cmp(&b)),
        _ => None,
    }
}

fn arithmetic(op: BinaryOp, a: Num, b: Num) -> Val<'static> {
    if let (Num::Int(x), Num::Int(y)) = (a, b) {
        let exact = match op {
            BinaryOp::Add => x.checked_add(y),
            BinaryOp::Sub => x.checked_sub(y),
            BinaryOp::Mul => x.checked_mul(y),
            // Integer division only when it is exact; 7 / 2 is 3.5.
            BinaryOp::Div => x
                .checked_rem(y)
                .filter(|r| *r == 0)
                .and_then(|_| x.checked_div(y)),
            BinaryOp::Mod => x.checked_rem(y),
            _ => None,
        };
        if let Some(value) = exact {
            return Val::Number(Num::Int(value));
        }
        if y == 0 && matches!(op, BinaryOp::Div | BinaryOp::Mod) {
            return Val::Undefined;
        }
    }
    let (x, y) = (a.as_f64(), b.as_f64());
    let value = match op {
        BinaryOp::Add => x + y,
        BinaryOp::Sub => x - y,
        BinaryOp::Mul => x * y,
        BinaryOp::Div => x / y,
        BinaryOp::Mod => x % y,
        _ => f64::NAN,
    };
    // Division by zero, overflow to infinity: no JSON number, so undefined.
    if value.is_finite() {
        Val::Number(Num::Float(value))
    } else {
        Val::Undefined
    }
}

fn call<'a>(function: Function, args: &'a [Expr], document: &'a Value) -> Val<'a> {
    let arg = |index: usize| {
        args.get(index)
            .map_or(Val::Undefined, |e| evaluate(e, document))
    };
    match function {
        // True even when the value is null.
        Function::IsDefined => Val::Bool(!matches!(arg(0), Val::Undefined)),
        Function::StartsWith => match (arg(0), arg(1)) {
            (Val::String(s), Val::String(prefix)) => Val::Bool(s.starts_with(prefix)),
            _ => Val::Undefined,
        },
        Function::EndsWith => match (arg(0), arg(1)) {
            (Val::String(s), Val::String(suffix)) => Val::Bool(s.ends_with(suffix)),
            _ => Val::Undefined,
        },
        Function::ArrayContains => match (arg(0), arg(1)) {
            (Val::Array(_), Val::Undefined) => Val::Undefined,
            (Val::Array(items), needle) => Val::Bool(
                items
                    .iter()
                    .any(|item| deep_equals(Val::from_json(item), needle)),
            ),
            _ => Val::Undefined,
        },
    }
}

/// Equality that also looks inside arrays and objects, for `ARRAY_CONTAINS`.
fn deep_equals(left: Val<'_>, right: Val<'_>) -> bool {
    match (left, right) {
        (Val::Array(a), Val::Array(b)) => {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|(x, y)| deep_equals(Val::from_json(x), Val::from_json(y)))
        }
        (Val::Object(a), Val::Object(b)) => {
            a.len() == b.len()
                && a.iter().all(|(key, x)| {
                    b.get(key)
                        .is_some_and(|y| deep_equals(Val::from_json(x), Val::from_json(y)))
                })
        }
        _ => equals(left, right) == Some(true),
    }
}
