//! The `jobgraph` binary as a person runs it: `schema`, `token`, `migrate`, `serve` (and a clean
//! stop on SIGTERM, websockets closed 1001), and start-up errors that name the setting.

use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn jobgraph(args: &[&str], data_dir: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_jobgraph"))
        .args(args)
        .env_remove("JOBGRAPH_DATABASE_URL")
        .env_remove("DATABASE_URL")
        .env_remove("JOBGRAPH_JWT_SECRET")
        .env("JOBGRAPH_DATA_DIR", data_dir)
        .output()
        .expect("run jobgraph")
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("jobgraph-cli-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("utf-8")
}

#[test]
fn schema_prints_the_sdl() {
    let dir = temp_dir();
    assert_eq!(
        stdout(&jobgraph(&["schema"], &dir)),
        jobgraph::graphql::sdl()
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn token_uses_the_generated_dev_secret() {
    let dir = temp_dir();
    let token = stdout(&jobgraph(
        &[
            "token", "--tenant", "acme", "--sub", "alice", "--role", "MEMBER", "--role", "agent",
        ],
        &dir,
    ));
    let secret = std::fs::read_to_string(dir.join("jwt-secret")).expect("the secret was generated");
    let actor = jobgraph::auth::TokenKeys::new(secret.trim().as_bytes())
        .verify(token.trim())
        .expect("a valid token");
    assert_eq!(actor.id, "alice");
    assert_eq!(actor.tenant, "acme");
    assert_eq!(
        actor.roles,
        vec![jobgraph::auth::Role::Member, jobgraph::auth::Role::Agent]
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn bad_settings_name_the_setting() {
    let dir = temp_dir();
    let out = jobgraph(&["--listen", "nowhere", "serve"], &dir);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--listen"));
    let out = jobgraph(&["--database-url", "mysql://x/y", "migrate"], &dir);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--database-url"));
    let out = jobgraph(
        &[
            "--cors-origins",
            "https://ok.example,example.com",
            "migrate",
        ],
        &dir,
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--cors-origins") && stderr.contains("example.com"),
        "{stderr}"
    );
    let out = jobgraph(
        &[
            "--database-url",
            "postgres://u@127.0.0.1:1/db",
            "token",
            "--tenant",
            "t",
            "--sub",
            "s",
            "--role",
            "ADMIN",
        ],
        &dir,
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--jwt-secret"),
        "PostgreSQL needs a shared secret"
    );
    std::fs::remove_dir_all(dir).ok();
}

/// A configured secret shorter than 32 bytes fails start with a message naming the setting.
#[test]
fn a_short_secret_fails_start() {
    let dir = temp_dir();
    let out = Command::new(env!("CARGO_BIN_EXE_jobgraph"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("JOBGRAPH_DATABASE_URL")
        .env_remove("DATABASE_URL")
        .env("JOBGRAPH_JWT_SECRET", "only-sixteen-xxx")
        .env("JOBGRAPH_DATA_DIR", &dir)
        .output()
        .expect("run jobgraph");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--jwt-secret") && stderr.contains("at least 32"),
        "{stderr}"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn migrate_creates_the_sqlite_database() {
    let dir = temp_dir();
    let out = jobgraph(&["migrate"], &dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.join("jobgraph.db").exists());
    // Migrating again is a no-op.
    assert!(jobgraph(&["migrate"], &dir).status.success());
    std::fs::remove_dir_all(dir).ok();
}

/// The README's flow: start the server on SQLite, mint a token, call it, stop it with SIGTERM.
#[tokio::test]
async fn serve_answers_and_stops_cleanly_on_sigterm() {
    let dir = temp_dir();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_jobgraph"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env_remove("JOBGRAPH_DATABASE_URL")
        .env_remove("DATABASE_URL")
        .env_remove("JOBGRAPH_JWT_SECRET")
        .env("JOBGRAPH_DATA_DIR", &dir)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the server");
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    loop {
        if let Ok(r) = client.get(format!("{base}/healthz")).send().await
            && r.status().is_success()
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the server did not come up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let token = stdout(&jobgraph(
        &[
            "token", "--tenant", "acme", "--sub", "alice", "--role", "MEMBER",
        ],
        &dir,
    ));
    let body: Value = client
        .post(format!("{base}/graphql"))
        .bearer_auth(token.trim())
        .json(
            &json!({"query": "mutation { createJob(input: {title: \"hello\"}) { title status } }"}),
        )
        .send()
        .await
        .expect("call the server")
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        body,
        json!({"data": {"createJob": {"title": "hello", "status": "PENDING"}}})
    );
    let ready = client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status().as_u16(), 200);
    // A live subscriber: at SIGTERM it gets a 1001 close before the process exits.
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut ws = crate::ws_client::Ws::ready(addr, crate::ws_client::TRANSPORT, token.trim()).await;
    ws.subscribe("1", "subscription { jobEvents { id } }", json!({}))
        .await;

    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not stop on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "exit status {status}");
    let reason = ws.closed_with(1001).await;
    assert!(reason.contains("shutting down"), "{reason}");
    std::fs::remove_dir_all(dir).ok();
}

/// SIGTERM with a request in flight and a live subscription (DESIGN.md §11): `/readyz` says
/// 503 while the server drains, the subscriber gets 1001, the listener closes, the request in
/// flight still completes, and the process exits 0.
#[tokio::test]
async fn sigterm_drains_requests_in_flight() {
    use sqlx::Connection;
    let dir = temp_dir();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_jobgraph"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--drain-delay-ms", "1500", "--request-timeout-ms", "20000"])
        .env_remove("JOBGRAPH_DATABASE_URL")
        .env_remove("DATABASE_URL")
        .env_remove("JOBGRAPH_JWT_SECRET")
        .env("JOBGRAPH_DATA_DIR", &dir)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the server");
    let base = format!("http://127.0.0.1:{port}");
    // No pooled connections: each call below is a new connection, as a load balancer's is.
    let fresh = || {
        reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap()
    };
    let started = Instant::now();
    while !fresh()
        .get(format!("{base}/readyz"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the server did not come up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let token = stdout(&jobgraph(
        &[
            "token", "--tenant", "acme", "--sub", "alice", "--role", "MEMBER",
        ],
        &dir,
    ));
    let token = token.trim().to_string();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut ws = crate::ws_client::Ws::ready(addr, crate::ws_client::TRANSPORT, &token).await;
    ws.subscribe("1", "subscription { jobEvents { id } }", json!({}))
        .await;

    // Hold SQLite's write lock, so the mutation below waits inside the server.
    let db_url = format!("sqlite:{}", dir.join("jobgraph.db").display());
    let mut holder = sqlx::SqliteConnection::connect(&db_url)
        .await
        .expect("open the database");
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut holder)
        .await
        .expect("take the write lock");
    let in_flight = tokio::spawn({
        let (base, token) = (base.clone(), token.clone());
        async move {
            let response = reqwest::Client::new()
                .post(format!("{base}/graphql"))
                .bearer_auth(token)
                .json(&json!({"query": "mutation { createJob(input: {title: \"in flight\"}) { title } }"}))
                .send()
                .await
                .expect("the request in flight is answered");
            (
                response.status().as_u16(),
                response.json::<Value>().await.expect("JSON"),
            )
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !in_flight.is_finished(),
        "the mutation should wait for the lock"
    );

    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let signalled = Instant::now();
    let mut saw_503 = false;
    while signalled.elapsed() < Duration::from_millis(1200) {
        if let Ok(r) = fresh().get(format!("{base}/readyz")).send().await
            && r.status().as_u16() == 503
        {
            saw_503 = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(saw_503, "/readyz did not answer 503 while draining");
    let reason = ws.closed_with(1001).await;
    assert!(reason.contains("shutting down"), "{reason}");
    // After the drain delay the listener closes, with the request still in flight.
    let mut closed = false;
    while signalled.elapsed() < Duration::from_secs(8) {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(closed, "the listener did not close after the drain delay");
    assert!(
        !in_flight.is_finished(),
        "the mutation should still be waiting"
    );
    assert!(
        child.try_wait().expect("wait").is_none(),
        "it exited with a request in flight"
    );

    sqlx::query("COMMIT")
        .execute(&mut holder)
        .await
        .expect("release the lock");
    let (status, body) = in_flight.await.expect("the request task");
    assert_eq!(status, 200);
    assert_eq!(body, json!({"data": {"createJob": {"title": "in flight"}}}));
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not exit after draining"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "exit status {status}");
    holder.close().await.ok();
    std::fs::remove_dir_all(dir).ok();
}
