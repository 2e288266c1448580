//! Parser and evaluator unit tests: precedence, literals and escapes, paths, keywords, error
//! positions, hostile input, projection and aggregate details.

use serde_json::{Value, json};

use super::{
    Aggregate, BinaryOp, Expr, Function, Literal, MAX_NESTING, Path, QueryError, SelectItem,
    Selection, execute, matches, parse, parse_condition,
};

fn cond(text: &str) -> Expr {
    match parse_condition(text) {
        Ok(expr) => expr,
        Err(error) => panic!("{text:?} should parse: {error:#}"),
    }
}

fn cond_error(text: &str) -> QueryError {
    match parse_condition(text) {
        Ok(expr) => panic!("{text:?} should fail, parsed as {expr:?}"),
        Err(error) => error,
    }
}

fn path(text: &str) -> Expr {
    Expr::Path(Path::new(text.split('.').map(str::to_owned).collect()))
}

fn num(n: i64) -> Expr {
    Expr::Literal(Literal::Number(n.into()))
}

fn string(s: &str) -> Expr {
    Expr::Literal(Literal::String(s.to_owned()))
}

fn eval(text: &str, document: &Value) -> bool {
    matches(&cond(text), document)
}

#[test]
fn multiplication_binds_tighter_than_addition() {
    assert_eq!(
        cond("1 + 2 * 3"),
        Expr::binary(
            BinaryOp::Add,
            num(1),
            Expr::binary(BinaryOp::Mul, num(2), num(3))
        )
    );
}

#[test]
fn subtraction_is_left_associative() {
    assert_eq!(
        cond("a - b - c"),
        Expr::binary(
            BinaryOp::Sub,
            Expr::binary(BinaryOp::Sub, path("a"), path("b")),
            path("c")
        )
    );
}

#[test]
fn and_binds_tighter_than_or() {
    assert_eq!(
        cond("a = 1 OR b = 2 AND c = 3"),
        Expr::Or(vec![
            Expr::binary(BinaryOp::Eq, path("a"), num(1)),
            Expr::And(vec![
                Expr::binary(BinaryOp::Eq, path("b"), num(2)),
                Expr::binary(BinaryOp::Eq, path("c"), num(3)),
            ]),
        ])
    );
}

#[test]
fn not_applies_to_the_whole_comparison() {
    assert_eq!(
        cond("NOT a = 1 AND b"),
        Expr::And(vec![
            Expr::Not(Box::new(Expr::binary(BinaryOp::Eq, path("a"), num(1)))),
            path("b"),
        ])
    );
}

#[test]
fn arithmetic_binds_tighter_than_comparison_and_in() {
    assert_eq!(
        cond("a + 1 > b * 2"),
        Expr::binary(
            BinaryOp::Gt,
            Expr::binary(BinaryOp::Add, path("a"), num(1)),
            Expr::binary(BinaryOp::Mul, path("b"), num(2))
        )
    );
    assert_eq!(
        cond("a + 1 IN [2]"),
        Expr::In {
            expr: Box::new(Expr::binary(BinaryOp::Add, path("a"), num(1))),
            list: vec![Literal::Number(2.into())],
            negated: false,
        }
    );
}

#[test]
fn unary_minus_binds_tightest_and_folds_into_numbers() {
    assert_eq!(
        cond("-2 * -a"),
        Expr::binary(BinaryOp::Mul, num(-2), Expr::Neg(Box::new(path("a"))))
    );
    assert_eq!(cond("- -3"), num(3));
}

#[test]
fn long_or_chains_stay_flat() {
    let text = (0..300)
        .map(|i| format!("deviceId = 'd{i}'"))
        .collect::<Vec<_>>()
        .join(" OR ");
    match cond(&text) {
        Expr::Or(items) => assert_eq!(items.len(), 300),
        other => panic!("expected OR, got {other:?}"),
    }
}

#[test]
fn comparisons_do_not_chain() {
    let error = cond_error("a = b = c");
    assert_eq!(error.column, 7, "{error}");
}

#[test]
fn not_equal_has_two_spellings() {
    assert_eq!(cond("a <> 1"), cond("a != 1"));
}

#[test]
fn keywords_and_functions_are_case_insensitive() {
    let query = parse(
        "select top 3 deviceId as Id from DEVICES where Not is_defined(tags.x) and startsWith(deviceId, 'd') group by deviceId",
    );
    assert!(query.is_ok(), "{query:?}");
    assert_eq!(
        cond("TRUE And FALSE oR NuLL"),
        Expr::Or(vec![
            Expr::And(vec![
                Expr::Literal(Literal::Bool(true)),
                Expr::Literal(Literal::Bool(false))
            ]),
            Expr::Literal(Literal::Null),
        ])
    );
}

#[test]
fn strings_accept_both_quotes_and_escapes() {
    assert_eq!(cond(r#""it's""#), string("it's"));
    assert_eq!(cond(r"'it\'s'"), string("it's"));
    assert_eq!(cond(r#"'say \"hi\"'"#), string("say \"hi\""));
    assert_eq!(cond(r"'back\\slash'"), string("back\\slash"));
    assert_eq!(cond(r"'\u00e9\u0041'"), string("éA"));
    assert_eq!(cond(r"'\ud83d\ude00'"), string("😀"));
    assert_eq!(cond("'tab\\there'"), string("tab\there"));
}

#[test]
fn bad_escapes_and_unterminated_strings_are_errors() {
    assert_eq!(cond_error(r"'\q'").column, 2);
    assert_eq!(cond_error(r"'\q'").message, "unknown escape sequence \\q");
    assert_eq!(cond_error(r"'\u12'").column, 4);
    assert!(cond_error(r"'\ud83d'").message.contains("surrogate"));
    let error = cond_error("a = 'open");
    assert_eq!(error.column, 5, "{error}");
    assert!(error.message.contains("unterminated"), "{error}");
}

#[test]
fn numbers_in_decimal_hex_and_exponent_forms() {
    assert_eq!(cond("0x1F"), num(31));
    assert_eq!(
        cond("1.5e2"),
        Expr::Literal(Literal::Number(
            serde_json::Number::from_f64(150.0).expect("finite")
        ))
    );
    assert!(eval("0x10 = 16", &json!({})));
    assert!(eval("2.5 * 2 = 5", &json!({})));
    assert!(cond_error("1e999").message.contains("range"));
    assert!(cond_error("12abc").message.contains("invalid number"));
    assert!(cond_error("0x").message.contains("hex digits"));
}

#[test]
fn escaped_segments_allow_any_name() {
    assert_eq!(
        cond("tags.[[my-tag.x]] = 1"),
        Expr::binary(
            BinaryOp::Eq,
            Expr::Path(Path::new(vec!["tags".into(), "my-tag.x".into()])),
            num(1)
        )
    );
    assert!(eval(
        "configurations.[[my-config]].status = 'Applied'",
        &json!({"configurations": {"my-config": {"status": "Applied"}}})
    ));
    assert!(cond_error("tags.[[open").message.contains("unterminated"));
    assert!(cond_error("tags.[[]]").message.contains("empty"));
}

#[test]
fn dollar_segments_reach_version_and_metadata() {
    let twin = json!({"properties": {"desired": {"$version": 4, "$metadata": {"$lastUpdated": "2026-01-01"}},
                                     "reported": {"lastDesiredVersion": 4}}});
    assert!(eval(
        "properties.desired.$version = properties.reported.lastDesiredVersion",
        &twin
    ));
    assert!(eval(
        "properties.desired.$metadata.$lastUpdated >= '2026'",
        &twin
    ));
}

#[test]
fn misspelled_from_is_reported_at_its_column() {
    let error = parse("SELECT * FORM devices").expect_err("FORM");
    assert_eq!((error.line, error.column), (1, 10));
    assert_eq!(error.message, "expected FROM, found 'FORM'");
    assert_eq!(
        error.to_string(),
        "line 1, column 10: expected FROM, found 'FORM'"
    );
    assert_eq!(
        format!("{error:#}"),
        "line 1, column 10: expected FROM, found 'FORM'\nSELECT * FORM devices\n         ^"
    );
}

#[test]
fn errors_on_later_lines_count_lines_and_columns() {
    let error = parse("SELECT *\nFROM devices\nWHERE a = ").expect_err("missing operand");
    assert_eq!((error.line, error.column), (3, 11), "{error}");
    assert!(error.message.starts_with("expected"), "{error}");
}

#[test]
fn clause_errors_name_what_was_expected() {
    let cases = [
        ("", 1, "expected SELECT"),
        ("SELECT", 7, "expected '*', a path or an aggregate"),
        ("SELECT * FROM", 14, "expected devices"),
        ("SELECT * FROM twins", 15, "expected devices"),
        ("SELECT * FROM devices WHERE", 28, "expected an operand"),
        (
            "SELECT * FROM devices WHERE a == 1",
            32,
            "expected an operand, found '='",
        ),
        (
            "SELECT * FROM devices WHERE a = 1 AND",
            38,
            "expected an operand",
        ),
        (
            "SELECT * FROM devices WHERE x. = 1",
            31,
            "expected a name after '.'",
        ),
        (
            "SELECT * FROM devices WHERE a = 'x' 'y'",
            37,
            "expected end of query, found \"'\"",
        ),
        (
            "SELECT COUNT(*) FROM devices",
            14,
            "COUNT() takes no argument",
        ),
        (
            "SELECT * FROM devices ORDER BY deviceId",
            23,
            "expected end of query",
        ),
        (
            "SELECT TOP x * FROM devices",
            12,
            "expected a number after TOP",
        ),
        (
            "SELECT a, FROM devices",
            11,
            "expected '*', a path or an aggregate",
        ),
        ("SELECT a AS FROM devices", 13, "expected an alias"),
        ("SELECT * FROM devices GROUP deviceId", 29, "expected BY"),
        ("SELECT * FROM devices WHERE (a = 1", 35, "expected ')'"),
        (
            "SELECT * FROM devices WHERE a IN 'x'",
            34,
            "expected an array",
        ),
        (
            "SELECT * FROM devices WHERE a = [1]",
            33,
            "array constants are only allowed",
        ),
    ];
    for (text, column, message) in cases {
        let error = parse(text).expect_err(text);
        assert_eq!(error.column, column, "{text}: {error}");
        assert!(error.message.starts_with(message), "{text}: {error}");
    }
}

#[test]
fn unknown_functions_are_named_in_the_error() {
    for name in ["IS_NULL", "CONTAINS", "lower", "as_number", "starts_with"] {
        let error = cond_error(&format!("{name}(deviceId)"));
        assert!(error.message.contains(name), "{error}");
        assert_eq!(error.column, 1);
    }
    assert!(
        cond_error("COUNT() > 1")
            .message
            .contains("only allowed in the select list")
    );
}

#[test]
fn functions_check_their_argument_count() {
    let error = cond_error("x AND STARTSWITH(deviceId)");
    assert_eq!(error.column, 7);
    assert_eq!(error.message, "STARTSWITH takes 2 arguments, not 1");
    assert_eq!(
        cond("is_defined(tags.x)"),
        Expr::Call {
            function: Function::IsDefined,
            args: vec![path("tags.x")]
        }
    );
}

#[test]
fn ten_thousand_nested_parentheses_are_an_error_not_a_stack_overflow() {
    // 10,000 pairs are over the length limit, so that refuses them first; 4,000 fit.
    let text = format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000));
    assert!(parse_condition(&text).is_err());
    let text = format!("{}1{}", "(".repeat(4_000), ")".repeat(4_000));
    let error = parse_condition(&text).expect_err("too deep");
    assert!(error.message.contains("nested"), "{error}");
    assert_eq!(error.column, MAX_NESTING + 2);
    let query = format!("SELECT * FROM devices WHERE {}", "(".repeat(4_000));
    assert!(
        parse(&query)
            .expect_err("too deep")
            .message
            .contains("nested")
    );
}

#[test]
fn deep_prefix_operators_are_capped_too() {
    assert!(parse_condition(&"NOT ".repeat(2000)).is_err());
    assert!(parse_condition(&format!("{}1", "- ".repeat(4000))).is_err());
    assert!(
        parse_condition(&format!(
            "{}a{}",
            "IS_DEFINED(".repeat(1000),
            ")".repeat(1000)
        ))
        .is_err()
    );
    let nested_ok = format!(
        "{}a = 1{}",
        "(".repeat(MAX_NESTING),
        ")".repeat(MAX_NESTING)
    );
    assert!(parse_condition(&nested_ok).is_ok());
}

#[test]
fn long_operator_chains_are_capped_by_tree_height() {
    let text = vec!["1"; 4000].join("+");
    let error = parse_condition(&text).expect_err("too tall");
    assert!(error.message.contains("too complex"), "{error}");
    assert!(parse_condition(&vec!["1"; 200].join(" + ")).is_ok());
}

#[test]
fn hostile_sql_fragments_are_parse_errors() {
    for text in [
        "SELECT * FROM devices WHERE deviceId = 'a'' OR 1=1 --",
        "SELECT * FROM devices WHERE deviceId = 'a' OR 1=1 --",
        "SELECT * FROM devices; DROP TABLE devices",
        "SELECT * FROM devices WHERE deviceId = 'x';DROP TABLE devices",
        "SELECT * FROM devices /* comment */",
        "SELECT * FROM devices WHERE deviceId = 'a\0'",
    ] {
        match parse(text) {
            Err(_) => {}
            // A NUL inside a string literal is just a character of the value.
            Ok(query) => assert!(text.contains('\0'), "{text} parsed as {query:?}"),
        }
    }
}

#[test]
fn a_quote_inside_a_value_is_just_data() {
    let twin = json!({"deviceId": "a' OR 1=1 --"});
    assert!(eval(r"deviceId = 'a\' OR 1=1 --'", &twin));
    assert!(!eval(r"deviceId = 'a\' OR 1=1 --x'", &twin));
}

#[test]
fn select_list_forms_parse() {
    let query = parse(
        "SELECT deviceId, tags.x AS x1, [[weird name]], COUNT(), avg(properties.reported.t) AS t \
         FROM devices GROUP BY deviceId, tags.x, [[weird name]]",
    )
    .expect("valid");
    let Selection::Items(items) = &query.selection else {
        panic!("items expected");
    };
    assert_eq!(items.len(), 5);
    assert_eq!(
        items[3],
        SelectItem::Aggregate {
            function: Aggregate::Count,
            alias: None
        }
    );
}

#[test]
fn select_list_rejects_non_grouped_paths_next_to_aggregates() {
    let error = parse("SELECT deviceId, COUNT() FROM devices").expect_err("not grouped");
    assert_eq!(error.column, 8);
    assert!(parse("SELECT * FROM devices GROUP BY status").is_err());
    assert!(parse("SELECT COUNT(deviceId) FROM devices").is_err());
    assert!(parse("SELECT IS_DEFINED(x) FROM devices").is_err());
    assert!(parse("SELECT DeviceId, COUNT() FROM devices GROUP BY deviceId").is_ok());
}

#[test]
fn source_prefixes_are_dropped_from_paths() {
    let query = parse("SELECT * FROM devices.modules WHERE devices.deviceId = 'a'").expect("ok");
    assert_eq!(
        query.condition,
        Some(Expr::binary(BinaryOp::Eq, path("deviceId"), string("a")))
    );
    let jobs =
        parse("SELECT * FROM devices.jobs WHERE devices.jobs.status = 'completed'").expect("ok");
    assert_eq!(
        jobs.condition,
        Some(Expr::binary(
            BinaryOp::Eq,
            path("status"),
            string("completed")
        ))
    );
}

#[test]
fn star_condition_matches_everything_but_star_inside_is_multiplication() {
    assert!(matches(&cond(" * "), &json!({})));
    assert!(cond_error("* AND a").column == 1);
}

#[test]
fn three_valued_logic_follows_the_undefined_rules() {
    let twin = json!({"a": 1});
    assert!(eval("missing = 1 OR a = 1", &twin));
    assert!(!eval("missing = 1 AND a = 1", &twin));
    assert!(eval("NOT (missing = 1 AND a = 2)", &twin)); // false AND undefined = false
    assert!(!eval("NOT (missing = 1)", &twin));
    assert!(!eval("missing != 1", &twin));
    assert!(!eval("a = 'a'", &twin));
    assert!(!eval("a != 'a'", &twin));
    assert!(!eval("a", &twin)); // 1 is not true
    assert!(eval("undefined = undefined OR true", &twin));
    assert!(!eval("undefined = undefined", &twin));
}

#[test]
fn objects_and_arrays_are_not_comparable() {
    let twin = json!({"o": {"x": 1}, "arr": [1, 2]});
    assert!(!eval("o = o", &twin));
    assert!(!eval("o != o", &twin));
    assert!(!eval("arr = arr", &twin));
    assert!(!eval("arr NIN [1]", &twin));
    assert!(eval("ARRAY_CONTAINS(arr, 2)", &twin));
    assert!(!eval("ARRAY_CONTAINS(arr, '2')", &twin));
}

#[test]
fn null_equals_null_and_is_defined() {
    let twin = json!({"n": null});
    assert!(eval("n = null", &twin));
    assert!(eval("n IN [null, 1]", &twin));
    assert!(!eval("n < null", &twin));
    assert!(eval("IS_DEFINED(n)", &twin));
    assert!(!eval("IS_DEFINED(m)", &twin));
}

#[test]
fn numbers_compare_across_integer_and_float() {
    let twin = json!({"i": 3, "f": 3.0, "big": 9_007_199_254_740_993_i64});
    assert!(eval("i = f", &twin));
    assert!(eval("i < 3.5", &twin));
    assert!(eval("big > 9007199254740992", &twin));
    assert!(eval("7 / 2 = 3.5", &twin));
    assert!(eval("7 % 4 = 3", &twin));
    assert!(!eval("1 / 0 = 1 / 0", &twin));
}

#[test]
fn strings_order_ordinally() {
    let twin = json!({"s": "B"});
    assert!(eval("s < 'a'", &twin));
    assert!(eval("s >= 'B'", &twin));
    assert!(!eval("s + 'x' = 'Bx'", &twin));
}

#[test]
fn top_level_fields_are_case_insensitive_but_nested_keys_are_not() {
    let twin = json!({"deviceId": "d", "tags": {"Env": "prod"}});
    assert!(eval("DEVICEID = 'd'", &twin));
    assert!(eval("Tags.Env = 'prod'", &twin));
    assert!(!eval("tags.env = 'prod'", &twin));
}

#[test]
fn unaliased_nested_paths_and_aggregates_get_generated_keys() {
    let docs = [
        json!({"deviceId": "a", "tags": {"floor": 1, "w": 2}}),
        json!({"deviceId": "b", "tags": {"floor": 3, "w": "x"}}),
    ];
    let rows = execute(
        &parse("SELECT tags.floor, tags.missing FROM devices").expect("ok"),
        &docs,
    )
    .expect("runs");
    assert_eq!(rows, [json!({"floor": 1}), json!({"floor": 3})]);
    let rows = execute(
        &parse("SELECT COUNT(), SUM(tags.floor), AVG(tags.floor) AS avg, MIN(tags.floor), MAX(tags.w) FROM devices")
            .expect("ok"),
        &docs,
    )
    .expect("runs");
    assert_eq!(
        rows,
        [json!({"$1": 2, "$2": 4, "avg": 2.0, "$3": 1, "$4": 2})]
    );
}

#[test]
fn aggregates_over_no_rows_still_give_one_row() {
    let rows = execute(
        &parse("SELECT COUNT() AS n, SUM(x) AS s, MAX(x) AS m FROM devices WHERE false")
            .expect("ok"),
        &[json!({"x": 1})],
    )
    .expect("runs");
    assert_eq!(rows, [json!({"n": 0, "s": 0})]);
}

#[test]
fn group_by_without_the_path_selected_still_reports_the_group_value() {
    let docs = [
        json!({"status": "enabled"}),
        json!({"status": "disabled"}),
        json!({"status": "enabled"}),
    ];
    let rows = execute(
        &parse("SELECT COUNT() AS n FROM devices GROUP BY Status").expect("ok"),
        &docs,
    )
    .expect("runs");
    assert_eq!(
        rows,
        [
            json!({"status": "enabled", "n": 2}),
            json!({"status": "disabled", "n": 1})
        ]
    );
}

#[test]
fn top_applies_after_grouping_and_filtering() {
    let docs: Vec<Value> = (0..10).map(|i| json!({"i": i, "g": i % 3})).collect();
    let grouped = execute(
        &parse("SELECT TOP 2 g, COUNT() AS n FROM devices GROUP BY g").expect("ok"),
        &docs,
    )
    .expect("runs");
    assert_eq!(grouped, [json!({"g": 0, "n": 4}), json!({"g": 1, "n": 3})]);
    let filtered = execute(
        &parse("SELECT TOP 2 i FROM devices WHERE i > 5").expect("ok"),
        &docs,
    )
    .expect("runs");
    assert_eq!(filtered, [json!({"i": 6}), json!({"i": 7})]);
    assert!(
        execute(&parse("SELECT TOP 0 * FROM devices").expect("ok"), &docs)
            .expect("runs")
            .is_empty()
    );
}

#[test]
fn display_prints_text_that_parses_back() {
    for text in [
        "a = 1 OR NOT (b = 2 AND c IN ['x', 'y'])",
        "(a = b) IN [true]",
        "-(a + 1) * 2 - -3",
        "tags.[[group]].[[my-tag]] NIN [null, undefined, 0x10, -2.5]",
        "STARTSWITH(deviceId, 'it\\'s') AND [[true]] = true",
        "(a OR b) OR c",
        "a AND (b AND c)",
    ] {
        let parsed = cond(text);
        let printed = parsed.to_string();
        assert_eq!(cond(&printed), parsed, "{text} printed as {printed}");
    }
    assert_eq!(
        cond("a=1 or not b<>'x'").to_string(),
        "a = 1 OR NOT b != 'x'"
    );
}

#[test]
fn the_deepest_accepted_nesting_fits_in_a_small_thread_stack() {
    // Every kind of nesting at the cap, parsed, printed, evaluated and dropped on a 1 MiB
    // stack: half of a Tokio worker's or test thread's 2 MiB. Measured worst case: about
    // 768 KiB in a debug build (nested calls), under 128 KiB in release.
    let levels = MAX_NESTING;
    let texts = [
        format!("{}a{}", "(".repeat(levels), ")".repeat(levels)),
        format!("{}a", "NOT ".repeat(levels)),
        format!("{}a", "- ".repeat(levels)),
        format!("{}a{}", "IS_DEFINED(".repeat(levels), ")".repeat(levels)),
        format!(
            "{}a{}",
            "STARTSWITH('x', ".repeat(levels),
            ")".repeat(levels)
        ),
        format!(
            "{}a{}",
            "1 + (2 * (".repeat(levels / 2),
            "))".repeat(levels / 2)
        ),
        format!(
            "{}a{}",
            "NOT (-IS_DEFINED(".repeat(levels / 4),
            "))".repeat(levels / 4)
        ),
        // The tallest tree the height cap lets through, for printing and evaluation.
        vec!["a"; 255].join("-"),
    ];
    for text in texts {
        let worker = std::thread::Builder::new()
            .stack_size(1024 * 1024)
            .spawn(move || {
                let expr = parse_condition(&text).expect("at the cap");
                let printed = expr.to_string();
                matches(&expr, &json!({"a": 1})) && printed.is_empty()
            })
            .expect("spawn");
        assert!(!worker.join().expect("no stack overflow"));
    }
}
