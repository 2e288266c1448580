//! Expressions: a Pratt parser (winnow's `combinator::expression`) over operands, function
//! calls, `IN`/`NIN` lists and constants, with the nesting depth and the tree height capped
//! because the input is hostile.

use winnow::combinator::{Infix, Postfix, cut_err, expression, fail, opt};
use winnow::error::{ContextError, ErrMode};
use winnow::prelude::*;
use winnow::stream::Stream;

use super::super::ast::{BinaryOp, Expr, Function, Literal, precedence};
use super::super::lexer::{
    Input, PResult, expected, fail_here, is_reserved, keyword, next_is, number_literal,
    string_literal, symbol, word, ws,
};
use super::{MAX_HEIGHT, MAX_NESTING, path};

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
