//! The `jobgraph` binary: parse the command line, set up logging, then serve, migrate, mint a
//! token or print the schema.

use clap::Parser;
use jobgraph::config::{Cli, Command, LogFormat, Settings};
use jobgraph::db::{self, Backend};
use jobgraph::{AppConfig, auth, graphql, http, services};
use std::process::ExitCode;
use std::time::Duration;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.settings.log_format);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Schema => {
            print!("{}", graphql::sdl());
            Ok(())
        }
        Command::Token(args) => token(&cli.settings, args),
        Command::Migrate => migrate(&cli.settings).await,
        Command::Serve => serve(&cli.settings).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("jobgraph: {message}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn token(settings: &Settings, args: jobgraph::config::TokenArgs) -> Result<(), String> {
    let url = settings.database_url()?;
    let backend = Backend::of_url(&url).unwrap_or(Backend::Sqlite);
    let keys = auth::TokenKeys::new(&settings.jwt_secret(backend)?);
    let actor = auth::Actor::new(args.sub, args.tenant, args.roles);
    let token = keys
        .mint(&actor, args.ttl_seconds)
        .map_err(|e| e.to_string())?;
    println!("{token}");
    Ok(())
}

async fn open(settings: &Settings) -> Result<sea_orm::DatabaseConnection, String> {
    let url = settings.database_url()?;
    if Backend::of_url(&url) == Some(Backend::Sqlite) {
        std::fs::create_dir_all(&settings.data_dir)
            .map_err(|e| format!("--data-dir {}: {e}", settings.data_dir.display()))?;
    }
    let timeouts = db::Timeouts::below(Duration::from_millis(settings.request_timeout_ms));
    let db = db::connect_with(&url, settings.db_max_connections, timeouts)
        .await
        .map_err(|e| format!("--database-url {}: {e}", db::redact(&url)))?;
    db::migrate(&db)
        .await
        .map_err(|e| format!("migrations failed: {e}"))?;
    Ok(db)
}

async fn migrate(settings: &Settings) -> Result<(), String> {
    open(settings).await?;
    tracing::info!("the database schema is up to date");
    Ok(())
}

async fn serve(settings: &Settings) -> Result<(), String> {
    let url = settings.database_url()?;
    let backend = Backend::of_url(&url).unwrap_or(Backend::Sqlite);
    let jwt_secret = settings.jwt_secret(backend)?;
    let db = open(settings).await?;
    let config = AppConfig {
        limits: services::Limits {
            max_json_bytes: settings.max_json_bytes as usize,
        },
        schema_limits: graphql::SchemaLimits {
            max_depth: settings.max_query_depth as usize,
            max_complexity: settings.max_query_complexity as usize,
        },
        http_limits: http::HttpLimits {
            max_body_bytes: settings.max_body_bytes as usize,
            request_timeout: Duration::from_millis(settings.request_timeout_ms),
            persisted_query_bytes: settings.persisted_query_cache_bytes as usize,
        },
        jwt_secret,
        clock: jobgraph::domain::time::Clock::system(),
        ws_limits: http::ws::WsLimits {
            max_subscriptions: settings.max_subscriptions_per_socket as usize,
            write_timeout: Duration::from_millis(settings.subscriber_write_timeout_ms),
            init_timeout: Duration::from_secs(10),
            max_message_bytes: settings.max_body_bytes as usize,
        },
        subscriber_buffer: settings.subscriber_buffer as usize,
        cors_origins: settings.cors_origins.clone(),
    };
    let state = jobgraph::app_state(db, &config);
    let loops = jobgraph::loops::spawn(state.services.clone(), settings.loop_settings());
    let shutdown = state.shutdown.clone();
    let app = jobgraph::app(state);
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|e| format!("--listen {}: {e}", settings.listen))?;
    tracing::info!(address = %settings.listen, database = %db::redact(&url), "jobgraph is listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            // Websockets are upgraded connections axum does not wait for: tell them to close
            // (1001) while the requests in flight finish.
            shutdown.cancel();
        })
        .await
        .map_err(|e| format!("server error: {e}"))?;
    for handle in loops {
        handle.abort();
    }
    tracing::info!("stopped");
    Ok(())
}

/// SIGINT or SIGTERM: stop accepting, let requests in flight finish.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
