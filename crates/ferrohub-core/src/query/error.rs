//! `QueryError`: why a query was refused, pointing at a line and column so the REST layer can
//! answer 400 with a message like `line 1, column 10: expected FROM, found 'FORM'`.

use std::fmt;

use winnow::error::{ContextError, StrContext};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    pub message: String,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    /// The offending line with a caret under the column (at most ~80 characters of it).
    snippet: String,
}

impl QueryError {
    /// An error at byte `offset` of `text`.
    pub(super) fn at(text: &str, offset: usize, message: impl Into<String>) -> Self {
        let before = text.get(..offset).unwrap_or(text);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        let line_text = text[line_start..].lines().next().unwrap_or("");
        Self {
            message: message.into(),
            line,
            column,
            snippet: caret_snippet(line_text, column),
        }
    }

    /// Renders winnow's error: a custom message when one was given, else the expectations,
    /// followed by what was actually found at the position.
    pub(super) fn from_context(text: &str, offset: usize, error: &ContextError) -> Self {
        if let Some(cause) = error.cause() {
            return Self::at(text, offset, cause.to_string());
        }
        let mut expectations: Vec<String> = Vec::new();
        for context in error.context() {
            if let StrContext::Expected(value) = context {
                let value = value.to_string();
                if !expectations.contains(&value) {
                    expectations.push(value);
                }
            }
        }
        let found = found_at(text, offset);
        let message = match expectations.first() {
            // The innermost expectation is the most specific one.
            Some(first) => format!("expected {first}, found {found}"),
            None => format!("unexpected {found}"),
        };
        Self::at(text, offset, message)
    }

    /// The offending line with a caret under the error column.
    pub fn snippet(&self) -> &str {
        &self.snippet
    }
}

/// Describes the token at `offset`: a whole word, or one character, or the end.
fn found_at(text: &str, offset: usize) -> String {
    let rest = text.get(offset..).unwrap_or("");
    let mut chars = rest.char_indices();
    let Some((_, first)) = chars.next() else {
        return "end of query".to_owned();
    };
    let token = if first.is_alphanumeric() || first == '_' {
        let end = rest
            .char_indices()
            .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
            .map_or(rest.len(), |(i, _)| i);
        &rest[..end]
    } else {
        &rest[..first.len_utf8()]
    };
    if token.chars().all(char::is_whitespace) {
        return "whitespace".to_owned();
    }
    let shown: String = token.chars().take(40).collect();
    if shown.contains('\'') {
        format!("\"{shown}\"")
    } else {
        format!("'{shown}'")
    }
}

fn caret_snippet(line_text: &str, column: usize) -> String {
    // Long lines (queries are often one line of thousands of characters) are windowed.
    const BEFORE: usize = 60;
    const AFTER: usize = 20;
    let skip = column.saturating_sub(BEFORE + 1);
    let shown: String = line_text
        .chars()
        .skip(skip)
        .take(BEFORE + AFTER)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let caret_at = column - 1 - skip;
    format!("{shown}\n{}^", " ".repeat(caret_at))
}

impl fmt::Display for QueryError {
    /// `line 1, column 10: expected FROM, found 'FORM'`; the alternate form (`{:#}`) adds the
    /// caret snippet on the following lines.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )?;
        if f.alternate() {
            write!(f, "\n{}", self.snippet)?;
        }
        Ok(())
    }
}

impl std::error::Error for QueryError {}
