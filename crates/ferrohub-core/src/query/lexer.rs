//! Token-level parsers for the query language (words, keywords, punctuation, string and number
//! literals, path segments) and the parser's input type. Every token eats the whitespace after
//! it, so a failing token is always reported at its own first character.

use std::cell::Cell;

use winnow::combinator::{alt, cut_err, opt};
use winnow::error::{
    AddContext, ContextError, ErrMode, FromExternalError, ModalResult, StrContext, StrContextValue,
};
use winnow::prelude::*;
use winnow::stream::{LocatingSlice, Stateful, Stream};
use winnow::token::{any, literal, one_of, take_till, take_while};

/// Parser input: the text with byte offsets (for error positions), plus the nesting counter.
pub(super) type Input<'a> = Stateful<LocatingSlice<&'a str>, &'a Nesting>;

pub(super) type PResult<T> = ModalResult<T>;

/// Words that cannot be bare path segments or aliases (escape them as `[[group]]`).
const RESERVED: &[&str] = &[
    "SELECT", "TOP", "FROM", "WHERE", "GROUP", "BY", "ORDER", "AS", "AND", "OR", "NOT", "IN", "NIN",
];

pub(super) fn is_reserved(word: &str) -> bool {
    RESERVED.iter().any(|r| r.eq_ignore_ascii_case(word))
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// True when `word` can be written as a bare identifier.
pub(super) fn is_ident(word: &str) -> bool {
    let mut chars = word.chars();
    chars.next().is_some_and(is_ident_start) && chars.all(is_ident_char)
}

/// How deep parentheses, `NOT`, unary minus and function calls may nest. Recursive descent
/// uses the call stack, and the query text is hostile: without a cap, 10,000 `(` would
/// overflow it.
#[derive(Debug, Default)]
pub(super) struct Nesting {
    depth: Cell<usize>,
    limit: usize,
}

impl Nesting {
    pub(super) fn new(limit: usize) -> Self {
        Self {
            depth: Cell::new(0),
            limit,
        }
    }

    /// Enters one level; the returned guard leaves it when dropped, on success or error alike.
    pub(super) fn enter(&self) -> Option<NestingGuard<'_>> {
        let depth = self.depth.get();
        if depth >= self.limit {
            return None;
        }
        self.depth.set(depth + 1);
        Some(NestingGuard(self))
    }
}

pub(super) struct NestingGuard<'a>(&'a Nesting);

impl Drop for NestingGuard<'_> {
    fn drop(&mut self) {
        let depth = self.0.depth.get();
        self.0.depth.set(depth.saturating_sub(1));
    }
}

/// An error message that is not just "expected X" (e.g. naming an unknown function).
#[derive(Debug)]
pub(super) struct Message(pub String);

impl std::fmt::Display for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Message {}

/// A non-recoverable error at the current input position.
pub(super) fn fail_here<T>(input: &mut Input<'_>, message: impl Into<String>) -> PResult<T> {
    Err(ErrMode::Cut(ContextError::from_external_error(
        input,
        Message(message.into()),
    )))
}

/// A non-recoverable "expected `what`" error at the current input position.
pub(super) fn fail_expected<T>(input: &mut Input<'_>, what: &'static str) -> PResult<T> {
    let here = input.checkpoint();
    Err(ErrMode::Cut(ContextError::new().add_context(
        input,
        &here,
        expected(what),
    )))
}

pub(super) fn expected(what: &'static str) -> StrContext {
    StrContext::Expected(StrContextValue::Description(what))
}

pub(super) fn offset(input: &Input<'_>) -> usize {
    winnow::stream::Location::current_token_start(input)
}

pub(super) fn ws(input: &mut Input<'_>) -> PResult<()> {
    take_while(0.., char::is_whitespace)
        .void()
        .parse_next(input)
}

/// A punctuation token such as `(` or `<=`.
pub(super) fn symbol<'a>(text: &'static str) -> impl Parser<Input<'a>, (), ErrMode<ContextError>> {
    move |input: &mut Input<'a>| {
        literal(text).void().parse_next(input)?;
        ws(input)
    }
}

/// A bare word (`[A-Za-z_][A-Za-z0-9_]*`), without its trailing whitespace.
pub(super) fn word<'a>(input: &mut Input<'a>) -> PResult<&'a str> {
    (one_of(is_ident_start), take_while(0.., is_ident_char))
        .take()
        .parse_next(input)
}

/// A case-insensitive keyword; it must be the whole word (`OR` does not match `ORDER`).
pub(super) fn keyword<'a>(name: &'static str) -> impl Parser<Input<'a>, (), ErrMode<ContextError>> {
    move |input: &mut Input<'a>| {
        let start = input.checkpoint();
        let found = word(input)?;
        if !found.eq_ignore_ascii_case(name) {
            input.reset(&start);
            return Err(ErrMode::Backtrack(ContextError::new()));
        }
        ws(input)
    }
}

/// Peeks whether the next non-blank character is `c` (used to tell `f(` calls from paths).
pub(super) fn next_is(input: &mut Input<'_>, c: char) -> bool {
    let start = input.checkpoint();
    let found = ws(input).is_ok() && input.peek_token() == Some(c);
    input.reset(&start);
    found
}

/// `'…'` or `"…"` with `\'`, `\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t`, `\uXXXX`.
pub(super) fn string_literal(input: &mut Input<'_>) -> PResult<String> {
    let start = input.checkpoint();
    let quote = one_of(['\'', '"']).parse_next(input)?;
    let mut text = String::new();
    loop {
        let chunk: &str = take_till(0.., [quote, '\\']).parse_next(input)?;
        text.push_str(chunk);
        let backslash = input.checkpoint();
        match opt(any).parse_next(input)? {
            Some(c) if c == quote => break,
            Some(_) => text.push(escape(input, &backslash)?),
            None => {
                input.reset(&start);
                return fail_here(input, "unterminated string literal");
            }
        }
    }
    ws(input)?;
    Ok(text)
}

/// The character after a backslash; errors point at the backslash (`at`).
fn escape<'a>(input: &mut Input<'a>, at: &<Input<'a> as Stream>::Checkpoint) -> PResult<char> {
    let Some(c) = opt(any).parse_next(input)? else {
        return fail_here(input, "unterminated string literal");
    };
    let simple = match c {
        '\'' | '"' | '\\' | '/' => Some(c),
        'b' => Some('\u{8}'),
        'f' => Some('\u{c}'),
        'n' => Some('\n'),
        'r' => Some('\r'),
        't' => Some('\t'),
        _ => None,
    };
    if let Some(c) = simple {
        return Ok(c);
    }
    if c != 'u' {
        input.reset(at);
        return fail_here(input, format!("unknown escape sequence \\{c}"));
    }
    let high = hex4(input)?;
    if !(0xD800..0xDC00).contains(&high) {
        return match char::from_u32(high) {
            Some(c) => Ok(c),
            None => {
                input.reset(at);
                fail_here(input, "\\u escape is a lone surrogate")
            }
        };
    }
    // A UTF-16 surrogate pair: \uD83D\uDE00.
    let low = if opt(literal("\\u")).parse_next(input)?.is_some() {
        hex4(input)?
    } else {
        0
    };
    let combined = (0xDC00..0xE000)
        .contains(&low)
        .then(|| 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
        .and_then(char::from_u32);
    match combined {
        Some(c) => Ok(c),
        None => {
            input.reset(at);
            fail_here(input, "\\u escape is a lone surrogate")
        }
    }
}

fn hex4(input: &mut Input<'_>) -> PResult<u32> {
    let digits: &str = cut_err(take_while(4, |c: char| c.is_ascii_hexdigit()))
        .context(expected("four hex digits after \\u"))
        .parse_next(input)?;
    match u32::from_str_radix(digits, 16) {
        Ok(value) => Ok(value),
        Err(_) => fail_here(input, "invalid \\u escape"),
    }
}

/// Decimal (`12`, `1.5`, `2e10`) or hexadecimal (`0x1F`) number, never negative (unary minus
/// is an operator).
pub(super) fn number_literal(input: &mut Input<'_>) -> PResult<serde_json::Number> {
    let start = input.checkpoint();
    let parsed = alt((hex_number, decimal_number)).parse_next(input)?;
    if input.peek_token().is_some_and(is_ident_char) || input.peek_token() == Some('.') {
        input.reset(&start);
        return fail_here(input, "invalid number");
    }
    let Some(number) = parsed else {
        input.reset(&start);
        return fail_here(input, "number is out of range");
    };
    ws(input)?;
    Ok(number)
}

fn hex_number(input: &mut Input<'_>) -> PResult<Option<serde_json::Number>> {
    alt((literal("0x"), literal("0X"))).parse_next(input)?;
    let digits: &str = cut_err(take_while(1.., |c: char| c.is_ascii_hexdigit()))
        .context(expected("hex digits"))
        .parse_next(input)?;
    Ok(u64::from_str_radix(digits, 16).ok().map(Into::into))
}

fn decimal_number(input: &mut Input<'_>) -> PResult<Option<serde_json::Number>> {
    let digits = || take_while(1.., |c: char| c.is_ascii_digit());
    let text: &str = (
        digits(),
        opt((literal('.'), cut_err(digits()).context(expected("digits")))),
        opt((
            one_of(['e', 'E']),
            opt(one_of(['+', '-'])),
            cut_err(digits()).context(expected("exponent digits")),
        )),
    )
        .take()
        .parse_next(input)?;
    let is_integer = text.bytes().all(|b| b.is_ascii_digit());
    if is_integer && let Ok(value) = text.parse::<u64>() {
        return Ok(Some(value.into()));
    }
    Ok(text
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64))
}

/// One path segment: `name`, `$name`, or `[[any text]]`. Reserved words must be escaped: as
/// the `first` segment one simply is not a path (`FROM`, `AND`), later it is an error.
pub(super) fn segment(input: &mut Input<'_>, first: bool) -> PResult<String> {
    if opt(literal("[[")).parse_next(input)?.is_some() {
        let start = input.checkpoint();
        let name: &str = take_till(0.., |c: char| c == ']').parse_next(input)?;
        // `]` alone may appear in a name; only `]]` ends it.
        let mut name = name.to_owned();
        loop {
            if opt(literal("]]")).parse_next(input)?.is_some() {
                break;
            }
            if opt(literal(']')).parse_next(input)?.is_none() {
                input.reset(&start);
                return fail_here(input, "unterminated [[escaped]] name");
            }
            name.push(']');
            let more: &str = take_till(0.., |c: char| c == ']').parse_next(input)?;
            name.push_str(more);
        }
        if name.is_empty() {
            input.reset(&start);
            return fail_here(input, "empty [[escaped]] name");
        }
        return Ok(name);
    }
    let start = input.checkpoint();
    let dollar = opt(literal('$')).parse_next(input)?.is_some();
    let name = if dollar {
        cut_err(word)
            .context(expected("a name after $"))
            .parse_next(input)?
    } else {
        word(input)?
    };
    if !dollar && is_reserved(name) {
        input.reset(&start);
        if first {
            return Err(ErrMode::Backtrack(ContextError::new()));
        }
        return fail_here(
            input,
            format!("'{name}' is a reserved word; escape it as [[{name}]]"),
        );
    }
    Ok(if dollar {
        format!("${name}")
    } else {
        name.to_owned()
    })
}
