//! `pulsecure stats ...`: differentially private releases (OpenDP) with an atomic,
//! persistent ε budget; budget and log views.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{bail, Result};
use pulsecure_core::app::analytics::{AnalyticsService, Release};
use pulsecure_core::domain::analytics::Query;
use pulsecure_core::ports::audit::{AuditEvent, AuditLog};
use pulsecure_core::ports::privacy::BudgetLedger;
use pulsecure_core::Model;
use pulsecure_privacy::OpenDpMechanism;
use pulsecure_store::Database;

use crate::cli::{StatsBudgetArgs, StatsReleaseArgs};
use crate::dates::format_time;
use crate::password;
use crate::session::{open_database, DataDir, Unlocked};

/// Which release.
pub enum QueryArg {
    /// `count`.
    Count,
    /// `mean-risk` with clamp bounds.
    MeanRisk(i64, i64),
    /// `histogram`.
    Histogram,
}

fn open(dir: &DataDir, args: &crate::cli::PasswordArgs) -> Result<Database> {
    let password = password::current(args)?;
    let unlocked = Unlocked::open(dir, &password)?;
    open_database(dir, &unlocked)
}

fn confirm(question: &str) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!("confirmation needed and stdin is not a terminal: pass --yes to spend the budget");
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// The analytics use case over `db` with OpenDP, reading ages from `model`'s `age` column.
/// Shared by `stats` and the terminal UI.
pub fn analytics<'a>(db: &'a Database, model: &Model) -> AnalyticsService<'a> {
    let age_index = model
        .features()
        .iter()
        .position(|f| f.name == "age")
        .unwrap_or(0);
    AnalyticsService::new(db, &OpenDpMechanism, db, age_index)
}

/// Release `query` at `epsilon`; log it, and record it in the audit log when budget was
/// spent (a recorded answer returned again costs nothing and is not a new release).
pub fn release_audited(
    service: &AnalyticsService<'_>,
    db: &Database,
    query: &Query,
    epsilon: f64,
) -> Result<Release> {
    let r = service.release(query, epsilon)?;
    tracing::info!(
        query = query.key().as_str(),
        epsilon_charged = r.epsilon_charged,
        cached = r.cached,
        "privacy release"
    );
    if !r.cached {
        db.log_event(
            AuditEvent::PrivacyRelease,
            &format!("{} ε={}", query.key(), r.epsilon_charged),
        )?;
    }
    Ok(r)
}

/// `stats count|mean-risk|histogram`.
pub fn release(dir: &DataDir, args: &StatsReleaseArgs, which: QueryArg) -> Result<()> {
    let query = match which {
        QueryArg::Count => Query::parse("count", None)?,
        QueryArg::MeanRisk(lower, upper) => Query::parse("mean-risk", Some((lower, upper)))?,
        QueryArg::Histogram => Query::parse("histogram", None)?,
    };
    let db = open(dir, &args.password)?;
    let model = crate::model_cmd::active_model(dir, &db)?;
    let service = analytics(&db, &model);
    let cost = service.quote(&query, args.epsilon)?;
    let status = db.status()?;
    if !args.yes
        && !confirm(&format!(
            "Release {} (sensitivity {}) costs ε = {cost:.6}; ε = {:.6} of {} remains. Spend it?",
            query.key(),
            query.sensitivity(),
            status.remaining,
            status.total
        ))?
    {
        bail!("not released; nothing was spent");
    }
    let r = release_audited(&service, &db, &query, args.epsilon)?;
    let labels = query.outputs();
    if args.json {
        let values: serde_json::Map<String, serde_json::Value> = labels
            .iter()
            .zip(&r.values)
            .map(|(l, v)| (l.clone(), serde_json::json!(v)))
            .collect();
        let mut doc = serde_json::json!({
            "query": query.key(),
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
    println!("{} (ε-differentially private; noisy values)", query.key());
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
        println!("Recorded answer of an identical earlier release over the same data: no ε spent.");
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
    let db = open(dir, &args.password)?;
    let s = db.status()?;
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
    let db = open(dir, &args.password)?;
    let entries = db.entries()?;
    if args.json {
        let doc: Vec<serde_json::Value> = entries
            .iter()
            .map(|e| {
                serde_json::json!({"id": e.id, "at": e.at, "query": e.query, "epsilon": e.epsilon,
                                   "data_version": e.data_version, "result": e.result})
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
