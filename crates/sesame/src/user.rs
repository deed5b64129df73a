//! `sesame user`: web console users. `user create` adds one, an operator (sees every account
//! and picks the one it acts on) or a member (acts on its own account only); `user password`
//! resets a user's password and ends every session of that user. The password is read from
//! stdin or generated; each prints one JSON object on stdout. The password is stored only as
//! an argon2 hash and never logged.

use std::io::Read;

use anyhow::{Context, bail};
use clap::Subcommand;
use serde_json::json;
use sesame_console::auth;
use sesame_store::StoreError;
use sesame_store::console::{ROLE_MEMBER, ROLE_OPERATOR};

use crate::cli::{ConfigArg, load_config, open_store};

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a console user; prints {"Email", "Role", "AppId"} and, when the password was
    /// generated, "Password" (shown this once).
    #[command(after_help = "Examples:\n  \
        sesame user create --app-id 1000001 --email ann@example.com\n  \
        printf '%s' \"$PASSWORD\" | sesame user create --app-id 1000001 --email ops@example.com --operator --password-stdin")]
    Create {
        /// The account the user acts on: a member's only one, an operator's first pick.
        #[arg(long = "app-id")]
        app_id: i64,
        /// The e-mail the user signs in with.
        #[arg(long)]
        email: String,
        /// An operator sees every account (default: a member of --app-id only).
        #[arg(long)]
        operator: bool,
        /// Read the password from stdin (at least 10 characters; one trailing newline is
        /// dropped) instead of generating one.
        #[arg(long = "password-stdin")]
        password_stdin: bool,
    },
    /// Reset a console user's password and sign it out everywhere; prints {"Email", "Role",
    /// "AppId", "SessionsEnded"} and, when the password was generated, "Password" (shown this
    /// once).
    #[command(after_help = "Examples:\n  \
        sesame user password --email ann@example.com\n  \
        printf '%s' \"$PASSWORD\" | sesame user password --email ann@example.com --password-stdin")]
    Password {
        /// The e-mail the user signs in with.
        #[arg(long)]
        email: String,
        /// Read the new password from stdin (at least 10 characters; one trailing newline is
        /// dropped) instead of generating one.
        #[arg(long = "password-stdin")]
        password_stdin: bool,
    },
}

/// Runs `command` on the storage of the config `config` names.
pub async fn main(command: UserCommand, config: &ConfigArg) -> anyhow::Result<()> {
    match command {
        UserCommand::Create {
            app_id,
            email,
            operator,
            password_stdin,
        } => create(app_id, &email, operator, password_stdin, config).await,
        UserCommand::Password {
            email,
            password_stdin,
        } => reset_password(&email, password_stdin, config).await,
    }
}

/// The checked, lower-case `--email`.
fn checked_email(email: &str) -> anyhow::Result<String> {
    let email = email.trim().to_ascii_lowercase();
    if email.len() > 254 || sesame_core::EmailAddress::parse(&email).is_none() {
        bail!("--email {email:?} is not an e-mail address");
    }
    Ok(email)
}

/// The password (read from stdin, or generated), whether it was generated, and its argon2
/// hash.
async fn new_password(password_stdin: bool) -> anyhow::Result<(String, bool, String)> {
    let (password, generated) = if password_stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the password from stdin")?;
        let text = text
            .strip_suffix('\n')
            .map(|t| t.strip_suffix('\r').unwrap_or(t))
            .unwrap_or(&text)
            .to_string();
        if text.chars().count() < auth::MIN_PASSWORD_CHARS {
            bail!(
                "the password must have at least {} characters",
                auth::MIN_PASSWORD_CHARS
            );
        }
        // The sign-in form takes no longer one.
        if text.len() > 1024 {
            bail!("the password must have at most 1024 bytes");
        }
        (text, false)
    } else {
        (auth::generate_password(), true)
    };
    let (hash, password) = tokio::task::spawn_blocking(move || {
        sesame_engine::credentials::hash_password(&password).map(|h| (h, password))
    })
    .await
    .context("hashing the password")?
    .map_err(anyhow::Error::msg)?;
    Ok((password, generated, hash))
}

async fn create(
    app_id: i64,
    email: &str,
    operator: bool,
    password_stdin: bool,
    config: &ConfigArg,
) -> anyhow::Result<()> {
    let email = checked_email(email)?;
    let (password, generated, hash) = new_password(password_stdin).await?;
    let config = load_config(config)?;
    let store = open_store(&config).await?;
    let result = async {
        if store.account(app_id).await?.is_none() {
            bail!("no account with AppId {app_id} (create one with `sesame account create`)");
        }
        let role = if operator { ROLE_OPERATOR } else { ROLE_MEMBER };
        match store
            .create_console_user(&email, &hash, role, app_id, sesame_core::time::now_unix())
            .await
        {
            Ok(_) => {}
            Err(StoreError::Conflict) => bail!("a console user {email} exists already"),
            Err(e) => return Err(e).context("creating the user"),
        }
        print_answer(
            json!({"Email": email, "Role": role, "AppId": app_id}),
            generated.then_some(&password),
        );
        Ok(())
    }
    .await;
    store.close().await;
    result
}

/// `sesame user password`: a new password for the user, every session of it ended (a stolen
/// cookie stops working too).
async fn reset_password(
    email: &str,
    password_stdin: bool,
    config: &ConfigArg,
) -> anyhow::Result<()> {
    let email = checked_email(email)?;
    let config = load_config(config)?;
    let store = open_store(&config).await?;
    let result = async {
        // Looked up before reading or generating anything: a typo fails at once.
        let Some(user) = store.console_user(&email).await? else {
            bail!("there is no console user {email} (create one with `sesame user create`)");
        };
        let (password, generated, hash) = new_password(password_stdin).await?;
        let Some(ended) = store.set_console_password(user.id, &hash, None).await? else {
            bail!("the console user {email} was deleted meanwhile");
        };
        tracing::info!(user = %user.email, sessions_ended = ended, "console user's password reset");
        print_answer(
            json!({
                "Email": user.email,
                "Role": user.role,
                "AppId": user.account_id,
                "SessionsEnded": ended,
            }),
            generated.then_some(&password),
        );
        Ok(())
    }
    .await;
    store.close().await;
    result
}

/// Prints a command's answer, with the password when Sesame generated it (shown only here).
fn print_answer(mut out: serde_json::Value, generated_password: Option<&String>) {
    if let Some(password) = generated_password {
        out["Password"] = json!(password);
    }
    println!("{out}");
}
