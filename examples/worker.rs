//! A real jobgraph worker, over the public API only (HTTP for calls, a websocket to wait):
//!
//!     cargo run --example worker -- --url http://127.0.0.1:8080 --token "$AGENT_TOKEN" \
//!         [--labels gpu,eu] [--concurrency 1] [--lease-seconds 30] [--poll-seconds 5] \
//!         [--shutdown-grace-seconds 5] [--exit-when-idle SECONDS]
//!
//! It waits for work on a `jobEvents` subscription (a new, rescheduled, unblocked or released
//! job wakes it), with a slow poll as the fallback (a retry's backoff passes without an event),
//! and claims by labels as many jobs as it has free slots (`--concurrency`, default 1). Each job
//! runs its steps: every step is saved as a checkpoint and its usage recorded, so a retry resumes
//! after `lastCompletedStep`. It completes or fails with `attempt`, so a stale worker is fenced:
//! a lost lease shows as a refused checkpoint or completion, and the worker drops the job.
//!
//! Liveness: one `heartbeatAgent` call every third of the lease extends every lease the worker
//! holds, however many jobs it runs, and lists those that are CANCELLING; the worker stops each
//! of them at its next step (a `failJob`, which ends a CANCELLING job CANCELLED). A call that
//! fails for want of an answer (server unreachable, internal error) is repeated until the
//! server says yes or no, so a job is never left held, and kept alive by the heartbeat, with no
//! one working on it.
//!
//! Shutdown: on SIGTERM or Ctrl-C it stops claiming and gives its running jobs
//! `--shutdown-grace-seconds` (default 5) to finish; a second signal ends the grace at once. If
//! work is still running after that, it stops it and hands every job back with one
//! `releaseJobs` (each is runnable again at once, checkpoint kept, the attempt not counted), then
//! exits 0.
//!
//! The heartbeat and the release cover every job of the calling *agent*, so each worker process
//! needs its own agent identity (token). For the same reason a starting worker first hands back
//! anything its agent still holds: jobs of an earlier process that died, which its heartbeats
//! would otherwise keep alive.
//!
//! What a job asks of it, in its `executionContext` (all optional):
//! `{"steps": 3, "stepMs": 100, "costPerStep": "0.01", "tokensPerStep": 1000, "model": "m",
//! "failOnceAtStep": 2}`; each step reports its usage (`recordUsage`: the tokens, a quarter as
//! many output tokens, one tool call, and the step's cost), and a job whose `limits` that
//! crosses is stopped at the next step. `failOnceAtStep` makes the first attempt fail at that
//! step, to show a resumed retry.

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_util::sync::CancellationToken;

struct Args {
    url: String,
    token: String,
    labels: Vec<String>,
    concurrency: usize,
    lease_seconds: u64,
    poll_seconds: u64,
    shutdown_grace_seconds: u64,
    exit_when_idle: Option<u64>,
}

fn args() -> Result<Args, String> {
    let mut args = Args {
        url: "http://127.0.0.1:8080".into(),
        token: std::env::var("JOBGRAPH_TOKEN").unwrap_or_default(),
        labels: Vec::new(),
        concurrency: 1,
        lease_seconds: 30,
        poll_seconds: 5,
        shutdown_grace_seconds: 5,
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
            "--concurrency" => {
                args.concurrency = value()?
                    .parse()
                    .ok()
                    .filter(|n| (1..=100).contains(n))
                    .ok_or("--concurrency: a number, 1..100")?
            }
            "--lease-seconds" => {
                args.lease_seconds = value()?.parse().map_err(|_| "--lease-seconds: a number")?
            }
            "--poll-seconds" => {
                args.poll_seconds = value()?.parse().map_err(|_| "--poll-seconds: a number")?
            }
            "--shutdown-grace-seconds" => {
                args.shutdown_grace_seconds = value()?
                    .parse()
                    .map_err(|_| "--shutdown-grace-seconds: a number")?
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

impl ApiError {
    /// The call may or may not have landed: the error says nothing about the job.
    fn is_transient(&self) -> bool {
        matches!(
            self.code.as_str(),
            "UNREACHABLE" | "BAD_RESPONSE" | "INTERNAL" | "TIMEOUT" | "UNKNOWN"
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.code, self.message)
    }
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

    /// A call that settles a job's fate (checkpoint, completion, failure), repeated with a
    /// backoff while it fails transiently: until the server answers, the job is still held
    /// and the heartbeat keeps it alive. Every call passed here is safe to repeat (fenced by
    /// `attempt`, or idempotent).
    async fn settle(&self, query: &str, variables: Value) -> Result<Value, ApiError> {
        let mut pause = Duration::from_millis(250);
        loop {
            match self.call(query, variables.clone()).await {
                Err(e) if e.is_transient() => {
                    eprintln!("worker: {e}; trying again in {pause:?}");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(5));
                }
                result => return result,
            }
        }
    }
}

const JOB: &str = "id title status attempt lastCompletedStep executionContext";

/// The jobs this worker runs now, by id, each with the flag the heartbeat raises when the job
/// is CANCELLING.
type Held = Arc<Mutex<HashMap<String, Arc<AtomicBool>>>>;

/// Waits on a `jobEvents` subscription: every event that may have made work runnable pokes
/// `wake`. Reconnects (after a pause) if the socket drops.
async fn watch(api: Api, wake: Arc<Notify>, stop: CancellationToken) {
    let ws_url = api.url.replacen("http", "ws", 1) + "/graphql";
    while !stop.is_cancelled() {
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

/// One `heartbeatAgent` every third of the lease, for all the jobs held at once; raises the
/// flag of each one it reports CANCELLING. Sends nothing while the worker holds nothing (a
/// fresh claim's lease is new).
async fn heartbeat(api: Api, held: Held, lease: u64) {
    let period = Duration::from_millis((lease * 1000 / 3).max(100));
    let q = "mutation($l: Int) { heartbeatAgent(leaseSeconds: $l) { extended cancelling } }";
    loop {
        tokio::time::sleep(period).await;
        if held.lock().unwrap().is_empty() {
            continue;
        }
        match api.call(q, json!({"l": lease})).await {
            Ok(d) => {
                let held = held.lock().unwrap();
                for id in d["heartbeatAgent"]["cancelling"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    if let Some(flag) = id.as_str().and_then(|id| held.get(id)) {
                        flag.store(true, Ordering::Relaxed);
                    }
                }
            }
            // A blip: the next beat tries again, well within the lease.
            Err(e) => eprintln!("worker: heartbeat failed: {e}"),
        }
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
}

/// Runs one claimed job to its end; `cancelling` is raised by the heartbeat.
async fn work(api: &Api, job: &Value, cancelling: &AtomicBool) -> Outcome {
    let id = &job["id"];
    let attempt = job["attempt"].as_i64().unwrap_or(1);
    let context = &job["executionContext"];
    let steps = context["steps"].as_i64().unwrap_or(3);
    let step_ms = context["stepMs"].as_u64().unwrap_or(100);
    let cost = context["costPerStep"].as_str().unwrap_or("0.01");
    let model = context["model"].as_str().unwrap_or("example-model");
    let tokens = context["tokensPerStep"].as_i64().unwrap_or(1000);
    let fail_at = context["failOnceAtStep"].as_i64();
    let first = job["lastCompletedStep"].as_i64().unwrap_or(0) + 1;

    let fail = |error: &str, retryable: bool| {
        let q = "mutation($id: UUID!, $e: String!, $r: Boolean, $a: Int) { failJob(id: $id, error: $e, retryable: $r, attempt: $a) { status } }";
        api.settle(
            q,
            json!({"id": id, "e": error, "r": retryable, "a": attempt}),
        )
    };
    for step in first..=steps {
        if cancelling.load(Ordering::Relaxed) {
            // Refused only if the job already ended (the grace loop cancelled it): stopped too.
            let _ = fail("stopped: a cancel was requested", false).await;
            return Outcome::Cancelled;
        }
        tokio::time::sleep(Duration::from_millis(step_ms)).await; // the work of one step
        if fail_at == Some(step) && attempt == 1 {
            let error = format!("failed at step {step} (once, on purpose)");
            let _ = fail(&error, true).await;
            return Outcome::Failed(error);
        }
        let saved = api
            .settle(
                "mutation($id: UUID!, $s: Int!, $a: Int) { saveCheckpoint(id: $id, checkpoint: {step: $s, data: {step: $s}}, attempt: $a) { id } }",
                json!({"id": id, "s": step, "a": attempt}),
            )
            .await;
        if let Err(e) = saved {
            return Outcome::Lost(format!("checkpoint refused: {e}"));
        }
        // What the step used, with its cost. Best effort and not repeated: a repeat whose first
        // try landed would count twice. A job whose token or cost limit this crosses comes
        // back CANCELLING: the worker stops it at the next step, as for any cancel.
        let usage = json!({
            "model": model,
            "inputTokens": tokens,
            "outputTokens": tokens / 4,
            "toolCalls": 1,
            "amount": cost,
        });
        if let Ok(data) = api
            .call(
                "mutation($id: UUID!, $u: UsageInput!, $a: Int) { recordUsage(id: $id, usage: $u, attempt: $a) { status } }",
                json!({"id": id, "u": usage, "a": attempt}),
            )
            .await
            && data["recordUsage"]["status"] == "CANCELLING"
        {
            cancelling.store(true, Ordering::Relaxed);
        }
    }
    // Every step done (even if a cancel came during the last one: completing a CANCELLING job
    // is allowed, and the work did finish).
    let q = "mutation($id: UUID!, $a: Int, $r: JobResultInput) { completeJob(id: $id, attempt: $a, result: $r) { status } }";
    match api
        .settle(
            q,
            json!({"id": id, "a": attempt, "r": {"output": {"steps": steps}}}),
        )
        .await
    {
        Ok(_) => Outcome::Completed,
        Err(e) => Outcome::Lost(e.to_string()),
    }
}

fn report(job: &Value, outcome: &Outcome) {
    let (id, title) = (&job["id"], job["title"].as_str().unwrap_or_default());
    match outcome {
        Outcome::Completed => println!("completed {id} {title} (attempt {})", job["attempt"]),
        Outcome::Failed(e) => println!("failed {id} {title}: {e}"),
        Outcome::Cancelled => println!("cancelled {id} {title}"),
        Outcome::Lost(why) => println!("lost {id} {title}: {why}"),
    }
}

/// `releaseJobs`: hands back every job the agent holds; prints and counts them.
async fn release(api: &Api, reason: &str) -> usize {
    let q = "mutation($r: String!) { releaseJobs(reason: $r) { id title status } }";
    match api.call(q, json!({"r": reason})).await {
        Ok(d) => {
            let jobs = d["releaseJobs"].as_array().cloned().unwrap_or_default();
            for j in &jobs {
                let title = j["title"].as_str().unwrap_or_default();
                println!("handed back {} {title} (now {})", j["id"], j["status"]);
            }
            jobs.len()
        }
        Err(e) => {
            // The leases expire on their own: the jobs come back later instead of now.
            eprintln!("worker: releaseJobs failed: {e}");
            0
        }
    }
}

/// SIGTERM or Ctrl-C cancels `stop`; a second one cancels `hurry` (no more grace).
fn on_signals(stop: CancellationToken, hurry: CancellationToken) {
    tokio::spawn(async move {
        let mut term = signal(SignalKind::terminate()).expect("a SIGTERM handler");
        for token in [stop, hurry] {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            token.cancel();
        }
    });
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
    let (stop, hurry) = (CancellationToken::new(), CancellationToken::new());
    on_signals(stop.clone(), hurry.clone());
    let wake = Arc::new(Notify::new());
    let held: Held = Arc::default();
    // Nothing runs here yet: whatever the agent holds was left by an earlier process.
    release(&api, "worker restarted: left by an earlier run").await;
    tokio::spawn(watch(api.clone(), wake.clone(), stop.clone()));
    tokio::spawn(heartbeat(api.clone(), held.clone(), args.lease_seconds));

    let claim = format!(
        "mutation($n: Int, $l: Int, $labels: [String!]) {{ claimJobs(limit: $n, leaseSeconds: $l, labels: $labels) {{ {JOB} }} }}"
    );
    let mut running: JoinSet<(Value, Outcome)> = JoinSet::new();
    let mut idle_since = Instant::now();
    let mut done = 0;
    while !stop.is_cancelled() {
        let free = args.concurrency - running.len();
        if free > 0 {
            let claimed = api
                .call(
                    &claim,
                    json!({"n": free, "l": args.lease_seconds, "labels": args.labels}),
                )
                .await;
            let jobs = match claimed {
                Ok(d) => d["claimJobs"].as_array().cloned().unwrap_or_default(),
                Err(e) => {
                    eprintln!("worker: claim failed: {e}");
                    if e.code == "UNAUTHENTICATED" || e.code == "FORBIDDEN" {
                        std::process::exit(1);
                    }
                    Vec::new()
                }
            };
            for job in jobs {
                let id = job["id"].as_str().unwrap_or_default().to_string();
                let cancelling = Arc::new(AtomicBool::new(false));
                held.lock().unwrap().insert(id.clone(), cancelling.clone());
                let (api, held) = (api.clone(), held.clone());
                running.spawn(async move {
                    let outcome = work(&api, &job, &cancelling).await;
                    held.lock().unwrap().remove(&id);
                    (job, outcome)
                });
                idle_since = Instant::now();
            }
            if running.is_empty()
                && args
                    .exit_when_idle
                    .is_some_and(|s| idle_since.elapsed() >= Duration::from_secs(s))
            {
                break;
            }
        }
        // A claim that left a slot free found nothing more runnable. Wait for a job to end, for
        // news (or the slow poll) when a slot is free, or for a signal.
        let full = running.len() == args.concurrency;
        tokio::select! {
            _ = stop.cancelled() => {}
            Some(ended) = running.join_next() => {
                let (job, outcome) = ended.expect("a job task");
                report(&job, &outcome);
                done += 1;
                idle_since = Instant::now();
            }
            _ = wake.notified(), if !full => {}
            _ = tokio::time::sleep(Duration::from_secs(args.poll_seconds)), if !full => {}
        }
    }

    // Stopping: no more claims; the running jobs get the grace time to finish.
    if !running.is_empty() {
        println!(
            "worker: stopping; {} job(s) running get {} s to finish",
            running.len(),
            args.shutdown_grace_seconds
        );
        let grace = tokio::time::sleep(Duration::from_secs(args.shutdown_grace_seconds));
        tokio::pin!(grace);
        loop {
            tokio::select! {
                ended = running.join_next() => match ended {
                    Some(ended) => {
                        let (job, outcome) = ended.expect("a job task");
                        report(&job, &outcome);
                        done += 1;
                    }
                    None => break,
                },
                _ = &mut grace => break,
                _ = hurry.cancelled() => break,
            }
        }
    }
    if !running.is_empty() {
        // Stop the work first, so none of its calls races the release; then hand it all back.
        running.shutdown().await;
        done += release(&api, "worker shutting down").await;
    }
    println!("worker: stopping after {done} job(s)");
}
