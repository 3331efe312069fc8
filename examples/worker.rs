//! A real jobgraph worker, over the public API only (HTTP for calls, a websocket to wait):
//!
//!     cargo run --example worker -- --url http://127.0.0.1:8080 --token "$AGENT_TOKEN" \
//!         [--labels gpu,eu] [--lease-seconds 30] [--poll-seconds 5] [--exit-when-idle SECONDS]
//!
//! It waits for work on a `jobEvents` subscription (a new, rescheduled or unblocked job wakes
//! it), with a slow poll as the fallback (a retry's backoff passes without an event), claims
//! one job at a time by labels, heartbeats at a third of the lease, and runs the job's steps:
//! each step is saved as a checkpoint and its cost recorded, so a retry resumes after
//! `lastCompletedStep`. It completes or fails with `attempt` (so a stale worker is fenced),
//! stops a job when its heartbeat says CANCELLING, and on SIGTERM or Ctrl-C fails its current
//! job as retryable (another worker resumes it from the checkpoint) before exiting.
//!
//! What a job asks of it, in its `executionContext` (all optional):
//! `{"steps": 3, "stepMs": 100, "costPerStep": "0.01", "failOnceAtStep": 2}`; the last makes
//! the first attempt fail at that step, to show a resumed retry.

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

struct Args {
    url: String,
    token: String,
    labels: Vec<String>,
    lease_seconds: u64,
    poll_seconds: u64,
    exit_when_idle: Option<u64>,
}

fn args() -> Result<Args, String> {
    let mut args = Args {
        url: "http://127.0.0.1:8080".into(),
        token: std::env::var("JOBGRAPH_TOKEN").unwrap_or_default(),
        labels: Vec::new(),
        lease_seconds: 30,
        poll_seconds: 5,
        exit_when_idle: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => args.url = value()?,
            "--token" => args.token = value()?,
            "--labels" => {
                args.labels = value()?
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            }
            "--lease-seconds" => {
                args.lease_seconds = value()?.parse().map_err(|_| "--lease-seconds: a number")?
            }
            "--poll-seconds" => {
                args.poll_seconds = value()?.parse().map_err(|_| "--poll-seconds: a number")?
            }
            "--exit-when-idle" => {
                args.exit_when_idle =
                    Some(value()?.parse().map_err(|_| "--exit-when-idle: a number")?)
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if args.token.is_empty() {
        return Err("--token (or JOBGRAPH_TOKEN) is required: an AGENT token".into());
    }
    Ok(args)
}

/// The API, as this worker uses it.
#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    url: String,
    token: String,
}

/// A GraphQL error the worker acts on.
#[derive(Debug)]
struct ApiError {
    code: String,
    message: String,
}

impl Api {
    async fn call(&self, query: &str, variables: Value) -> Result<Value, ApiError> {
        let response = self
            .http
            .post(format!("{}/graphql", self.url))
            .bearer_auth(&self.token)
            .json(&json!({"query": query, "variables": variables}))
            .send()
            .await
            .map_err(|e| ApiError {
                code: "UNREACHABLE".into(),
                message: e.to_string(),
            })?;
        let body: Value = response.json().await.map_err(|e| ApiError {
            code: "BAD_RESPONSE".into(),
            message: e.to_string(),
        })?;
        if let Some(err) = body["errors"].as_array().and_then(|e| e.first()) {
            return Err(ApiError {
                code: err["extensions"]["code"]
                    .as_str()
                    .unwrap_or("UNKNOWN")
                    .to_string(),
                message: err["message"].as_str().unwrap_or_default().to_string(),
            });
        }
        Ok(body["data"].clone())
    }
}

const JOB: &str = "id title status attempt lastCompletedStep executionContext";

/// Waits on a `jobEvents` subscription: every event that may have made work runnable pokes
/// `wake`. Reconnects (after a pause) if the socket drops.
async fn watch(api: Api, wake: Arc<Notify>, stop: Arc<AtomicBool>) {
    let ws_url = api.url.replacen("http", "ws", 1) + "/graphql";
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut request) = ws_url.as_str().into_client_request() else {
            return;
        };
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "graphql-transport-ws".parse().unwrap(),
        );
        if let Ok((mut ws, _)) = tokio_tungstenite::connect_async(request).await {
            let init = json!({"type": "connection_init", "payload": {"token": api.token}});
            let sub = json!({"type": "subscribe", "id": "work", "payload": {
                "query": "subscription { jobEvents(filter: {kinds: [CREATED, SCHEDULED, RETRY_SCHEDULED, UPDATED, SUCCEEDED, RELEASED]}) { id } }"
            }});
            let _ = ws.send(Message::Text(init.to_string().into())).await;
            let _ = ws.send(Message::Text(sub.to_string().into())).await;
            while let Some(Ok(message)) = ws.next().await {
                if let Message::Text(text) = message
                    && text.contains("\"next\"")
                {
                    wake.notify_one();
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// What happened to a job.
enum Outcome {
    Completed,
    Failed(String),
    /// The heartbeat said CANCELLING: stopped.
    Cancelled,
    /// The lease was lost or the attempt fenced: someone else has the job now.
    Lost(String),
    /// Shutting down: handed back as a retryable failure.
    Interrupted,
}

async fn work(api: &Api, job: &Value, lease: u64, stop: &AtomicBool) -> Outcome {
    let id = job["id"].clone();
    let attempt = job["attempt"].as_i64().unwrap_or(1);
    let context = &job["executionContext"];
    let steps = context["steps"].as_i64().unwrap_or(3);
    let step_ms = context["stepMs"].as_u64().unwrap_or(100);
    let cost = context["costPerStep"]
        .as_str()
        .unwrap_or("0.01")
        .to_string();
    let fail_at = context["failOnceAtStep"].as_i64();
    let first = job["lastCompletedStep"].as_i64().unwrap_or(0) + 1;

    // Heartbeats at a third of the lease, on their own task; they raise the flags.
    let cancelling = Arc::new(AtomicBool::new(false));
    let lost = Arc::new(AtomicBool::new(false));
    let beat = {
        let (api, id, cancelling, lost) =
            (api.clone(), id.clone(), cancelling.clone(), lost.clone());
        tokio::spawn(async move {
            let period = Duration::from_millis((lease * 1000 / 3).max(100));
            loop {
                tokio::time::sleep(period).await;
                let q = "mutation($id: UUID!, $a: Int) { heartbeatJob(id: $id, attempt: $a) { status } }";
                match api.call(q, json!({"id": id, "a": attempt})).await {
                    Ok(d) if d["heartbeatJob"]["status"] == "CANCELLING" => {
                        cancelling.store(true, Ordering::Relaxed)
                    }
                    Ok(_) => {}
                    Err(e)
                        if e.code == "CONFLICT"
                            || e.code == "NOT_FOUND"
                            || e.code == "INVALID_TRANSITION" =>
                    {
                        lost.store(true, Ordering::Relaxed);
                        return;
                    }
                    Err(_) => {} // a blip: the next beat tries again
                }
            }
        })
    };
    let fail = |error: String, retryable: bool| {
        let api = api.clone();
        let id = id.clone();
        async move {
            let q = "mutation($id: UUID!, $e: String!, $r: Boolean, $a: Int) { failJob(id: $id, error: $e, retryable: $r, attempt: $a) { status } }";
            api.call(
                q,
                json!({"id": id, "e": error, "r": retryable, "a": attempt}),
            )
            .await
        }
    };
    let mut outcome = None;
    for step in first..=steps {
        if cancelling.load(Ordering::Relaxed) {
            let _ = fail("stopped: a cancel was requested".into(), false).await;
            outcome = Some(Outcome::Cancelled);
            break;
        }
        if lost.load(Ordering::Relaxed) {
            outcome = Some(Outcome::Lost("the lease or attempt was lost".into()));
            break;
        }
        if stop.load(Ordering::Relaxed) {
            let _ = fail("the worker is shutting down".into(), true).await;
            outcome = Some(Outcome::Interrupted);
            break;
        }
        tokio::time::sleep(Duration::from_millis(step_ms)).await; // the work of one step
        if fail_at == Some(step) && attempt == 1 {
            let error = format!("failed at step {step} (once, on purpose)");
            let _ = fail(error.clone(), true).await;
            outcome = Some(Outcome::Failed(error));
            break;
        }
        let saved = api
            .call(
                "mutation($id: UUID!, $s: Int!, $a: Int) { saveCheckpoint(id: $id, checkpoint: {step: $s, data: {step: $s}}, attempt: $a) { id } }",
                json!({"id": id, "s": step, "a": attempt}),
            )
            .await;
        if let Err(e) = saved {
            outcome = Some(Outcome::Lost(format!(
                "checkpoint refused: {} {}",
                e.code, e.message
            )));
            break;
        }
        let _ = api
            .call(
                "mutation($id: UUID!, $c: Decimal!, $a: Int) { recordJobCost(id: $id, amount: $c, attempt: $a) { id } }",
                json!({"id": id, "c": cost, "a": attempt}),
            )
            .await;
    }
    let outcome = match outcome {
        Some(o) => o,
        // Every step done (even if a cancel came during the last one: completing a
        // CANCELLING job is allowed, and the work did finish).
        None => complete(api, &id, attempt, steps).await,
    };
    beat.abort();
    outcome
}

async fn complete(api: &Api, id: &Value, attempt: i64, steps: i64) -> Outcome {
    let q = "mutation($id: UUID!, $a: Int, $r: JobResultInput) { completeJob(id: $id, attempt: $a, result: $r) { status } }";
    match api
        .call(
            q,
            json!({"id": id, "a": attempt, "r": {"output": {"steps": steps}}}),
        )
        .await
    {
        Ok(_) => Outcome::Completed,
        Err(e) => Outcome::Lost(format!("{}: {}", e.code, e.message)),
    }
}

#[tokio::main]
async fn main() {
    let args = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("worker: {e}");
            std::process::exit(2);
        }
    };
    let api = Api {
        http: reqwest::Client::new(),
        url: args.url.trim_end_matches('/').to_string(),
        token: args.token.clone(),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let wake = Arc::new(Notify::new());
    {
        let (stop, wake) = (stop.clone(), wake.clone());
        tokio::spawn(async move {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("a SIGTERM handler");
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            stop.store(true, Ordering::Relaxed);
            wake.notify_one();
        });
    }
    tokio::spawn(watch(api.clone(), wake.clone(), stop.clone()));
    let claim = format!(
        "mutation($l: Int, $labels: [String!]) {{ claimJobs(limit: 1, leaseSeconds: $l, labels: $labels) {{ {JOB} }} }}"
    );
    let mut idle_since = Instant::now();
    let mut done = 0;
    while !stop.load(Ordering::Relaxed) {
        let claimed = api
            .call(
                &claim,
                json!({"l": args.lease_seconds, "labels": args.labels}),
            )
            .await;
        let job = match claimed {
            Ok(d) => d["claimJobs"].as_array().and_then(|j| j.first()).cloned(),
            Err(e) => {
                eprintln!("worker: claim failed: {} {}", e.code, e.message);
                if e.code == "UNAUTHENTICATED" || e.code == "FORBIDDEN" {
                    std::process::exit(1);
                }
                None
            }
        };
        let Some(job) = job else {
            if args
                .exit_when_idle
                .is_some_and(|s| idle_since.elapsed() >= Duration::from_secs(s))
            {
                break;
            }
            // Wait for news, or poll slowly (a backoff ends without an event).
            let _ =
                tokio::time::timeout(Duration::from_secs(args.poll_seconds), wake.notified()).await;
            continue;
        };
        let outcome = work(&api, &job, args.lease_seconds, &stop).await;
        let (id, title) = (&job["id"], job["title"].as_str().unwrap_or_default());
        match outcome {
            Outcome::Completed => println!("completed {id} {title} (attempt {})", job["attempt"]),
            Outcome::Failed(e) => println!("failed {id} {title}: {e}"),
            Outcome::Cancelled => println!("cancelled {id} {title}"),
            Outcome::Lost(why) => println!("lost {id} {title}: {why}"),
            Outcome::Interrupted => println!("handed back {id} {title}"),
        }
        done += 1;
        idle_since = Instant::now();
    }
    println!("worker: stopping after {done} job(s)");
}
