//! Query text to [`Query`] / [`Expr`]: the clause grammar, and a Pratt parser (winnow's
//! `combinator::expression`) for operator precedence. Input is hostile, so the text length,
//! the nesting depth and the tree height are capped, and errors carry line and column.

use winnow::combinator::{Infix, Postfix, cut_err, expression, fail, opt};
use winnow::error::{ContextError, ErrMode};
use winnow::prelude::*;
use winnow::stream::{LocatingSlice, Stream};

use super::ast::{
    Aggregate, BinaryOp, Expr, Function, Literal, Path, Query, SelectItem, Selection, Source,
    precedence,
};
use super::error::QueryError;
use super::lexer::{
    Input, Nesting, PResult, expected, fail_expected, fail_here, is_reserved, keyword, next_is,
    number_literal, offset, segment, string_literal, symbol, word, ws,
};

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

/// An expression with the height of its tree, which the folds check against [`MAX_HEIGHT`].
pub(super) struct Node {
    pub(super) expr: Expr,
    height: usize,
}

impl Node {
    fn leaf(expr: Expr) -> Self {
        Self { expr, height: 1 }
    }

    fn checked(input: &mut Input<'_>, expr: Expr, height: usize) -> PResult<Self> {
        if height > MAX_HEIGHT {
            return fail_here(
                input,
                format!("the expression is too complex (more than {MAX_HEIGHT} levels deep)"),
            );
        }
        Ok(Self { expr, height })
    }
}

pub(super) fn expr(input: &mut Input<'_>) -> PResult<Node> {
    expr_at(input, 0)
}

/// An expression whose operators all bind at least as tightly as `level`.
fn expr_at(input: &mut Input<'_>, level: i64) -> PResult<Node> {
    expression(operand)
        // Reached only when no operand parses: say so, wherever the operand was missing.
        .prefix(fail.context(expected("an operand")))
        .infix(infix_operator)
        .postfix(postfix_operator)
        .current_precedence_level(level)
        .parse_next(input)
}

fn backtrack<T>() -> PResult<T> {
    Err(ErrMode::Backtrack(ContextError::new()))
}

/// Enters one nesting level or fails with a positioned error.
macro_rules! nest {
    ($input:expr) => {
        match $input.state.enter() {
            Some(guard) => guard,
            None => return too_deep($input),
        }
    };
}

// The recursive functions below are kept small and apart (`inline(never)`, error text built
// in cold helpers): in a debug build every local of a function takes stack space for the whole
// call, and these frames repeat once per nesting level.

#[cold]
#[inline(never)]
fn too_deep<T>(input: &mut Input<'_>) -> PResult<T> {
    fail_here(
        input,
        format!("the expression is nested more than {MAX_NESTING} levels deep"),
    )
}

/// Literals, paths, calls, parenthesised expressions, and the prefix operators `NOT` and `-`
/// (handled here rather than as Pratt prefixes so each recursion passes the nesting guard).
fn operand(input: &mut Input<'_>) -> PResult<Node> {
    match input.peek_token() {
        Some('(') => parenthesised(input),
        Some('-') => negated(input),
        Some('\'' | '"') => leaf_operand(input),
        Some(c) if c.is_ascii_digit() => leaf_operand(input),
        Some('$' | '[') => leaf_operand(input),
        Some(c) if c.is_ascii_alphabetic() || c == '_' => word_operand(input),
        _ => backtrack(),
    }
}

#[inline(never)]
fn parenthesised(input: &mut Input<'_>) -> PResult<Node> {
    symbol("(").parse_next(input)?;
    let _guard = nest!(input);
    let inner = cut_err(expr)
        .context(expected("an expression"))
        .parse_next(input)?;
    cut_err(symbol(")"))
        .context(expected("')'"))
        .parse_next(input)?;
    Ok(inner)
}

#[inline(never)]
fn negated(input: &mut Input<'_>) -> PResult<Node> {
    symbol("-").parse_next(input)?;
    let _guard = nest!(input);
    let inner = cut_err(operand)
        .context(expected("an operand after '-'"))
        .parse_next(input)?;
    Node::checked(input, Expr::negate(inner.expr), inner.height + 1)
}

/// Operands that do not recurse: strings, numbers, `$`/`[[` paths.
#[inline(never)]
fn leaf_operand(input: &mut Input<'_>) -> PResult<Node> {
    let expr = match input.peek_token() {
        Some('\'' | '"') => Expr::Literal(Literal::String(string_literal(input)?)),
        Some('[') if !input.starts_with("[[") => {
            return fail_here(input, "array constants are only allowed after IN or NIN");
        }
        Some('$' | '[') => Expr::Path(path(input)?),
        _ => Expr::Literal(Literal::Number(number_literal(input)?)),
    };
    Ok(Node::leaf(expr))
}

/// An operand that starts with a word: `NOT …`, a literal keyword, a call, or a path.
#[inline(never)]
fn word_operand(input: &mut Input<'_>) -> PResult<Node> {
    let start = input.checkpoint();
    let name = word(input)?;
    if name.eq_ignore_ascii_case("NOT") {
        ws(input)?;
        return not_operand(input);
    }
    if let Some(literal) = literal_word(name) {
        ws(input)?;
        return Ok(Node::leaf(Expr::Literal(literal)));
    }
    if next_is(input, '(') {
        ws(input)?;
        symbol("(").parse_next(input)?;
        return match Function::from_name(name) {
            Some(function) => call(input, function, &start),
            None => unknown_function(input, name, &start),
        };
    }
    input.reset(&start);
    if is_reserved(name) {
        return backtrack();
    }
    Ok(Node::leaf(Expr::Path(path(input)?)))
}

/// The operand of `NOT`, after the keyword.
#[inline(never)]
fn not_operand(input: &mut Input<'_>) -> PResult<Node> {
    let _guard = nest!(input);
    let inner = cut_err(|i: &mut Input<'_>| expr_at(i, precedence::NOT))
        .context(expected("an operand after NOT"))
        .parse_next(input)?;
    Node::checked(input, Expr::Not(Box::new(inner.expr)), inner.height + 1)
}

fn literal_word(word: &str) -> Option<Literal> {
    match word.to_ascii_lowercase().as_str() {
        "true" => Some(Literal::Bool(true)),
        "false" => Some(Literal::Bool(false)),
        "null" => Some(Literal::Null),
        "undefined" => Some(Literal::Undefined),
        _ => None,
    }
}

#[cold]
#[inline(never)]
fn unknown_function<'a, T>(
    input: &mut Input<'a>,
    name: &str,
    start: &<Input<'a> as Stream>::Checkpoint,
) -> PResult<T> {
    input.reset(start);
    let upper = name.to_ascii_uppercase();
    let message = if ["COUNT", "AVG", "SUM", "MIN", "MAX"].contains(&upper.as_str()) {
        format!("the aggregate {upper} is only allowed in the select list")
    } else {
        format!(
            "unknown function '{name}'; twin queries support IS_DEFINED, STARTSWITH, \
             ENDSWITH and ARRAY_CONTAINS"
        )
    };
    fail_here(input, message)
}

/// The arguments of a call and its `)`; `start` is where the name began.
#[inline(never)]
fn call<'a>(
    input: &mut Input<'a>,
    function: Function,
    start: &<Input<'a> as Stream>::Checkpoint,
) -> PResult<Node> {
    let _guard = nest!(input);
    let mut args = Vec::new();
    let mut height = 1;
    if opt(symbol(")")).parse_next(input)?.is_none() {
        loop {
            let arg = cut_err(expr)
                .context(expected("an argument"))
                .parse_next(input)?;
            height = height.max(arg.height + 1);
            args.push(arg.expr);
            if opt(symbol(",")).parse_next(input)?.is_none() {
                break;
            }
        }
        cut_err(symbol(")"))
            .context(expected("',' or ')'"))
            .parse_next(input)?;
    }
    if args.len() != function.arity() {
        return wrong_arity(input, function, args.len(), start);
    }
    Node::checked(input, Expr::Call { function, args }, height)
}

#[cold]
#[inline(never)]
fn wrong_arity<'a, T>(
    input: &mut Input<'a>,
    function: Function,
    given: usize,
    start: &<Input<'a> as Stream>::Checkpoint,
) -> PResult<T> {
    input.reset(start);
    let plural = if function.arity() == 1 { "" } else { "s" };
    fail_here(
        input,
        format!(
            "{} takes {} argument{plural}, not {given}",
            function.name(),
            function.arity(),
        ),
    )
}

type Operator<'a> = Infix<Input<'a>, Node, ErrMode<ContextError>>;

fn infix_operator<'a>(input: &mut Input<'a>) -> PResult<Operator<'a>> {
    use Infix::{Left, Neither};
    let two = |input: &mut Input<'a>, text: &'static str| {
        if input.starts_with(text) {
            symbol(text).parse_next(input).map(|()| true)
        } else {
            Ok(false)
        }
    };
    let operator = match input.peek_token() {
        Some('=') => {
            symbol("=").parse_next(input)?;
            Neither(precedence::COMPARE, fold_eq)
        }
        Some('!') if two(input, "!=")? => Neither(precedence::COMPARE, fold_ne),
        Some('<') => {
            if two(input, "<=")? {
                Neither(precedence::COMPARE, fold_le)
            } else if two(input, "<>")? {
                Neither(precedence::COMPARE, fold_ne)
            } else {
                symbol("<").parse_next(input)?;
                Neither(precedence::COMPARE, fold_lt)
            }
        }
        Some('>') => {
            if two(input, ">=")? {
                Neither(precedence::COMPARE, fold_ge)
            } else {
                symbol(">").parse_next(input)?;
                Neither(precedence::COMPARE, fold_gt)
            }
        }
        Some('+') => {
            symbol("+").parse_next(input)?;
            Left(precedence::ADD, fold_add)
        }
        Some('-') => {
            symbol("-").parse_next(input)?;
            Left(precedence::ADD, fold_sub)
        }
        Some('*') => {
            symbol("*").parse_next(input)?;
            Left(precedence::MUL, fold_mul)
        }
        Some('/') => {
            symbol("/").parse_next(input)?;
            Left(precedence::MUL, fold_div)
        }
        Some('%') => {
            symbol("%").parse_next(input)?;
            Left(precedence::MUL, fold_mod)
        }
        _ => {
            if opt(keyword("OR")).parse_next(input)?.is_some() {
                Left(precedence::OR, fold_or)
            } else if opt(keyword("AND")).parse_next(input)?.is_some() {
                Left(precedence::AND, fold_and)
            } else {
                return backtrack();
            }
        }
    };
    Ok(operator)
}

/// `IN [..]` / `NIN [..]` are postfix operators whose fold parses the array itself: the
/// right-hand side is a list of constants, not an expression.
fn postfix_operator<'a>(
    input: &mut Input<'a>,
) -> PResult<Postfix<Input<'a>, Node, ErrMode<ContextError>>> {
    if opt(keyword("IN")).parse_next(input)?.is_some() {
        Ok(Postfix(precedence::COMPARE, fold_in))
    } else if opt(keyword("NIN")).parse_next(input)?.is_some() {
        Ok(Postfix(precedence::COMPARE, fold_nin))
    } else {
        backtrack()
    }
}

fn fold_in(input: &mut Input<'_>, left: Node) -> PResult<Node> {
    membership(input, left, false)
}

fn fold_nin(input: &mut Input<'_>, left: Node) -> PResult<Node> {
    membership(input, left, true)
}

fn membership(input: &mut Input<'_>, left: Node, negated: bool) -> PResult<Node> {
    let list = cut_err(array)
        .context(expected("an array of constants such as ['a', 'b']"))
        .parse_next(input)?;
    let expr = Expr::In {
        expr: Box::new(left.expr),
        list,
        negated,
    };
    Node::checked(input, expr, left.height + 1)
}

/// `[c1, c2, …]`: constants only.
fn array(input: &mut Input<'_>) -> PResult<Vec<Literal>> {
    if input.starts_with("[[") {
        return backtrack();
    }
    symbol("[").parse_next(input)?;
    let mut items = Vec::new();
    if opt(symbol("]")).parse_next(input)?.is_some() {
        return Ok(items);
    }
    loop {
        items.push(
            cut_err(constant)
                .context(expected("a constant"))
                .parse_next(input)?,
        );
        if opt(symbol(",")).parse_next(input)?.is_none() {
            break;
        }
    }
    cut_err(symbol("]"))
        .context(expected("',' or ']'"))
        .parse_next(input)?;
    Ok(items)
}

fn constant(input: &mut Input<'_>) -> PResult<Literal> {
    match input.peek_token() {
        Some('\'' | '"') => Ok(Literal::String(string_literal(input)?)),
        Some(c) if c.is_ascii_digit() => Ok(Literal::Number(number_literal(input)?)),
        Some('-') => {
            symbol("-").parse_next(input)?;
            let number = cut_err(number_literal)
                .context(expected("a number after '-'"))
                .parse_next(input)?;
            match Expr::negate(Expr::Literal(Literal::Number(number))) {
                Expr::Literal(literal) => Ok(literal),
                _ => backtrack(),
            }
        }
        _ => {
            let start = input.checkpoint();
            let name = word(input)?;
            match literal_word(name) {
                Some(literal) => {
                    ws(input)?;
                    Ok(literal)
                }
                None => {
                    input.reset(&start);
                    backtrack()
                }
            }
        }
    }
}

macro_rules! folds {
    ($($name:ident => $op:expr),* $(,)?) => {$(
        fn $name(input: &mut Input<'_>, left: Node, right: Node) -> PResult<Node> {
            let height = left.height.max(right.height) + 1;
            Node::checked(input, Expr::binary($op, left.expr, right.expr), height)
        }
    )*};
}

folds! {
    fold_eq => BinaryOp::Eq,
    fold_ne => BinaryOp::Ne,
    fold_lt => BinaryOp::Lt,
    fold_le => BinaryOp::Le,
    fold_gt => BinaryOp::Gt,
    fold_ge => BinaryOp::Ge,
    fold_add => BinaryOp::Add,
    fold_sub => BinaryOp::Sub,
    fold_mul => BinaryOp::Mul,
    fold_div => BinaryOp::Div,
    fold_mod => BinaryOp::Mod,
}

fn fold_or(input: &mut Input<'_>, left: Node, right: Node) -> PResult<Node> {
    let height = chain_height(&left, &right, matches!(left.expr, Expr::Or(_)));
    Node::checked(input, Expr::or(left.expr, right.expr), height)
}

fn fold_and(input: &mut Input<'_>, left: Node, right: Node) -> PResult<Node> {
    let height = chain_height(&left, &right, matches!(left.expr, Expr::And(_)));
    Node::checked(input, Expr::and(left.expr, right.expr), height)
}

/// Height after `left op right` when `op` chains are flattened: joining an existing chain
/// adds a sibling, not a level.
fn chain_height(left: &Node, right: &Node, joins_chain: bool) -> usize {
    if joins_chain {
        left.height.max(right.height + 1)
    } else {
        left.height.max(right.height) + 1
    }
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
