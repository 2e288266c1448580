//! Randomised properties: printed expressions parse back to the same tree; parsing, matching
//! and executing never panic, whatever the text or the documents.
//!
//! A small seeded generator stands in for proptest (not a dev-dependency of this crate): runs
//! are deterministic, and a failure prints the seed and the offending input.

use serde_json::{Map, Value, json};

use super::{BinaryOp, Expr, Function, Literal, Path, execute, matches, parse, parse_condition};

/// xorshift64*: tiny, deterministic, good enough to explore a grammar.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % (n.max(1) as u64)).unwrap_or(0)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

const NAMES: &[&str] = &[
    "deviceId",
    "DeviceId",
    "tags",
    "properties",
    "reported",
    "desired",
    "status",
    "x",
    "a_b",
    "$version",
    "$metadata",
    "group",
    "select",
    "true",
    "null",
    "my-tag",
    "with space",
    "dot.ted",
    "é",
    "1st",
    "$",
    "[bracket",
    "Undefined",
    "in",
    "devices",
];

fn gen_segment(rng: &mut Rng) -> String {
    (*rng.pick(NAMES)).to_owned()
}

fn gen_path(rng: &mut Rng) -> Path {
    let len = 1 + rng.below(3);
    Path::new((0..len).map(|_| gen_segment(rng)).collect())
}

fn gen_string(rng: &mut Rng) -> String {
    const CHARS: &[char] = &[
        'a', 'Z', ' ', '\'', '"', '\\', '\n', '\t', '\u{1}', 'é', '😀', '[', ']', '-', '%', '\0',
    ];
    let len = rng.below(6);
    (0..len).map(|_| *rng.pick(CHARS)).collect()
}

fn gen_number(rng: &mut Rng) -> serde_json::Number {
    match rng.below(6) {
        0 => serde_json::Number::from(rng.next()),
        1 => serde_json::Number::from(i64::MIN),
        2 => serde_json::Number::from(rng.next() as i64 % 1000),
        3 => serde_json::Number::from_f64(f64::from(rng.below(10_000) as u32) / 64.0 - 50.0)
            .unwrap_or_else(|| 0.into()),
        4 => serde_json::Number::from_f64(f64::from_bits(rng.next())).unwrap_or_else(|| 1.into()),
        _ => serde_json::Number::from(rng.below(10) as u64),
    }
}

fn gen_literal(rng: &mut Rng) -> Literal {
    match rng.below(6) {
        0 => Literal::Null,
        1 => Literal::Undefined,
        2 => Literal::Bool(rng.chance(50)),
        3 => Literal::String(gen_string(rng)),
        _ => Literal::Number(gen_number(rng)),
    }
}

/// An expression in the parser's normal form (built with the same constructors it uses).
fn gen_expr(rng: &mut Rng, depth: usize) -> Expr {
    if depth == 0 || rng.chance(25) {
        return if rng.chance(50) {
            Expr::Path(gen_path(rng))
        } else {
            Expr::Literal(gen_literal(rng))
        };
    }
    let sub = |rng: &mut Rng| gen_expr(rng, depth - 1);
    match rng.below(8) {
        0 => Expr::or(sub(rng), sub(rng)),
        1 => Expr::and(sub(rng), sub(rng)),
        2 => Expr::Not(Box::new(sub(rng))),
        3 => Expr::negate(sub(rng)),
        4 => {
            let op = *rng.pick(&[
                BinaryOp::Eq,
                BinaryOp::Ne,
                BinaryOp::Lt,
                BinaryOp::Le,
                BinaryOp::Gt,
                BinaryOp::Ge,
                BinaryOp::Add,
                BinaryOp::Sub,
                BinaryOp::Mul,
                BinaryOp::Div,
                BinaryOp::Mod,
            ]);
            Expr::binary(op, sub(rng), sub(rng))
        }
        5 => Expr::In {
            expr: Box::new(sub(rng)),
            list: (0..rng.below(4)).map(|_| gen_literal(rng)).collect(),
            negated: rng.chance(50),
        },
        _ => {
            let function = *rng.pick(&[
                Function::IsDefined,
                Function::StartsWith,
                Function::EndsWith,
                Function::ArrayContains,
            ]);
            Expr::Call {
                function,
                args: (0..function.arity()).map(|_| sub(rng)).collect(),
            }
        }
    }
}

fn gen_json(rng: &mut Rng, depth: usize) -> Value {
    match rng.below(if depth == 0 { 5 } else { 8 }) {
        0 => Value::Null,
        1 => Value::Bool(rng.chance(50)),
        2 => Value::Number(gen_number(rng)),
        3 => json!(rng.below(5)),
        4 => Value::String(gen_string(rng)),
        5 => Value::Array(
            (0..rng.below(4))
                .map(|_| gen_json(rng, depth - 1))
                .collect(),
        ),
        _ => {
            let mut map = Map::new();
            for _ in 0..rng.below(5) {
                map.insert(gen_segment(rng), gen_json(rng, depth - 1));
            }
            Value::Object(map)
        }
    }
}

#[test]
fn printed_expressions_parse_back_to_the_same_tree() {
    for seed in 0..3_000 {
        let mut rng = Rng::new(seed);
        let expr = gen_expr(&mut rng, 5);
        let text = expr.to_string();
        match parse_condition(&text) {
            Ok(parsed) => assert_eq!(parsed, expr, "seed {seed}: {text}"),
            Err(error) => panic!("seed {seed}: {text} failed: {error:#}"),
        }
    }
}

#[test]
fn matching_random_expressions_on_random_documents_never_panics() {
    for seed in 0..3_000 {
        let mut rng = Rng::new(seed);
        let expr = gen_expr(&mut rng, 5);
        let document = gen_json(&mut rng, 4);
        // Only the absence of a panic matters; the answer is checked by the unit tests.
        let _ = matches(&expr, &document);
    }
}

#[test]
fn executing_random_queries_on_random_documents_never_panics() {
    const SELECTS: &[&str] = &[
        "*",
        "deviceId",
        "DeviceId, tags.x AS x",
        "COUNT()",
        "COUNT() AS n, SUM(tags.x), AVG(tags.x), MIN(x), MAX(tags.[[group]])",
        "tags.x, COUNT()",
        "TOP 3 *",
        "TOP 1 status, MAX(version)",
    ];
    for seed in 0..1_500 {
        let mut rng = Rng::new(seed);
        let select = *rng.pick(SELECTS);
        let condition = gen_expr(&mut rng, 4);
        let group_by = if rng.chance(50) {
            " GROUP BY tags.x, status"
        } else {
            ""
        };
        let text = format!("SELECT {select} FROM devices WHERE {condition}{group_by}");
        let documents: Vec<Value> = (0..rng.below(8)).map(|_| gen_json(&mut rng, 4)).collect();
        if let Ok(query) = parse(&text) {
            let rows = execute(&query, &documents).expect("execute does not fail");
            if let Some(top) = query.top() {
                assert!(rows.len() as u64 <= top, "seed {seed}: {text}");
            }
        }
    }
}

#[test]
fn parsing_random_token_soup_never_panics() {
    const TOKENS: &[&str] = &[
        "SELECT",
        "TOP",
        "5",
        "*",
        "FROM",
        "devices",
        "devices.modules",
        "WHERE",
        "GROUP",
        "BY",
        "AND",
        "OR",
        "NOT",
        "IN",
        "NIN",
        "AS",
        "(",
        ")",
        "[",
        "]",
        "[[",
        "]]",
        ",",
        ".",
        "=",
        "!=",
        "<>",
        "<",
        ">=",
        "+",
        "-",
        "/",
        "%",
        "'str'",
        "\"q\\\"\"",
        "'",
        "\\u",
        "0x",
        "0x1F",
        "1.5e3",
        "1e999",
        "tags",
        "$version",
        "IS_DEFINED",
        "STARTSWITH",
        "COUNT",
        "AVG",
        "ARRAY_CONTAINS",
        "true",
        "null",
        "undefined",
        "é",
        "\n",
        " ",
        "--",
        ";",
        "\0",
    ];
    for seed in 0..5_000 {
        let mut rng = Rng::new(seed);
        let count = rng.below(30);
        let mut text = String::new();
        for _ in 0..count {
            let token: &&str = rng.pick(TOKENS);
            text.push_str(token);
            if rng.chance(70) {
                text.push(' ');
            }
        }
        if let Err(error) = parse(&text) {
            assert!(
                error.line >= 1 && error.column >= 1,
                "seed {seed}: {text:?}"
            );
            let _ = format!("{error:#}");
        }
        let _ = parse_condition(&text);
    }
}

#[test]
fn mutated_valid_queries_never_panic() {
    let base = "SELECT TOP 10 deviceId, tags.[[group]] AS g FROM devices.modules \
                WHERE properties.reported.x IN ['a', \"b\", -1.5, 0x10] AND NOT (STARTSWITH(deviceId, 'd\\u00e9') OR x % 2 <> 1)";
    let chars: Vec<char> = base.chars().collect();
    for seed in 0..5_000 {
        let mut rng = Rng::new(seed);
        let mut mutated = chars.clone();
        for _ in 0..=rng.below(3) {
            let at = rng.below(mutated.len());
            match rng.below(3) {
                0 => {
                    mutated.remove(at);
                }
                1 => mutated.insert(
                    at,
                    *rng.pick(&['(', ')', '\'', '"', '[', ']', '\\', '.', ' ', '$']),
                ),
                _ => mutated[at] = *rng.pick(&['x', '0', '-', '*', ',', 'é']),
            }
        }
        let text: String = mutated.into_iter().collect();
        if let Ok(query) = parse(&text) {
            let _ = execute(&query, &[json!({"deviceId": "d", "tags": {"group": 1}})]);
        }
    }
}
