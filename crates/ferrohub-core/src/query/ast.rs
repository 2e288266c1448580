//! The parsed form of a twin query: what the parser produces and what evaluation and execution
//! consume. Kept free of parsing and evaluation logic so both sides read it the same way.

/// A full `SELECT … FROM … [WHERE …] [GROUP BY …]` statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub top: Option<u64>,
    pub selection: Selection,
    pub source: Source,
    pub condition: Option<Expr>,
    pub group_by: Vec<Path>,
}

impl Query {
    /// Which collection the query reads.
    pub fn source(&self) -> Source {
        self.source
    }

    /// True for `SELECT *`: results are whole documents (`x-ms-item-type: twin`), not rows.
    pub fn is_select_star(&self) -> bool {
        matches!(self.selection, Selection::All)
    }

    /// The `TOP n` limit, if any.
    pub fn top(&self) -> Option<u64> {
        self.top
    }

    /// True when the rows are aggregates (one per group, or one in all without `GROUP BY`).
    pub fn is_aggregate(&self) -> bool {
        !self.group_by.is_empty()
            || match &self.selection {
                Selection::All => false,
                Selection::Items(items) => items
                    .iter()
                    .any(|item| matches!(item, SelectItem::Aggregate { .. })),
            }
    }
}

/// The three collections IoT Hub lets a query read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `devices`: device twins.
    Devices,
    /// `devices.modules`: module twins.
    Modules,
    /// `devices.jobs`: per-device job records.
    Jobs,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Selection {
    /// `SELECT *`.
    All,
    /// `SELECT item, item, …`.
    Items(Vec<SelectItem>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum SelectItem {
    /// `path [AS alias]`.
    Path { path: Path, alias: Option<String> },
    /// `COUNT() | AVG(path) | SUM(path) | MIN(path) | MAX(path) [AS alias]`.
    Aggregate {
        function: Aggregate,
        alias: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Aggregate {
    Count,
    Avg(Path),
    Sum(Path),
    Min(Path),
    Max(Path),
}

impl Aggregate {
    /// The path aggregated over (`None` for `COUNT()`).
    pub fn path(&self) -> Option<&Path> {
        match self {
            Self::Count => None,
            Self::Avg(p) | Self::Sum(p) | Self::Min(p) | Self::Max(p) => Some(p),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::Count => "COUNT",
            Self::Avg(_) => "AVG",
            Self::Sum(_) => "SUM",
            Self::Min(_) => "MIN",
            Self::Max(_) => "MAX",
        }
    }
}

/// A dotted path into a document: `tags.location.region`, `properties.desired.$version`,
/// `tags.[[group]]`. Segments are stored unescaped.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Path {
    pub segments: Vec<String>,
}

impl Path {
    pub fn new(segments: Vec<String>) -> Self {
        Self { segments }
    }

    /// The same field as `other`: the first segment (a top-level twin field) compares
    /// case-insensitively, the rest exactly, matching how evaluation looks them up.
    pub fn same_field(&self, other: &Path) -> bool {
        self.segments.len() == other.segments.len()
            && self
                .segments
                .iter()
                .zip(&other.segments)
                .enumerate()
                .all(|(index, (a, b))| {
                    if index == 0 {
                        a.eq_ignore_ascii_case(b)
                    } else {
                        a == b
                    }
                })
    }
}

/// A condition or value expression. `AND`/`OR` chains are n-ary so that long target conditions
/// (`deviceId = 'a' OR deviceId = 'b' OR …`) do not become deep trees.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Literal(Literal),
    Path(Path),
    /// At least two operands.
    Or(Vec<Expr>),
    /// At least two operands.
    And(Vec<Expr>),
    Not(Box<Expr>),
    /// Unary minus on something other than a number literal (those are folded).
    Neg(Box<Expr>),
    Binary {
        op: BinaryOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    /// `expr IN [..]` (or `NIN` when `negated`).
    In {
        expr: Box<Expr>,
        list: Vec<Literal>,
        negated: bool,
    },
    Call {
        function: Function,
        args: Vec<Expr>,
    },
}

impl Expr {
    /// The condition that matches everything (a bare `*` target condition).
    pub fn always() -> Self {
        Self::Literal(Literal::Bool(true))
    }

    /// `left OR right`, flattening a left-hand `OR` the way the parser does.
    pub fn or(left: Expr, right: Expr) -> Self {
        match left {
            Self::Or(mut items) => {
                items.push(right);
                Self::Or(items)
            }
            other => Self::Or(vec![other, right]),
        }
    }

    /// `left AND right`, flattening a left-hand `AND` the way the parser does.
    pub fn and(left: Expr, right: Expr) -> Self {
        match left {
            Self::And(mut items) => {
                items.push(right);
                Self::And(items)
            }
            other => Self::And(vec![other, right]),
        }
    }

    /// `-operand`; a number literal is folded into a negative literal.
    pub fn negate(operand: Expr) -> Self {
        match operand {
            Self::Literal(Literal::Number(n)) => Self::Literal(Literal::Number(negate_number(&n))),
            other => Self::Neg(Box::new(other)),
        }
    }

    pub fn binary(op: BinaryOp, left: Expr, right: Expr) -> Self {
        Self::Binary {
            op,
            left: Box::new(left),
            right: Box::new(right),
        }
    }
}

fn negate_number(n: &serde_json::Number) -> serde_json::Number {
    if let Some(i) = n.as_i64()
        && let Some(negated) = i.checked_neg()
    {
        return negated.into();
    }
    // `-9223372036854775808` is written as the negation of a literal one past i64::MAX.
    if n.as_u64() == Some(i64::MIN.unsigned_abs()) {
        return i64::MIN.into();
    }
    // Integers beyond i64 and floats: f64 is what evaluation compares in anyway.
    let f = n.as_f64().unwrap_or(0.0);
    serde_json::Number::from_f64(-f).unwrap_or_else(|| 0.into())
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Null,
    Undefined,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

impl BinaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            Self::Eq => "=",
            Self::Ne => "!=",
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
            Self::Add => "+",
            Self::Sub => "-",
            Self::Mul => "*",
            Self::Div => "/",
            Self::Mod => "%",
        }
    }

    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            Self::Eq | Self::Ne | Self::Lt | Self::Le | Self::Gt | Self::Ge
        )
    }
}

/// The functions twin queries accept. Routing-only functions are rejected by the parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    IsDefined,
    StartsWith,
    EndsWith,
    ArrayContains,
}

impl Function {
    pub fn name(self) -> &'static str {
        match self {
            Self::IsDefined => "IS_DEFINED",
            Self::StartsWith => "STARTSWITH",
            Self::EndsWith => "ENDSWITH",
            Self::ArrayContains => "ARRAY_CONTAINS",
        }
    }

    pub fn arity(self) -> usize {
        match self {
            Self::IsDefined => 1,
            Self::StartsWith | Self::EndsWith | Self::ArrayContains => 2,
        }
    }

    /// Case-insensitive lookup by name.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::IsDefined,
            Self::StartsWith,
            Self::EndsWith,
            Self::ArrayContains,
        ]
        .into_iter()
        .find(|f| f.name().eq_ignore_ascii_case(name))
    }
}

/// Binding powers, loosest first: `OR < AND < NOT < comparison/IN/NIN < + - < * / % < unary -`.
/// Shared by the parser (Pratt levels) and the printer (where parentheses are needed).
pub(super) mod precedence {
    pub const OR: i64 = 1;
    pub const AND: i64 = 2;
    pub const NOT: i64 = 3;
    pub const COMPARE: i64 = 4;
    pub const ADD: i64 = 5;
    pub const MUL: i64 = 6;
    pub const NEG: i64 = 7;
    pub const PRIMARY: i64 = 8;
}

impl BinaryOp {
    pub(super) fn precedence(self) -> i64 {
        match self {
            Self::Add | Self::Sub => precedence::ADD,
            Self::Mul | Self::Div | Self::Mod => precedence::MUL,
            _ => precedence::COMPARE,
        }
    }
}

impl Expr {
    pub(super) fn precedence(&self) -> i64 {
        match self {
            Self::Or(_) => precedence::OR,
            Self::And(_) => precedence::AND,
            Self::Not(_) => precedence::NOT,
            Self::In { .. } => precedence::COMPARE,
            Self::Binary { op, .. } => op.precedence(),
            Self::Neg(_) => precedence::NEG,
            Self::Literal(Literal::Number(n))
                if n.as_f64().is_some_and(|f| f.is_sign_negative()) =>
            {
                // Prints with a leading '-', so it binds like unary minus.
                precedence::NEG
            }
            Self::Literal(_) | Self::Path(_) | Self::Call { .. } => precedence::PRIMARY,
        }
    }
}
