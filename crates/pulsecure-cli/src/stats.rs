//! `pulsecure stats ...`: differentially private releases (OpenDP) with an atomic,
//! persistent ε budget; budget and log views. The workstation spends and audits; this
//! module asks for confirmation and prints.

use std::io::{BufRead, IsTerminal, Write};

use pulsecure_app::analytics::statistics_window;
use pulsecure_app::dates::{format_time, parse_date};
use pulsecure_app::{AppError, DataDir};
use pulsecure_core::domain::analytics::Query;

use crate::cli::{StatsBudgetArgs, StatsReleaseArgs};
use crate::error::CliError;
use crate::password;

type Result<T> = std::result::Result<T, CliError>;

/// Which release.
pub enum QueryArg {
    /// `count`.
    Count,
    /// `mean-risk` with clamp bounds.
    MeanRisk(i64, i64),
    /// `histogram`.
    Histogram,
}

fn confirm(question: &str) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Err(CliError::NotConfirmed(
            "confirmation needed and stdin is not a terminal: pass --yes to spend the budget",
        ));
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// `--before`: `YYYY-MM-DD` (00:00 UTC) or `@UNIX_SECONDS` (as printed by a release).
fn parse_before(text: &str) -> Result<i64> {
    match text.strip_prefix('@') {
        Some(seconds) => seconds
            .parse::<i64>()
            .map_err(|_| CliError::Input("--before: expected YYYY-MM-DD or @UNIX_SECONDS".into())),
        None => Ok(parse_date(text, "--before").map_err(AppError::from)?),
    }
}

/// `stats count|mean-risk|histogram`.
pub fn release(dir: &DataDir, args: &StatsReleaseArgs, which: QueryArg) -> Result<()> {
    let query = match which {
        QueryArg::Count => Query::parse("count", None),
        QueryArg::MeanRisk(lower, upper) => Query::parse("mean-risk", Some((lower, upper))),
        QueryArg::Histogram => Query::parse("histogram", None),
    }
    .map_err(|e| AppError::Privacy(e.into()))?;
    let before = args.before.as_deref().map(parse_before).transpose()?;
    let window = statistics_window(before)?;
    let records = password::open_records(dir, &args.password)?;
    let (cost, status) = records.quote(&query, args.epsilon)?;
    if !args.yes
        && !confirm(&format!(
            "Release {} over screenings before {} (sensitivity {}) costs ε = {cost:.6}; ε = {:.6} of {} remains. Spend it?",
            query.key(),
            format_time(window.before()),
            query.sensitivity(),
            status.remaining,
            status.total
        ))?
    {
        return Err(CliError::NotConfirmed("not released; nothing was spent"));
    }
    let r = records.release(&query, args.epsilon, window)?;
    let labels = query.outputs();
    if args.json {
        let values: serde_json::Map<String, serde_json::Value> = labels
            .iter()
            .zip(&r.values)
            .map(|(l, v)| (l.clone(), serde_json::json!(v)))
            .collect();
        let mut doc = serde_json::json!({
            "query": query.key(),
            "before": window.before(),
            "values": values,
            "epsilon_charged": r.epsilon_charged,
            "cached": r.cached,
            "budget": {"total": r.budget.total, "spent": r.budget.spent, "remaining": r.budget.remaining},
        });
        if let (Query::MeanRisk { .. }, [sum, count]) = (&query, r.values.as_slice()) {
            doc["mean_risk"] = serde_json::json!(sum / count.max(1.0) / 4096.0);
        }
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    println!(
        "{} over screenings before {} (@{}; ε-differentially private; noisy values)",
        query.key(),
        format_time(window.before()),
        window.before()
    );
    for (label, value) in labels.iter().zip(&r.values) {
        println!("  {label:<28}{value:>10.0}");
    }
    if let (Query::MeanRisk { .. }, [sum, count]) = (&query, r.values.as_slice()) {
        println!(
            "  {:<28}{:>10.4}",
            "mean risk",
            sum / count.max(1.0) / 4096.0
        );
    }
    if r.cached {
        println!(
            "Recorded answer of the identical earlier release over the same window: no ε spent."
        );
    } else if args.before.is_none() {
        println!(
            "ε spent {:.6}; ask again with --before @{} for this same answer at no cost",
            r.epsilon_charged,
            window.before()
        );
    } else {
        println!("ε spent {:.6}", r.epsilon_charged);
    }
    println!(
        "budget: ε total {}, spent {:.6}, remaining {:.6}",
        r.budget.total, r.budget.spent, r.budget.remaining
    );
    println!("Noisy counts below about 5/ε are dominated by noise; do not act on single cells.");
    Ok(())
}

/// `stats budget`.
pub fn budget(dir: &DataDir, args: &StatsBudgetArgs) -> Result<()> {
    let s = password::open_records(dir, &args.password)?.budget()?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({"total": s.total, "spent": s.spent, "remaining": s.remaining})
        );
    } else {
        println!(
            "ε total {} (lifetime), spent {:.6}, remaining {:.6}",
            s.total, s.spent, s.remaining
        );
    }
    Ok(())
}

/// `stats log`.
pub fn log(dir: &DataDir, args: &StatsBudgetArgs) -> Result<()> {
    let entries = password::open_records(dir, &args.password)?.privacy_log()?;
    if args.json {
        let doc: Vec<serde_json::Value> = entries
            .iter()
            .map(|e| {
                serde_json::json!({"id": e.id, "at": e.at, "query": e.query, "epsilon": e.epsilon,
                                   "window": e.data_version, "result": e.result})
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    println!(
        "{:>4}  {:<16}  {:<28} {:>10}  result",
        "id", "when (UTC)", "query", "ε"
    );
    for e in entries {
        let result = match &e.result {
            Some(v) => v
                .iter()
                .map(|x| format!("{x:.0}"))
                .collect::<Vec<_>>()
                .join(" "),
            None => "(interrupted before the result was recorded; ε stays spent)".into(),
        };
        println!(
            "{:>4}  {:<16}  {:<28} {:>10.6}  {result}",
            e.id,
            format_time(e.at),
            e.query,
            e.epsilon
        );
    }
    Ok(())
}
