//! The `jobgraph` binary: parse the command line, set up logging, then serve (`server`),
//! migrate, mint a token or print the schema.

use clap::Parser;
use jobgraph::config::{Cli, Command, LogFormat, Settings};
use jobgraph::db::Backend;
use jobgraph::{auth, graphql, server};
use std::process::ExitCode;

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
        Command::Serve => server::serve(&cli.settings).await,
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

async fn migrate(settings: &Settings) -> Result<(), String> {
    server::open_database(settings).await?;
    tracing::info!("the database schema is up to date");
    Ok(())
}
