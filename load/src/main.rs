//! `todo-load`: the load client of the benchmark harness
//! (`scripts/bench.sh`, see BENCHMARKS.md).
//!
//! ```text
//! todo-load seed --user-grpc URL --task-grpc URL --owner EMAIL --member EMAIL
//!                --password PW --out FILE [--tasks 10000] [--concurrency 8]
//!                [--write-lists 32]
//! todo-load run  --edge HOST:PORT --user-grpc URL --task-grpc URL --seed FILE
//!                --email EMAIL --password PW [--duration 10] [--warmup 1]
//!                [--concurrency 32] [--logins 200] [--threads 1] [--timeout 30]
//!                [--max-requests 5000000] [--cases NAME,...] [--db LABEL]
//!                [--mode LABEL] [--require-zero-errors]
//! todo-load sqlite-handoff --db FILE [--reads 50000]
//! ```
//!
//! `seed` fills a running system (both users registered, the member's
//! address verified): a shared list of `--tasks` tasks, the member an
//! EDITOR of it, and `--write-lists` empty lists for the writes. `run`
//! measures every case (or `--cases`) against it and prints one line per
//! case, `case= db= mode= rps= p50_ms= p99_ms= errors=`, then a `ratio`
//! line per case (to the floor, and edge to direct gRPC where both were
//! measured) and the `check` of GET's p99 while logins are in flight.
//! With `--require-zero-errors` it exits 1 when any request failed.
//! `sqlite-handoff` times one point read on a task database through sqlx
//! against the same read inline (module `handoff`).
//!
//! The client runs on `--threads` runtime threads (default 1), so that on
//! a small machine most of the cores stay with the system under test.
//!
//! # Layout
//! - `args`: the options.
//! - `measure`: fixed concurrency for a fixed time, latencies, errors.
//! - `http`: HTTP/1.1 workers on keep-alive connections to the edge.
//! - `grpc`: workers with the generated tonic clients.
//! - `cases`: what each case sends, either way.
//! - `seed`: the data the cases need.
//! - `web`: the web app's sign-in, for its page's case.
//! - `handoff`: the cost of sqlx's thread hand-off on SQLite.

mod args;
mod cases;
mod grpc;
mod handoff;
mod http;
mod measure;
mod seed;
mod web;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::args::Args;
use crate::cases::{BACKGROUND_LOGINS, Case, Load, Op, Target};
use crate::measure::{Outcome, Plan};
use crate::seed::{Seed, SeedPlan};

const USAGE: &str =
    "usage: todo-load seed|run|sqlite-handoff [--option value ...] (see the crate documentation)";

/// How much GET's p99 may grow while logins are in flight.
const LOGIN_LIFT_LIMIT: f64 = 3.0;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let command = args.next();
    let result = match command.as_deref() {
        Some("seed") => seed_command(args),
        Some("run") => run_command(args),
        Some("sqlite-handoff") => handoff::command(args).map(|()| ExitCode::SUCCESS),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("todo-load: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime(threads: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
        .context("cannot start the runtime")
}

fn seed_command(args: impl Iterator<Item = String>) -> anyhow::Result<ExitCode> {
    let args = Args::parse(
        args,
        &[
            "user-grpc",
            "task-grpc",
            "owner",
            "member",
            "password",
            "tasks",
            "concurrency",
            "out",
            "threads",
        ],
        &[],
    )?;
    let plan = SeedPlan {
        user_url: args.required("user-grpc")?,
        task_url: args.required("task-grpc")?,
        owner: args.required("owner")?,
        member: args.required("member")?,
        password: args.required("password")?,
        tasks: args.parsed("tasks", 10_000)?,
        concurrency: args.parsed("concurrency", 8)?,
        write_lists: args.parsed("write-lists", 32)?,
    };
    let out = PathBuf::from(args.required("out")?);
    let started = Instant::now();
    let seed = runtime(args.parsed("threads", 1)?)?.block_on(seed::seed(&plan))?;
    seed.save(&out)?;
    eprintln!(
        "todo-load: seeded {} tasks in {:.1} s; the deep page is page {} of {}",
        seed.tasks.len(),
        started.elapsed().as_secs_f64(),
        seed.deep_page + 1,
        seed.tasks.len().div_ceil(seed::PAGE_SIZE as usize),
    );
    Ok(ExitCode::SUCCESS)
}

fn run_command(args: impl Iterator<Item = String>) -> anyhow::Result<ExitCode> {
    let args = Args::parse(
        args,
        &[
            "edge",
            "user-grpc",
            "task-grpc",
            "seed",
            "email",
            "password",
            "duration",
            "warmup",
            "concurrency",
            "logins",
            "threads",
            "timeout",
            "max-requests",
            "cases",
            "db",
            "mode",
        ],
        &["require-zero-errors"],
    )?;
    let cases = match args.text("cases", "all").as_str() {
        "all" => cases::ALL.to_vec(),
        names => names
            .split(',')
            .map(|name| Case::by_name(name).with_context(|| format!("no case {name:?}")))
            .collect::<anyhow::Result<_>>()?,
    };
    let seconds = |name, default| -> anyhow::Result<Duration> {
        Duration::try_from_secs_f64(args.parsed(name, default)?)
            .with_context(|| format!("--{name} is out of range"))
    };
    let load = Load {
        concurrency: args.parsed("concurrency", 32)?,
        logins: args.parsed("logins", 200)?,
        plan: Plan {
            start: Instant::now(),
            warmup: seconds("warmup", 1.0)?,
            duration: seconds("duration", 10.0)?,
            timeout: seconds("timeout", 30.0)?,
            max_requests: args.parsed("max-requests", 5_000_000)?,
        },
    };
    let labels = format!(
        "db={} mode={}",
        args.text("db", "-"),
        args.text("mode", "-")
    );
    let edge: SocketAddr = args.parsed("edge", SocketAddr::from(([127, 0, 0, 1], 18080)))?;
    let seed = Arc::new(Seed::load(&PathBuf::from(args.required("seed")?))?);
    let (email, password) = (args.required("email")?, args.required("password")?);
    let (user_url, task_url) = (args.required("user-grpc")?, args.required("task-grpc")?);

    let outcomes = runtime(args.parsed("threads", 1)?)?.block_on(async {
        let user = grpc::channel(&user_url).await?;
        let task = grpc::channel(&task_url).await?;
        let token = seed::login(&user, &email, &password).await?;
        let target = Target {
            edge,
            task,
            user,
            token,
            email,
            password,
            seed,
        };
        let mut outcomes = Vec::new();
        for case in cases {
            for (name, outcome) in cases::run(case, &target, load).await? {
                println!("{}", line(&name, &labels, &outcome));
                if let Some(why) = &outcome.first_error {
                    eprintln!("todo-load: case={name} {labels}: first error: {why}");
                }
                outcomes.push((name, outcome));
            }
        }
        anyhow::Ok(outcomes)
    })?;

    for line in summary(&outcomes, &labels, load.logins) {
        println!("{line}");
    }
    let errors: u64 = outcomes.iter().map(|(_, o)| o.errors).sum();
    if args.flag("require-zero-errors") && errors > 0 {
        eprintln!("todo-load: {errors} requests failed ({labels})");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// Requests per second, with a decimal where it is small.
fn rate(rps: f64) -> String {
    if rps < 100.0 {
        format!("{rps:.1}")
    } else {
        format!("{rps:.0}")
    }
}

fn line(name: &str, labels: &str, outcome: &Outcome) -> String {
    format!(
        "case={name} {labels} rps={} p50_ms={:.2} p99_ms={:.2} errors={}",
        rate(outcome.rps()),
        outcome.quantile_ms(0.5),
        outcome.quantile_ms(0.99),
        outcome.errors
    )
}

/// The `ratio` lines (throughput against the floor, and through the edge
/// against straight to the service) and the `check` of GET's p99 while
/// logins are in flight, for whatever was measured.
fn summary(outcomes: &[(String, Outcome)], labels: &str, logins: usize) -> Vec<String> {
    let by_name: HashMap<&str, &Outcome> = outcomes.iter().map(|(n, o)| (n.as_str(), o)).collect();
    let floor_name = Case::Edge(Op::Floor).name();
    let floor = by_name
        .get(floor_name.as_str())
        .map(|o| o.rps())
        .filter(|r| *r > 0.0);
    let mut lines = Vec::new();
    for (name, outcome) in outcomes {
        if *name == floor_name || name == BACKGROUND_LOGINS {
            continue;
        }
        let mut parts = Vec::new();
        if let Some(floor) = floor {
            parts.push(format!("to_floor={:.3}", outcome.rps() / floor));
        }
        let direct = by_name
            .get(format!("grpc-{name}").as_str())
            .map(|o| o.rps());
        if let Some(direct) = direct.filter(|r| *r > 0.0) {
            parts.push(format!("edge_to_grpc={:.3}", outcome.rps() / direct));
        }
        if !parts.is_empty() {
            lines.push(format!("ratio case={name} {labels} {}", parts.join(" ")));
        }
    }
    let during = Case::GetTaskDuringLogins.name();
    let alone = Case::Edge(Op::GetTask).name();
    if let (Some(during), Some(alone)) = (by_name.get(during.as_str()), by_name.get(alone.as_str()))
    {
        let (p99, base) = (during.quantile_ms(0.99), alone.quantile_ms(0.99));
        let lift = if base > 0.0 {
            p99 / base
        } else {
            f64::INFINITY
        };
        let verdict = if lift <= LOGIN_LIFT_LIMIT {
            "ok"
        } else {
            "over"
        };
        lines.push(format!(
            "check case={} {labels} logins_in_flight={logins} p99_ms={p99:.2} \
             alone_p99_ms={base:.2} lift={lift:.2} limit={LOGIN_LIFT_LIMIT:.0} result={verdict}",
            Case::GetTaskDuringLogins.name()
        ));
    }
    lines
}
