//! `sesame user`: web console users. `user create` adds one, an operator (sees every account
//! and picks the one it acts on) or a member (acts on its own account only), with the password
//! read from stdin or generated; it prints one JSON object on stdout. The password is stored
//! only as an argon2 hash and never logged.

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
}

/// Runs `command` on the storage of the config `config` names.
pub async fn main(command: UserCommand, config: &ConfigArg) -> anyhow::Result<()> {
    let UserCommand::Create {
        app_id,
        email,
        operator,
        password_stdin,
    } = command;
    let email = email.trim().to_ascii_lowercase();
    if email.len() > 254 || sesame_core::EmailAddress::parse(&email).is_none() {
        bail!("--email {email:?} is not an e-mail address");
    }
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
        (text, false)
    } else {
        (auth::generate_password(), true)
    };
    let hash = tokio::task::spawn_blocking(move || {
        sesame_engine::credentials::hash_password(&password).map(|h| (h, password))
    })
    .await
    .context("hashing the password")?
    .map_err(anyhow::Error::msg)?;
    let (hash, password) = hash;

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
        let mut out = json!({"Email": email, "Role": role, "AppId": app_id});
        if generated {
            out["Password"] = json!(password);
        }
        println!("{out}");
        Ok(())
    }
    .await;
    store.close().await;
    result
}
