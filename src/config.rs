//! Command line and environment (DESIGN.md §11). A flag beats its variable; a bad value stops
//! the start with a message naming the setting.
//!
//! May import: clap, auth (for the secret), db (to tell backends apart).

use crate::auth::token::MIN_SECRET_BYTES;
use crate::db::Backend;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Parser)]
#[command(
    name = "jobgraph",
    version,
    about = "A GraphQL server for the jobs and tasks of an agent platform"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub settings: Settings,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Bring the database schema up to date, then exit.
    Migrate,
    /// Print a signed token for an actor.
    Token(TokenArgs),
    /// Print the GraphQL schema (SDL).
    Schema,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The tenant the actor acts in.
    #[arg(long)]
    pub tenant: String,
    /// The actor's id (the `sub` claim).
    #[arg(long)]
    pub sub: String,
    /// A role: ADMIN, MEMBER, AGENT or VIEWER (repeat for several).
    #[arg(long = "role", required = true, value_parser = parse_role)]
    pub roles: Vec<crate::auth::Role>,
    /// How long the token lives.
    #[arg(long, default_value_t = 86_400, value_parser = clap::value_parser!(i64).range(1..=31_536_000))]
    pub ttl_seconds: i64,
}

fn parse_role(s: &str) -> Result<crate::auth::Role, String> {
    crate::auth::Role::parse(&s.to_ascii_uppercase())
        .ok_or_else(|| format!("`{s}` is not a role (ADMIN, MEMBER, AGENT or VIEWER)"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// The settings every command shares.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Address to listen on.
    #[arg(
        long,
        env = "JOBGRAPH_LISTEN",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub listen: SocketAddr,
    /// sqlite:PATH or postgres://… (also read from DATABASE_URL). Default: <data-dir>/jobgraph.db.
    #[arg(long, env = "JOBGRAPH_DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// Directory for runtime state (the SQLite file, the development JWT secret).
    #[arg(
        long,
        env = "JOBGRAPH_DATA_DIR",
        default_value = "./data",
        global = true
    )]
    pub data_dir: PathBuf,
    /// HS256 secret for bearer tokens. Default: generated once into <data-dir>/jwt-secret (SQLite only).
    #[arg(
        long,
        env = "JOBGRAPH_JWT_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub jwt_secret: Option<String>,
    /// A file holding the HS256 secret (mode 0600 or stricter: refused when group or others may read it).
    #[arg(long, env = "JOBGRAPH_JWT_SECRET_FILE", global = true)]
    pub jwt_secret_file: Option<PathBuf>,
    /// Largest JSON value an input may carry, in bytes.
    #[arg(long, env = "JOBGRAPH_MAX_JSON_BYTES", default_value_t = 1_048_576, value_parser = clap::value_parser!(u64).range(1024..=67_108_864), global = true)]
    pub max_json_bytes: u64,
    /// Largest request body, in bytes.
    #[arg(long, env = "JOBGRAPH_MAX_BODY_BYTES", default_value_t = 2_097_152, value_parser = clap::value_parser!(u64).range(1024..=268_435_456), global = true)]
    pub max_body_bytes: u64,
    /// Deepest query accepted (GraphiQL's introspection needs 16).
    #[arg(long, env = "JOBGRAPH_MAX_QUERY_DEPTH", default_value_t = 16, value_parser = clap::value_parser!(u64).range(2..=1000), global = true)]
    pub max_query_depth: u64,
    /// Most complex query accepted.
    #[arg(long, env = "JOBGRAPH_MAX_QUERY_COMPLEXITY", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(10..=10_000_000), global = true)]
    pub max_query_complexity: u64,
    /// Deadline of one request, in milliseconds.
    #[arg(long, env = "JOBGRAPH_REQUEST_TIMEOUT_MS", default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..=3_600_000), global = true)]
    pub request_timeout_ms: u64,
    /// Bytes the automatic persisted-query cache may hold (least recently used out first).
    #[arg(long, env = "JOBGRAPH_PERSISTED_QUERY_CACHE_BYTES", default_value_t = 16_777_216, value_parser = clap::value_parser!(u64).range(0..=1_073_741_824), global = true)]
    pub persisted_query_cache_bytes: u64,
    /// Size of the database connection pool.
    #[arg(long, env = "JOBGRAPH_DB_MAX_CONNECTIONS", default_value_t = 8, value_parser = clap::value_parser!(u32).range(2..=1000), global = true)]
    pub db_max_connections: u32,
    /// How often the background loops tick, in milliseconds.
    #[arg(long, env = "JOBGRAPH_SWEEP_INTERVAL_MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..=3_600_000), global = true)]
    pub sweep_interval_ms: u64,
    /// How long a graceful cancel waits for the worker before the job is CANCELLED, in seconds.
    #[arg(long, env = "JOBGRAPH_CANCEL_GRACE_SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(0..=604_800), global = true)]
    pub cancel_grace_seconds: u64,
    /// How long events are kept, in seconds; 0 keeps them all.
    #[arg(long, env = "JOBGRAPH_EVENT_RETENTION_SECONDS", default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=3_153_600_000), global = true)]
    pub event_retention_seconds: u64,
    /// Events a subscriber may fall behind before it is caught up from the table.
    #[arg(long, env = "JOBGRAPH_SUBSCRIBER_BUFFER", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(16..=1_000_000), global = true)]
    pub subscriber_buffer: u64,
    /// How long one websocket write may take before the socket is closed, in milliseconds.
    #[arg(long, env = "JOBGRAPH_SUBSCRIBER_WRITE_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(100..=600_000), global = true)]
    pub subscriber_write_timeout_ms: u64,
    /// Operations one websocket may run at once.
    #[arg(long, env = "JOBGRAPH_MAX_SUBSCRIPTIONS_PER_SOCKET", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=10_000), global = true)]
    pub max_subscriptions_per_socket: u64,
    /// After SIGTERM, how long `/readyz` answers 503 while requests are still served, before
    /// the listener closes, in milliseconds (give a load balancer time to notice).
    #[arg(long, env = "JOBGRAPH_DRAIN_DELAY_MS", default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=600_000), global = true)]
    pub drain_delay_ms: u64,
    /// Log lines as text or JSON.
    #[arg(long, env = "JOBGRAPH_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// Origins browsers may call the API from (comma-separated, e.g.
    /// `https://app.example.com,http://localhost:3000`); none: CORS is off.
    #[arg(long, env = "JOBGRAPH_CORS_ORIGINS", value_delimiter = ',', value_parser = cors_origin, global = true)]
    pub cors_origins: Vec<String>,
}

/// One `--cors-origins` entry: `scheme://host[:port]`, http or https, nothing after it.
fn cors_origin(value: &str) -> Result<String, String> {
    let v = value.trim();
    let rest = v
        .strip_prefix("https://")
        .or_else(|| v.strip_prefix("http://"))
        .ok_or_else(|| format!("`{v}` is not an origin: it must start with http:// or https://"))?;
    if rest.is_empty() || rest.contains(['/', '?', '#', ' ', '*']) {
        return Err(format!(
            "`{v}` is not an origin: scheme://host[:port], with no path, query or wildcard"
        ));
    }
    Ok(v.to_string())
}

impl Settings {
    /// What the background loops run with.
    pub fn loop_settings(&self) -> crate::loops::LoopSettings {
        crate::loops::LoopSettings {
            sweep_interval: std::time::Duration::from_millis(self.sweep_interval_ms),
            event_retention: (self.event_retention_seconds > 0)
                .then(|| std::time::Duration::from_secs(self.event_retention_seconds)),
            cancel_grace: std::time::Duration::from_secs(self.cancel_grace_seconds),
        }
    }

    /// The database URL: the flag or `JOBGRAPH_DATABASE_URL`, else `DATABASE_URL`, else the
    /// SQLite file in the data directory.
    pub fn database_url(&self) -> Result<String, String> {
        let url = self
            .database_url
            .clone()
            .or_else(|| std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()))
            .unwrap_or_else(|| {
                format!(
                    "sqlite:{}?mode=rwc",
                    self.data_dir.join("jobgraph.db").display()
                )
            });
        if Backend::of_url(&url).is_none() {
            return Err(format!(
                "--database-url: `{}` is neither sqlite:PATH nor postgres://…",
                crate::db::redact(&url)
            ));
        }
        Ok(url)
    }

    /// The JWT secret: given, read from `--jwt-secret-file`, or (SQLite only) the one generated
    /// into the data directory. Shorter than 32 bytes fails start.
    pub fn jwt_secret(&self, backend: Backend) -> Result<Vec<u8>, String> {
        match (&self.jwt_secret, &self.jwt_secret_file) {
            (Some(_), Some(_)) => {
                Err("give --jwt-secret or --jwt-secret-file, not both".into())
            }
            (Some(secret), None) => long_enough("--jwt-secret", secret.as_bytes()),
            (None, Some(path)) => secret_file(path),
            (None, None) if backend == Backend::Postgres => Err(
                "--jwt-secret or --jwt-secret-file (or JOBGRAPH_JWT_SECRET[_FILE]) is required with PostgreSQL, so that every replica signs alike".into(),
            ),
            (None, None) => dev_secret(&self.data_dir),
        }
    }
}

/// `secret` if it is at least [`MIN_SECRET_BYTES`] long.
fn long_enough(setting: &str, secret: &[u8]) -> Result<Vec<u8>, String> {
    if secret.len() < MIN_SECRET_BYTES {
        return Err(format!(
            "{setting}: the secret is {} bytes; HS256 needs at least {MIN_SECRET_BYTES} (e.g. `openssl rand -hex 32`)",
            secret.len()
        ));
    }
    Ok(secret.to_vec())
}

/// The secret in `path` (surrounding whitespace and the final newline removed), refused when
/// group or others may read the file.
fn secret_file(path: &Path) -> Result<Vec<u8>, String> {
    let setting = format!("--jwt-secret-file {}", path.display());
    let metadata = std::fs::metadata(path).map_err(|e| format!("{setting}: {e}"))?;
    if !metadata.is_file() {
        return Err(format!("{setting}: not a regular file"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(format!(
                "{setting}: mode {mode:04o} lets group or others read the secret; `chmod 600` it"
            ));
        }
    }
    let text = std::fs::read(path).map_err(|e| format!("{setting}: {e}"))?;
    long_enough(&setting, text.trim_ascii())
}

/// Reads `<data-dir>/jwt-secret`, creating it (mode 0600) on first use.
fn dev_secret(data_dir: &Path) -> Result<Vec<u8>, String> {
    use std::io::Write;
    let path = data_dir.join("jwt-secret");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let secret = existing.trim();
        if secret.len() >= MIN_SECRET_BYTES {
            return Ok(secret.as_bytes().to_vec());
        }
        return Err(format!(
            "{}: the secret is too short; delete the file to generate a new one",
            path.display()
        ));
    }
    std::fs::create_dir_all(data_dir)
        .map_err(|e| format!("--data-dir {}: {e}", data_dir.display()))?;
    let bytes: [u8; 32] = rand::random();
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(&path) {
        Ok(mut file) => {
            file.write_all(secret.as_bytes())
                .map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(secret.into_bytes())
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => dev_secret(data_dir),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cors_origins_are_origins() {
        assert_eq!(
            cors_origin(" https://app.example.com ").unwrap(),
            "https://app.example.com"
        );
        assert_eq!(
            cors_origin("http://localhost:3000").unwrap(),
            "http://localhost:3000"
        );
        for bad in [
            "app.example.com",
            "https://",
            "https://a.example/path",
            "*",
            "https://*.example",
            "ftp://x",
        ] {
            assert!(cors_origin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dev_secret_is_created_once_with_mode_0600() {
        let dir = std::env::temp_dir().join(format!("jobgraph-secret-{}", uuid::Uuid::now_v7()));
        let first = dev_secret(&dir).unwrap();
        assert_eq!(first.len(), 64);
        assert_eq!(dev_secret(&dir).unwrap(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("jwt-secret"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn secrets_are_long_enough_and_files_private() {
        let settings = |args: &[&str]| {
            let mut all = vec!["jobgraph"];
            all.extend_from_slice(args);
            Cli::try_parse_from(all).unwrap().settings
        };
        let short = settings(&["--jwt-secret", "sixteen-chars-xx"])
            .jwt_secret(Backend::Sqlite)
            .unwrap_err();
        assert!(
            short.contains("--jwt-secret") && short.contains("32"),
            "{short}"
        );
        let ok = "0123456789abcdef0123456789abcdef";
        assert_eq!(
            settings(&["--jwt-secret", ok])
                .jwt_secret(Backend::Postgres)
                .unwrap(),
            ok.as_bytes()
        );
        let missing = settings(&[]).jwt_secret(Backend::Postgres).unwrap_err();
        assert!(missing.contains("--jwt-secret-file"), "{missing}");

        let dir = std::env::temp_dir().join(format!("jobgraph-secret-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("secret");
        std::fs::write(&file, format!("{ok}\n")).unwrap();
        let path = file.to_str().unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
            let open = settings(&["--jwt-secret-file", path])
                .jwt_secret(Backend::Sqlite)
                .unwrap_err();
            assert!(
                open.contains("0644") && open.contains("chmod 600"),
                "{open}"
            );
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        assert_eq!(
            settings(&["--jwt-secret-file", path])
                .jwt_secret(Backend::Postgres)
                .unwrap(),
            ok.as_bytes(),
            "the final newline is not part of the secret"
        );
        let both = settings(&["--jwt-secret", ok, "--jwt-secret-file", path])
            .jwt_secret(Backend::Sqlite)
            .unwrap_err();
        assert!(both.contains("not both"), "{both}");
        std::fs::write(&file, "short\n").unwrap();
        let short = settings(&["--jwt-secret-file", path])
            .jwt_secret(Backend::Sqlite)
            .unwrap_err();
        assert!(short.contains("5 bytes"), "{short}");
        let absent = settings(&["--jwt-secret-file", "/nonexistent/secret"])
            .jwt_secret(Backend::Sqlite)
            .unwrap_err();
        assert!(absent.contains("/nonexistent/secret"), "{absent}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn flags_parse_and_bad_values_name_the_setting() {
        let cli = Cli::try_parse_from(["jobgraph", "--listen", "127.0.0.1:9000", "serve"]).unwrap();
        assert_eq!(cli.settings.listen.port(), 9000);
        let err = Cli::try_parse_from(["jobgraph", "--max-query-depth", "0"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--max-query-depth"), "{err}");
        let loops = Cli::try_parse_from(["jobgraph", "--event-retention-seconds", "3600"])
            .unwrap()
            .settings
            .loop_settings();
        assert_eq!(
            loops.event_retention,
            Some(std::time::Duration::from_secs(3600))
        );
        assert_eq!(loops.sweep_interval, std::time::Duration::from_secs(1));
        let keep = Cli::try_parse_from(["jobgraph"])
            .unwrap()
            .settings
            .loop_settings();
        assert_eq!(keep.event_retention, None);
        let err = Cli::try_parse_from(["jobgraph", "--sweep-interval-ms", "0"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--sweep-interval-ms"), "{err}");
        let token = Cli::try_parse_from([
            "jobgraph", "token", "--tenant", "t", "--sub", "s", "--role", "agent", "--role",
            "VIEWER",
        ])
        .unwrap();
        match token.command {
            Some(Command::Token(args)) => assert_eq!(args.roles.len(), 2),
            other => panic!("{other:?}"),
        }
    }
}
