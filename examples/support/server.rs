//! The release server as a child process, for the benchmarks that measure it from outside
//! (`bench_events`, `bench_exec`, `bench_usage`): started on a fresh data directory, waited
//! for until `/readyz` answers, killed and cleaned up when dropped.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    data_dir: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::fs::remove_dir_all(&self.data_dir).ok();
    }
}

/// A loopback port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `target/release/jobgraph serve` on `database_url`, signing with `secret`. With
/// `raise_fd_limit` it runs under a shell that first lifts its open-file limit (for thousands
/// of sockets).
pub async fn start(database_url: &str, secret: &str, name: &str, raise_fd_limit: bool) -> Server {
    let exe = std::env::current_exe().expect("own path");
    let binary = exe
        .parent()
        .and_then(|examples| examples.parent())
        .map(|release| release.join("jobgraph"))
        .filter(|p| p.exists())
        .unwrap_or_else(|| panic!("build the server first: cargo build --release"));
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let data_dir =
        std::env::temp_dir().join(format!("jobgraph-{name}-{}", uuid::Uuid::now_v7().simple()));
    let mut command = if raise_fd_limit {
        let mut sh = Command::new("sh");
        sh.arg("-c")
            .arg("ulimit -n 1048576 2>/dev/null || ulimit -n $(ulimit -Hn); exec \"$0\" \"$@\"")
            .arg(&binary);
        sh
    } else {
        Command::new(&binary)
    };
    let mut child = command
        .args([
            "serve",
            "--listen",
            &addr.to_string(),
            "--db-max-connections",
            "16",
        ])
        .env("JOBGRAPH_DATABASE_URL", database_url)
        .env("JOBGRAPH_JWT_SECRET", secret)
        .env("JOBGRAPH_DATA_DIR", &data_dir)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the server");
    let client = reqwest::Client::new();
    for _ in 0..400 {
        if let Ok(r) = client.get(format!("http://{addr}/readyz")).send().await
            && r.status().is_success()
        {
            return Server {
                child,
                addr,
                data_dir,
            };
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the server did not become ready");
}
