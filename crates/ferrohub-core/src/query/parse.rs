//! Query text to [`Query`] / [`Expr`]: the clause grammar, and a Pratt parser (winnow's
//! `combinator::expression`) for operator precedence. Input is hostile, so the text length,
//! the nesting depth and the tree height are capped, and errors carry line and column.

use winnow::combinator::{cut_err, opt};
use winnow::error::ErrMode;
use winnow::prelude::*;
use winnow::stream::{LocatingSlice, Stream};

use super::ast::{Aggregate, Expr, Path, Query, SelectItem, Selection, Source};
use super::error::QueryError;
use super::lexer::{
    Input, Nesting, PResult, expected, fail_expected, fail_here, keyword, next_is, offset, segment,
    symbol, word, ws,
};

mod expr;

use expr::expr;

/// IoT Hub's limit on query text, in characters.
pub const MAX_QUERY_LEN: usize = 8192;

/// How deeply parentheses, `NOT`, unary minus and function calls may nest.
pub const MAX_NESTING: usize = 64;

/// How tall an expression tree may grow (long `1 + 1 + …` chains nest without parentheses).
/// Evaluation recurses over the tree, so this bounds its stack use too.
const MAX_HEIGHT: usize = 256;

/// Parses a full `SELECT … FROM … [WHERE …] [GROUP BY …]` statement.
pub fn parse(text: &str) -> Result<Query, QueryError> {
    let parsed = run(text, |input| {
        ws(input)?;
        let parsed = statement(input)?;
        end(input)?;
        Ok(parsed)
    })?;
    parsed.validate(text)
}

/// Parses a bare condition (a job `queryCondition`, a configuration target): `*` or an
/// expression.
pub fn parse_condition(text: &str) -> Result<Expr, QueryError> {
    run(text, |input| {
        ws(input)?;
        let start = input.checkpoint();
        if opt(symbol("*")).parse_next(input)?.is_some() {
            if input.eof_offset() == 0 {
                return Ok(Expr::always());
            }
            input.reset(&start);
        }
        let condition = cut_err(expr)
            .context(expected("a condition"))
            .parse_next(input)?;
        end(input)?;
        Ok(condition.expr)
    })
}

/// Checks the length, runs `parser` over the whole text and turns a failure into a
/// positioned [`QueryError`].
fn run<T>(
    text: &str,
    mut parser: impl FnMut(&mut Input<'_>) -> PResult<T>,
) -> Result<T, QueryError> {
    if let Some((offset, _)) = text.char_indices().nth(MAX_QUERY_LEN) {
        return Err(QueryError::at(
            text,
            offset,
            format!("the query is longer than {MAX_QUERY_LEN} characters"),
        ));
    }
    let nesting = Nesting::new(MAX_NESTING);
    let mut input = Input {
        input: LocatingSlice::new(text),
        state: &nesting,
    };
    match parser(&mut input) {
        Ok(value) => Ok(value),
        Err(ErrMode::Backtrack(error) | ErrMode::Cut(error)) => {
            Err(QueryError::from_context(text, offset(&input), &error))
        }
        Err(ErrMode::Incomplete(_)) => Err(QueryError::at(
            text,
            offset(&input),
            "unexpected end of query",
        )),
    }
}

fn end(input: &mut Input<'_>) -> PResult<()> {
    if input.eof_offset() == 0 {
        Ok(())
    } else {
        fail_expected(input, "end of query")
    }
}

/// A statement before the checks that need all of it (they run with the text at hand).
struct Parsed {
    query: Query,
    select_at: usize,
    item_offsets: Vec<usize>,
    group_at: usize,
}

fn statement(input: &mut Input<'_>) -> PResult<Parsed> {
    cut_err(keyword("SELECT"))
        .context(expected("SELECT"))
        .parse_next(input)?;
    let top = if opt(keyword("TOP")).parse_next(input)?.is_some() {
        Some(
            cut_err(unsigned)
                .context(expected("a number after TOP"))
                .parse_next(input)?,
        )
    } else {
        None
    };
    let select_at = offset(input);
    let (selection, item_offsets) = selection(input)?;
    cut_err(keyword("FROM"))
        .context(expected("FROM"))
        .parse_next(input)?;
    let source = source(input)?;
    let condition = if opt(keyword("WHERE")).parse_next(input)?.is_some() {
        Some(
            cut_err(expr)
                .context(expected("a condition after WHERE"))
                .parse_next(input)?
                .expr,
        )
    } else {
        None
    };
    let group_at = offset(input);
    let mut group_by = Vec::new();
    if opt(keyword("GROUP")).parse_next(input)?.is_some() {
        cut_err(keyword("BY"))
            .context(expected("BY"))
            .parse_next(input)?;
        loop {
            group_by.push(
                cut_err(path)
                    .context(expected("a path to group by"))
                    .parse_next(input)?,
            );
            if opt(symbol(",")).parse_next(input)?.is_none() {
                break;
            }
        }
    }
    Ok(Parsed {
        query: Query {
            top,
            selection,
            source,
            condition,
            group_by,
        },
        select_at,
        item_offsets,
        group_at,
    })
}

fn unsigned(input: &mut Input<'_>) -> PResult<u64> {
    let digits: &str =
        winnow::token::take_while(1.., |c: char| c.is_ascii_digit()).parse_next(input)?;
    let Ok(value) = digits.parse() else {
        return fail_here(input, "number is out of range");
    };
    ws(input)?;
    Ok(value)
}

fn selection(input: &mut Input<'_>) -> PResult<(Selection, Vec<usize>)> {
    if opt(symbol("*")).parse_next(input)?.is_some() {
        return Ok((Selection::All, Vec::new()));
    }
    let mut items = Vec::new();
    let mut offsets = Vec::new();
    loop {
        offsets.push(offset(input));
        items.push(
            cut_err(select_item)
                .context(expected("'*', a path or an aggregate"))
                .parse_next(input)?,
        );
        if opt(symbol(",")).parse_next(input)?.is_none() {
            break;
        }
    }
    Ok((Selection::Items(items), offsets))
}

fn select_item(input: &mut Input<'_>) -> PResult<SelectItem> {
    let start = input.checkpoint();
    let name = opt(word).parse_next(input)?;
    let item = match name {
        Some(name) if next_is(input, '(') => {
            ws(input)?;
            symbol("(").parse_next(input)?;
            let function = aggregate(input, name, &start)?;
            cut_err(symbol(")"))
                .context(expected("')'"))
                .parse_next(input)?;
            SelectItem::Aggregate {
                function,
                alias: None,
            }
        }
        _ => {
            input.reset(&start);
            SelectItem::Path {
                path: path(input)?,
                alias: None,
            }
        }
    };
    let alias = if opt(keyword("AS")).parse_next(input)?.is_some() {
        Some(
            cut_err(alias)
                .context(expected("an alias after AS"))
                .parse_next(input)?,
        )
    } else {
        None
    };
    Ok(match item {
        SelectItem::Path { path, .. } => SelectItem::Path { path, alias },
        SelectItem::Aggregate { function, .. } => SelectItem::Aggregate { function, alias },
    })
}

/// The inside of `NAME(…)` in a select list, after the `(`.
fn aggregate<'a>(
    input: &mut Input<'a>,
    name: &str,
    start: &<Input<'a> as Stream>::Checkpoint,
) -> PResult<Aggregate> {
    let with_path = |input: &mut Input<'_>| {
        cut_err(path)
            .context(expected("a path to aggregate"))
            .parse_next(input)
    };
    match name.to_ascii_uppercase().as_str() {
        "COUNT" => {
            if !next_is(input, ')') {
                return fail_here(input, "COUNT() takes no argument");
            }
            Ok(Aggregate::Count)
        }
        "AVG" => Ok(Aggregate::Avg(with_path(input)?)),
        "SUM" => Ok(Aggregate::Sum(with_path(input)?)),
        "MIN" => Ok(Aggregate::Min(with_path(input)?)),
        "MAX" => Ok(Aggregate::Max(with_path(input)?)),
        _ => {
            input.reset(start);
            fail_here(
                input,
                format!(
                    "'{name}' cannot be selected; the select list takes paths and the \
                     aggregates COUNT, AVG, SUM, MIN, MAX"
                ),
            )
        }
    }
}

fn alias(input: &mut Input<'_>) -> PResult<String> {
    let start = input.checkpoint();
    let name = segment(input, true)?;
    if name.starts_with('$') {
        input.reset(&start);
        return fail_here(input, "an alias cannot start with $");
    }
    ws(input)?;
    Ok(name)
}

fn source(input: &mut Input<'_>) -> PResult<Source> {
    let start = input.checkpoint();
    let found = opt(path).parse_next(input)?;
    let lowered: Option<Vec<String>> =
        found.map(|p| p.segments.iter().map(|s| s.to_ascii_lowercase()).collect());
    let source = match lowered.as_deref() {
        Some([devices]) if devices == "devices" => Source::Devices,
        Some([devices, modules]) if devices == "devices" && modules == "modules" => Source::Modules,
        Some([devices, jobs]) if devices == "devices" && jobs == "jobs" => Source::Jobs,
        _ => {
            input.reset(&start);
            return fail_expected(input, "devices, devices.modules or devices.jobs");
        }
    };
    Ok(source)
}

/// `segment { "." segment }`, no blanks inside, then trailing blanks.
fn path(input: &mut Input<'_>) -> PResult<Path> {
    let mut segments = vec![segment(input, true)?];
    while opt(winnow::token::literal('.'))
        .parse_next(input)?
        .is_some()
    {
        segments.push(
            cut_err(|i: &mut Input<'_>| segment(i, false))
                .context(expected("a name after '.'"))
                .parse_next(input)?,
        );
    }
    ws(input)?;
    Ok(Path::new(segments))
}

impl Parsed {
    /// The checks that need the whole statement: what `devices.jobs` allows, what may be
    /// selected next to aggregates. Also drops a redundant source prefix from paths.
    fn validate(mut self, text: &str) -> Result<Query, QueryError> {
        let query = &mut self.query;
        strip_source_prefix(query);
        if query.source == Source::Jobs && (!query.is_select_star() || !query.group_by.is_empty()) {
            return Err(QueryError::at(
                text,
                self.select_at,
                "devices.jobs supports only SELECT * without GROUP BY",
            ));
        }
        if !query.group_by.is_empty() && query.is_select_star() {
            return Err(QueryError::at(
                text,
                self.group_at,
                "GROUP BY needs a select list of grouped paths and aggregates, not *",
            ));
        }
        if query.is_aggregate()
            && let Selection::Items(items) = &query.selection
        {
            for (item, at) in items.iter().zip(&self.item_offsets) {
                if let SelectItem::Path { path, .. } = item
                    && !query.group_by.iter().any(|g| g.same_field(path))
                {
                    return Err(QueryError::at(
                        text,
                        *at,
                        format!("{path} must appear in GROUP BY to be selected next to aggregates"),
                    ));
                }
            }
        }
        Ok(self.query)
    }
}

/// `devices.deviceId` in a module query, `devices.jobs.jobId` in a job query: the prefix names
/// the collection, not a field of its documents (twins have no `devices` field).
fn strip_source_prefix(query: &mut Query) {
    let source = query.source;
    let strip = |path: &mut Path| {
        let prefix = match path.segments.as_slice() {
            [first, second, _, ..]
                if first.eq_ignore_ascii_case("devices")
                    && ((source == Source::Modules && second.eq_ignore_ascii_case("modules"))
                        || (source == Source::Jobs && second.eq_ignore_ascii_case("jobs"))) =>
            {
                2
            }
            [first, _, ..] if first.eq_ignore_ascii_case("devices") => 1,
            _ => 0,
        };
        path.segments.drain(..prefix);
    };
    if let Selection::Items(items) = &mut query.selection {
        for item in items {
            match item {
                SelectItem::Path { path, .. } => strip(path),
                SelectItem::Aggregate { function, .. } => match function {
                    Aggregate::Count => {}
                    Aggregate::Avg(p)
                    | Aggregate::Sum(p)
                    | Aggregate::Min(p)
                    | Aggregate::Max(p) => strip(p),
                },
            }
        }
    }
    query.group_by.iter_mut().for_each(strip);
    if let Some(condition) = &mut query.condition {
        visit_paths(condition, &mut |p| strip(p));
    }
}

fn visit_paths(expr: &mut Expr, f: &mut impl FnMut(&mut Path)) {
    match expr {
        Expr::Literal(_) => {}
        Expr::Path(path) => f(path),
        Expr::Or(items) | Expr::And(items) => items.iter_mut().for_each(|e| visit_paths(e, f)),
        Expr::Not(inner) | Expr::Neg(inner) => visit_paths(inner, f),
        Expr::In { expr, .. } => visit_paths(expr, f),
        Expr::Binary { left, right, .. } => {
            visit_paths(left, f);
            visit_paths(right, f);
        }
        Expr::Call { args, .. } => args.iter_mut().for_each(|e| visit_paths(e, f)),
    }
}
