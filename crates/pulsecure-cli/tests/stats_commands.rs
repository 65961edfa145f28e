//! `stats ...` through the real binary: releases, the persistent budget, refusals that
//! spend nothing, and recorded answers for repeated queries.

mod support;

use support::{assert_fails, assert_ok, stdout, Env};

fn budget(env: &Env) -> serde_json::Value {
    let out = env.run(&["stats", "budget", "--json"], true);
    assert_ok(&out);
    serde_json::from_slice(&out.stdout).expect("json")
}

fn remaining(env: &Env) -> f64 {
    budget(env)["remaining"].as_f64().expect("remaining")
}

#[test]
fn releases_spend_a_persistent_budget_and_refusals_spend_nothing() {
    let env = Env::new();
    let out = env.run(
        &[
            "init",
            "--kdf-memory-mib",
            "19",
            "--kdf-iterations",
            "2",
            "--dp-budget",
            "0.5",
        ],
        true,
    );
    assert_ok(&out);
    // An empty dataset is refused without spending.
    assert_fails(
        &env.run(&["stats", "count", "--epsilon", "0.1", "--yes"], true),
        3,
        "dataset is empty",
    );
    support::screen_good_rows(&env, "S", 3, 5);

    support::let_this_second_pass();
    let doc = budget(&env);
    assert_eq!(doc["total"].as_f64(), Some(0.5));
    assert_eq!(doc["spent"].as_f64(), Some(0.0));

    let out = env.run(
        &["stats", "count", "--epsilon", "0.2", "--yes", "--json"],
        true,
    );
    assert_ok(&out);
    let first: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(first["cached"], false);
    assert!((remaining(&env) - 0.3).abs() < 1e-6);

    // The same question over the same window: the recorded answer, free.
    let before = format!("@{}", first["before"].as_i64().expect("window end"));
    let out = env.run(
        &[
            "stats",
            "count",
            "--epsilon",
            "0.2",
            "--before",
            &before,
            "--yes",
            "--json",
        ],
        true,
    );
    assert_ok(&out);
    let again: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(again["cached"], true);
    assert_eq!(again["values"], first["values"]);
    assert!((remaining(&env) - 0.3).abs() < 1e-6);

    let out = env.run(
        &["stats", "histogram", "--epsilon", "0.2", "--yes", "--json"],
        true,
    );
    assert_ok(&out);
    let hist: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(hist["values"].as_object().expect("cells").len(), 8);
    assert!((remaining(&env) - 0.1).abs() < 1e-6);

    // Over budget: refused (exit 5), nothing spent.
    assert_fails(
        &env.run(&["stats", "mean-risk", "--epsilon", "0.2", "--yes"], true),
        5,
        "privacy budget exceeded",
    );
    // Bad requests: specific errors, nothing spent.
    for (args, needle) in [
        (
            vec!["stats", "count", "--epsilon", "0", "--yes"],
            "epsilon must be",
        ),
        (
            vec!["stats", "count", "--epsilon", "-1", "--yes"],
            "epsilon must be",
        ),
        (
            vec!["stats", "count", "--epsilon", "NaN", "--yes"],
            "epsilon must be",
        ),
        (
            vec![
                "stats",
                "mean-risk",
                "--epsilon",
                "0.05",
                "--lower",
                "100",
                "--upper",
                "10",
                "--yes",
            ],
            "lower 100 is above upper 10",
        ),
    ] {
        assert_fails(&env.run(&args, true), 3, needle);
    }
    // Without --yes and without a terminal, nothing is released.
    assert_fails(
        &env.run(&["stats", "count", "--epsilon", "0.05"], true),
        1,
        "pass --yes",
    );
    assert!((remaining(&env) - 0.1).abs() < 1e-6);

    let log = env.run(&["stats", "log"], true);
    assert_ok(&log);
    let text = stdout(&log);
    assert!(
        text.contains("count@eps=0.2") && text.contains("histogram@eps=0.2"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 3, "header + two releases: {text}");
}
