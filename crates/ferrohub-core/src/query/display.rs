//! Prints expressions back as query text that re-parses to the same tree: used in error
//! messages and logs, and by the round-trip property tests that keep parser and printer honest.

use std::fmt::{self, Display, Formatter, Write as _};

use super::ast::{Expr, Literal, Path, precedence};
use super::lexer::{is_ident, is_reserved};

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Self::Literal(literal) => literal.fmt(f),
            Self::Path(path) => path.fmt(f),
            Self::Or(items) => join(f, items, " OR ", precedence::OR + 1),
            Self::And(items) => join(f, items, " AND ", precedence::AND + 1),
            Self::Not(operand) => {
                f.write_str("NOT ")?;
                operand_at(f, operand, precedence::NOT)
            }
            Self::Neg(operand) => {
                f.write_char('-')?;
                // A space keeps `- -x` from reading as a comment-like `--`.
                if operand.precedence() == precedence::NEG {
                    f.write_char(' ')?;
                }
                operand_at(f, operand, precedence::NEG)
            }
            Self::Binary { op, left, right } => {
                let level = op.precedence();
                // Comparisons do not chain; arithmetic is left-associative.
                let left_min = if op.is_comparison() { level + 1 } else { level };
                operand_at(f, left, left_min)?;
                write!(f, " {} ", op.symbol())?;
                operand_at(f, right, level + 1)
            }
            Self::In {
                expr,
                list,
                negated,
            } => {
                operand_at(f, expr, precedence::COMPARE + 1)?;
                f.write_str(if *negated { " NIN [" } else { " IN [" })?;
                for (index, item) in list.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    item.fmt(f)?;
                }
                f.write_char(']')
            }
            Self::Call { function, args } => {
                write!(f, "{}(", function.name())?;
                for (index, arg) in args.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    arg.fmt(f)?;
                }
                f.write_char(')')
            }
        }
    }
}

fn join(f: &mut Formatter<'_>, items: &[Expr], separator: &str, min: i64) -> fmt::Result {
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            f.write_str(separator)?;
        }
        operand_at(f, item, min)?;
    }
    Ok(())
}

/// Prints `operand`, parenthesised when it binds looser than its position requires.
fn operand_at(f: &mut Formatter<'_>, operand: &Expr, min: i64) -> fmt::Result {
    if operand.precedence() < min {
        write!(f, "({operand})")
    } else {
        operand.fmt(f)
    }
}

impl Display for Literal {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Self::Null => f.write_str("null"),
            Self::Undefined => f.write_str("undefined"),
            Self::Bool(b) => write!(f, "{b}"),
            Self::Number(n) => write!(f, "{n}"),
            Self::String(s) => {
                f.write_char('\'')?;
                for c in s.chars() {
                    match c {
                        '\'' => f.write_str("\\'")?,
                        '\\' => f.write_str("\\\\")?,
                        c if c.is_control() => {
                            let mut units = [0u16; 2];
                            for unit in c.encode_utf16(&mut units) {
                                write!(f, "\\u{unit:04x}")?;
                            }
                        }
                        c => f.write_char(c)?,
                    }
                }
                f.write_char('\'')
            }
        }
    }
}

impl Display for Path {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for (index, segment) in self.segments.iter().enumerate() {
            if index > 0 {
                f.write_char('.')?;
            }
            let bare = segment.strip_prefix('$').unwrap_or(segment);
            // The first segment must also not read as a literal (`true`, `null`, …).
            let plain = is_ident(bare)
                && !is_reserved(bare)
                && !(index == 0 && !segment.starts_with('$') && is_literal_word(segment));
            if plain {
                f.write_str(segment)?;
            } else {
                write!(f, "[[{segment}]]")?;
            }
        }
        Ok(())
    }
}

fn is_literal_word(word: &str) -> bool {
    ["true", "false", "null", "undefined"]
        .iter()
        .any(|w| w.eq_ignore_ascii_case(word))
}
