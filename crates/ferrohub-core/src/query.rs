//! IoT Hub's twin query language: `SELECT … FROM devices[.modules|.jobs] [WHERE …] [GROUP BY …]`
//! for `POST /devices/query`, and the bare conditions that jobs (`queryCondition`) and
//! automatic configurations (target conditions) use.
//!
//! It lives in the core because the same evaluation must agree everywhere a twin is matched:
//! the query endpoint, job targeting and configuration targeting.
//!
//! - [`ast`]: what a query means once parsed (and how an expression prints back as text).
//! - [`parse`]: text to [`Query`] / [`Expr`], with line/column errors; hostile input is capped.
//! - [`eval`]: one expression over one twin document, with Cosmos-style `undefined`.
//! - [`execute`]: filter, group, project, `TOP` over many documents.
//! - [`error`]: why a query was refused, and where.
//!
//! Decisions where the spec is open (see `shared/spec/query-languages.md`, Open questions):
//! - Top-level twin fields match case-insensitively (`DeviceId` finds `deviceId`); nested tag and
//!   property keys match case-sensitively, as they are stored.
//! - Comparisons involving `undefined`, values of different JSON types, objects or arrays are
//!   `undefined`; only an exactly `true` condition selects a row.
//! - Unaliased keys: a top-level field comes back under the document's own (canonical) name, a
//!   nested path under its last segment, an aggregate as `$1`, `$2`… counted over the unaliased
//!   aggregates in the list.
//! - `GROUP BY` makes a group for `undefined` too; its key is simply absent from that row.

pub mod ast;
mod display;
pub mod error;
pub mod eval;
pub mod execute;
mod lexer;
pub mod parse;

#[cfg(test)]
mod conformance_tests;
#[cfg(test)]
mod parse_tests;
#[cfg(test)]
mod property_tests;

pub use ast::{
    Aggregate, BinaryOp, Expr, Function, Literal, Path, Query, SelectItem, Selection, Source,
};
pub use error::QueryError;
pub use eval::matches;
pub use execute::execute;
pub use parse::{MAX_NESTING, MAX_QUERY_LEN, parse, parse_condition};
