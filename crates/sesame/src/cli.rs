//! Command-line parsing and the small operator commands (account, template review). Each
//! command loads the config, opens the store, does one thing and prints its result.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use sesame_core::Config;
use sesame_store::accounts::AccountChanges;
use sesame_store::templates::status;
use sesame_store::{ServerKey, Store};

#[derive(Parser)]
#[command(
    name = "sesame",
    version,
    about = "Self-hosted Simple Email Service speaking the Tencent Cloud SES API",
    long_about = "Self-hosted Simple Email Service speaking the Tencent Cloud SES API (ses 2020-10-02) and \
SMTP. `sesame serve` runs the server; the other commands are the operator's, run on the same \
storage while it runs or not.",
    after_help = "Examples:
  sesame serve --config /etc/sesame/sesame.toml
  sesame account create --name acme --config /etc/sesame/sesame.toml

Every command takes --config FILE (or SESAME_CONFIG); without one it uses the embedded defaults \
(SQLite under ./data/). Keys: docs/configuration.md. User guide: docs/README.md."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
pub struct ConfigArg {
    /// The TOML config file (default: none, the embedded defaults).
    #[arg(long, env = "SESAME_CONFIG", global = true)]
    pub config: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run every part: the API, SMTP listeners, the queue and the schedulers.
    ///
    /// Prints `sesame ready` on stderr once every listener is bound; SIGTERM or SIGINT stops it
    /// cleanly. Logs go to stderr (filter with SESAME_LOG, e.g. `debug`).
    #[command(after_help = "Example:
  sesame serve --config /etc/sesame/sesame.toml

Quick start: docs/quickstart.md. Configuration keys: docs/configuration.md.")]
    Serve {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Manage accounts (tenants): create one with its API key, change its settings.
    #[command(after_help = "Examples:
  sesame account create --name acme
  sesame account update --app-id 1000001 --daily-quota 10000 --custom-content true")]
    Account {
        #[command(subcommand)]
        command: AccountCommand,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Operator settings of sender domains (the reputation level and so the daily cap).
    #[command(after_help = "Example:
  sesame domain update --domain mail.example.com --reputation-level 5

Levels and caps: docs/limits.md.")]
    Domain {
        #[command(subcommand)]
        command: DomainCommand,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Run the inbound bounce and complaint parser on stored messages (no storage, no server):
    /// one JSON object per file with its kind and recipients.
    #[command(after_help = "Example:
  sesame bounce parse bounce.eml complaint.eml")]
    Bounce {
        #[command(subcommand)]
        command: BounceCommand,
        /// Accepted like every command's, and unused: parsing reads no config.
        #[command(flatten)]
        _config: ConfigArg,
    },
    /// Review templates of accounts that have template review on.
    #[command(after_help = "Examples:
  sesame template approve 12
  sesame template reject 13 --reason \"links to a URL shortener\"")]
    Template {
        #[command(subcommand)]
        command: TemplateCommand,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Dedicated sending IPs: pools of source addresses for an account or a sender domain.
    #[command(after_help = "Examples:
  sesame ip add --app-id 1000001 --ip 192.0.2.10
  sesame ip add --app-id 1000001 --ip 192.0.2.11 --domain mail.example.com
  sesame ip list --app-id 1000001

More: docs/operations-ips.md.")]
    Ip {
        #[command(subcommand)]
        command: crate::ip::IpCommand,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Web console users: an operator (sees every account) or a member (one account).
    #[command(after_help = "Examples:
  sesame user create --app-id 1000001 --email ann@example.com
  sesame user password --email ann@example.com

Prints the generated password once; --password-stdin reads one instead. More: docs/console.md.")]
    User {
        #[command(subcommand)]
        command: crate::user::UserCommand,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Operator actions on batch tasks: stop a cyclic task's cycles.
    #[command(after_help = "Example:
  sesame task stop --app-id 1000001 --task-id 42")]
    Task {
        #[command(subcommand)]
        command: crate::task::TaskCommand,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Take a consistent copy of the SQLite store while the server runs (PostgreSQL: pg_dump).
    ///
    /// Writes FILE (a SQLite database) and FILE.key (the server key, without which the stored
    /// API keys and DKIM keys cannot be read; keep it as safe as the store). Prints
    /// {"backup", "key", "bytes"}.
    #[command(after_help = "Example:
  sesame backup --to /var/backups/sesame-$(date +%F).db

More: docs/operations.md.")]
    Backup {
        /// The file to write; it must not exist.
        #[arg(long)]
        to: PathBuf,
        /// Leave the server key out of the backup (FILE.key is not written).
        #[arg(long)]
        without_key: bool,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Replace the SQLite store with a backup; the server must be stopped.
    ///
    /// Checks the backup, upgrades its schema to this binary's, keeps the current store as
    /// <db>.before-restore and, when FILE.key exists, installs that key. Prints
    /// {"restored", "from", "previous"}.
    #[command(after_help = "Example:
  sesame restore --from /var/backups/sesame-2026-11-26.db

Stop the server first (systemctl stop sesame), start it after. More: docs/operations.md.")]
    Restore {
        /// The backup file written by `sesame backup`.
        #[arg(long)]
        from: PathBuf,
        #[command(flatten)]
        config: ConfigArg,
    },
}

#[derive(Subcommand)]
enum AccountCommand {
    /// Create an account with its first API key; prints {"AppId", "SecretId", "SecretKey"}.
    #[command(after_help = "Example:
  sesame account create --name acme --config /etc/sesame/sesame.toml")]
    Create {
        /// A name for the account: 1-100 printable characters.
        #[arg(long)]
        name: String,
    },
    /// Change an account's settings; prints the account's settings after the change.
    #[command(after_help = "Examples:
  sesame account update --app-id 1000001 --daily-quota 50000
  sesame account update --app-id 1000001 --template-review true --tracking false")]
    Update {
        /// The account's AppId, as `account create` printed it.
        #[arg(long = "app-id")]
        app_id: i64,
        /// Daily sending cap of the account, applied besides each domain's reputation cap.
        #[arg(long = "daily-quota")]
        daily_quota: Option<i64>,
        /// Whether new and updated templates wait for an operator's review.
        #[arg(long = "template-review", value_parser = clap::builder::BoolishValueParser::new())]
        template_review: Option<bool>,
        /// Whether the account may send Simple (non-template) content.
        #[arg(long = "custom-content", value_parser = clap::builder::BoolishValueParser::new())]
        custom_content: Option<bool>,
        /// Whether HTML mail gets the open pixel and tracked links (on by default).
        #[arg(long = "tracking", value_parser = clap::builder::BoolishValueParser::new())]
        tracking: Option<bool>,
    },
}

#[derive(Subcommand)]
enum DomainCommand {
    /// Set a sender domain's reputation level (1-20), e.g. for a sender moving from another
    /// service with an established volume. Its daily cap follows the level.
    #[command(after_help = "Example:
  sesame domain update --domain mail.example.com --reputation-level 5")]
    Update {
        /// The domain, as registered.
        #[arg(long)]
        domain: String,
        /// The new level, 1 (500 a day) to 20 (1 000 000 a day).
        #[arg(long = "reputation-level", value_parser = clap::value_parser!(i64).range(1..=20))]
        reputation_level: i64,
    },
}

#[derive(Subcommand)]
enum BounceCommand {
    /// Parse each FILE (a whole message, as received) and print what the inbound listener
    /// would record: {"file", "kind", "recipients": [{"address", "status", "kind", "diagnostic"}]}.
    #[command(after_help = "Example:
  sesame bounce parse /var/mail/bounces/*.eml")]
    Parse {
        /// Messages as received (RFC 5322 files, e.g. .eml).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
enum TemplateCommand {
    /// Approve a template (status 0): the account can send it.
    #[command(after_help = "Example:
  sesame template approve 12")]
    Approve {
        /// The TemplateID.
        id: i64,
    },
    /// Reject a template (status 2) with a reason the account sees.
    #[command(after_help = "Example:
  sesame template reject 13 --reason \"links to a URL shortener\"")]
    Reject {
        /// The TemplateID.
        id: i64,
        /// Why, in words the account's users understand (1-500 characters).
        #[arg(long)]
        reason: String,
    },
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { config } => crate::serve::run(load_config(&config)?).await,
        Command::Account { command, config } => {
            let config = load_config(&config)?;
            let store = open_store(&config).await?;
            let result = account(&store, command).await;
            store.close().await;
            result
        }
        Command::Domain { command, config } => {
            let config = load_config(&config)?;
            let store = open_store(&config).await?;
            let result = domain(&store, command).await;
            store.close().await;
            result
        }
        Command::Bounce {
            command: BounceCommand::Parse { files },
            ..
        } => bounce_parse(&files),
        Command::Ip { command, config } => crate::ip::main(command, &config).await,
        Command::Task { command, config } => crate::task::main(command, &config).await,
        Command::User { command, config } => crate::user::main(command, &config).await,
        Command::Backup {
            to,
            without_key,
            config,
        } => crate::backup::backup(&*load_config(&config)?, &to, !without_key).await,
        Command::Restore { from, config } => {
            crate::backup::restore(&*load_config(&config)?, &from).await
        }
        Command::Template { command, config } => {
            let config = load_config(&config)?;
            let store = open_store(&config).await?;
            let result = template(&store, command).await;
            store.close().await;
            result
        }
    }
}

/// `sesame bounce parse`: one JSON line per file; an unreadable file is reported on stderr
/// and makes the command exit non-zero after the others are printed.
fn bounce_parse(files: &[PathBuf]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let mut failed = 0;
    for file in files {
        let raw = match std::fs::read(file) {
            Ok(raw) => raw,
            Err(e) => {
                eprintln!("{}: {e}", file.display());
                failed += 1;
                continue;
            }
        };
        let report = sesame_bounce::parse(&raw);
        let line = serde_json::json!({
            "file": file.display().to_string(),
            "kind": report.kind,
            "recipients": report.recipients.iter().map(|r| serde_json::json!({
                "address": r.address,
                "status": r.status,
                "kind": r.kind,
                "diagnostic": r.diagnostic,
            })).collect::<Vec<_>>(),
        });
        writeln!(out, "{line}")?;
    }
    if failed > 0 {
        bail!("{failed} file(s) could not be read");
    }
    Ok(())
}

/// The config named by `--config` / `SESAME_CONFIG`, or the defaults.
pub fn load_config(arg: &ConfigArg) -> anyhow::Result<Arc<Config>> {
    let config = match &arg.config {
        Some(path) => {
            Config::load(path).map_err(|e| anyhow::anyhow!("{e}; see docs/configuration.md"))?
        }
        None => Config::default(),
    };
    Ok(Arc::new(config))
}

/// Opens the store (creating the server key file at first use).
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let key =
        ServerKey::load_or_create(&config.storage.key_file).context("loading the server key")?;
    Store::open_with(&config.storage.url, key, config.storage.sqlite_synchronous)
        .await
        .with_context(|| {
            format!(
                "opening the {} store",
                config.storage.url.split(':').next().unwrap_or("")
            )
        })
}

async fn account(store: &Store, command: AccountCommand) -> anyhow::Result<()> {
    let now = sesame_core::time::now_unix();
    match command {
        AccountCommand::Create { name } => {
            let name = name.trim();
            if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
                bail!("--name must be 1-100 printable characters");
            }
            let key = store
                .create_account(name, now)
                .await
                .context("creating the account")?;
            let out = serde_json::json!({
                "AppId": key.account_id,
                "SecretId": key.secret_id,
                "SecretKey": key.secret_key,
            });
            println!("{out}");
            Ok(())
        }
        AccountCommand::Update {
            app_id,
            daily_quota,
            template_review,
            custom_content,
            tracking,
        } => {
            if let Some(quota) = daily_quota
                && quota < 0
            {
                bail!("--daily-quota must not be negative");
            }
            let changes = AccountChanges {
                daily_quota: daily_quota.map(Some),
                template_review,
                custom_content,
                tracking,
            };
            let Some(account) = store.update_account(app_id, &changes).await? else {
                bail!("there is no account with AppId {app_id}");
            };
            let out = serde_json::json!({
                "AppId": account.id,
                "Name": account.name,
                "DailyQuota": account.daily_quota,
                "TemplateReview": account.template_review,
                "CustomContent": account.custom_content,
                "Tracking": account.tracking,
            });
            println!("{out}");
            Ok(())
        }
    }
}

async fn domain(store: &Store, command: DomainCommand) -> anyhow::Result<()> {
    match command {
        DomainCommand::Update {
            domain,
            reputation_level,
        } => {
            let name = sesame_core::DomainName::parse(&domain)
                .ok_or_else(|| anyhow::anyhow!("{domain:?} is not a domain name"))?;
            let Some(row) = store.domain_by_name(name.as_str()).await? else {
                bail!("there is no sender domain {name}");
            };
            store.set_reputation_level(row.id, reputation_level).await?;
            let out = serde_json::json!({
                "EmailIdentity": row.name,
                "AppId": row.account_id,
                "CurrentReputationLevel": reputation_level,
                "DailyQuota": sesame_core::reputation::daily_quota(reputation_level as u32),
            });
            println!("{out}");
            Ok(())
        }
    }
}

async fn template(store: &Store, command: TemplateCommand) -> anyhow::Result<()> {
    let (id, new_status, reason) = match command {
        TemplateCommand::Approve { id } => (id, status::APPROVED, String::new()),
        TemplateCommand::Reject { id, reason } => {
            let reason = reason.trim().to_string();
            if reason.is_empty() || reason.chars().count() > 500 {
                bail!("--reason must be 1-500 characters");
            }
            (id, status::REJECTED, reason)
        }
    };
    let Some(template) = store.review_template(id, new_status, &reason).await? else {
        bail!("there is no template {id}");
    };
    let out = serde_json::json!({
        "TemplateID": template.id,
        "AppId": template.account_id,
        "TemplateStatus": template.status,
        "ReviewReason": template.review_reason,
    });
    println!("{out}");
    Ok(())
}
