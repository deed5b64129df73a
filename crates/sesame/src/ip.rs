//! `sesame ip`: the operator's dedicated sending IPs. An account, or one of its sender domains,
//! gets its own pool of source addresses; delivery binds its connections to them round-robin
//! (the domain's pool first, else the account's) and other accounts' mail never leaves from
//! them. Each command prints one JSON object on stdout.

use std::net::IpAddr;

use anyhow::{Context, bail};
use clap::Subcommand;
use serde_json::{Value, json};
use sesame_store::Store;
use sesame_store::ip_pools::{AddIp, PoolMember};

use crate::cli::{ConfigArg, load_config, open_store};

#[derive(Subcommand)]
pub enum IpCommand {
    /// Add a source address to an account's pool, or to one of its sender domains' pools
    /// (a domain's pool overrides the account's). An address belongs to one account only.
    /// Prints the pool: {"AppId", "Domain", "SendIp": [...]}.
    #[command(after_help = "Examples:\n  \
        sesame ip add --app-id 1000001 --ip 192.0.2.10\n  \
        sesame ip add --app-id 1000001 --ip 192.0.2.11 --domain mail.example.com")]
    Add {
        #[command(flatten)]
        pool: PoolArgs,
    },
    /// Remove a source address from an account's or a sender domain's pool. Once it is in
    /// none of the account's pools, another account may have it. Prints the pool left.
    #[command(after_help = "Examples:\n  \
        sesame ip remove --app-id 1000001 --ip 192.0.2.10\n  \
        sesame ip remove --app-id 1000001 --ip 192.0.2.11 --domain mail.example.com")]
    Remove {
        #[command(flatten)]
        pool: PoolArgs,
    },
    /// List the pools, of every account or of one:
    /// {"Pools": [{"AppId", "Domain" (null for the account's pool), "SendIp": [...]}]}.
    #[command(after_help = "Examples:\n  \
        sesame ip list\n  \
        sesame ip list --app-id 1000001")]
    List {
        /// Only this account's pools.
        #[arg(long = "app-id")]
        app_id: Option<i64>,
    },
}

#[derive(clap::Args)]
pub struct PoolArgs {
    /// The account (AppId).
    #[arg(long = "app-id")]
    app_id: i64,
    /// The source address (IPv4 or IPv6); this host must have it for mail to leave from it.
    #[arg(long)]
    ip: String,
    /// A sender domain of the account: its own pool instead of the account's.
    #[arg(long)]
    domain: Option<String>,
}

/// Runs `command` on the storage of the config `config` names.
pub async fn main(command: IpCommand, config: &ConfigArg) -> anyhow::Result<()> {
    let config = load_config(config)?;
    let store = open_store(&config).await?;
    let result = run(&store, command).await;
    store.close().await;
    result
}

async fn run(store: &Store, command: IpCommand) -> anyhow::Result<()> {
    let now = sesame_core::time::now_unix();
    let out = match command {
        IpCommand::Add { pool } => {
            let target = resolve(store, &pool).await?;
            match store
                .add_pool_ip(target.app_id, target.domain_id, &target.ip, now)
                .await
                .context("adding the address")?
            {
                AddIp::Added | AddIp::AlreadyInPool => {}
                AddIp::OwnedByOther(owner) => bail!(
                    "{} is a dedicated address of account {owner}; an address serves one account \
                     only (remove it there first: sesame ip remove --app-id {owner} --ip {})",
                    target.ip,
                    target.ip
                ),
            }
            pool_json(store, &target).await?
        }
        IpCommand::Remove { pool } => {
            let target = resolve(store, &pool).await?;
            if let Some(owner) = store.ip_owner(&target.ip).await?
                && owner != target.app_id
            {
                bail!(
                    "{} is a dedicated address of account {owner}, not of account {}",
                    target.ip,
                    target.app_id
                );
            }
            let removed = store
                .remove_pool_ip(target.app_id, target.domain_id, &target.ip)
                .await
                .context("removing the address")?;
            if !removed.removed {
                bail!("{} is not in the pool of {}", target.ip, target.describe());
            }
            pool_json(store, &target).await?
        }
        IpCommand::List { app_id } => {
            let members = match app_id {
                Some(app_id) => {
                    if store.account(app_id).await?.is_none() {
                        bail!("there is no account with AppId {app_id}");
                    }
                    store.pool_members_of_account(app_id).await?
                }
                None => store.all_pool_members().await?,
            };
            json!({ "Pools": pools_of(&members) })
        }
    };
    println!("{out}");
    Ok(())
}

/// A pool named on the command line, checked: the account exists, the domain is one of its
/// sender domains, the address is a usable unicast address (in canonical form).
struct Target {
    app_id: i64,
    domain_id: Option<i64>,
    domain: Option<String>,
    ip: String,
}

impl Target {
    fn describe(&self) -> String {
        match &self.domain {
            Some(domain) => format!("sender domain {domain} of account {}", self.app_id),
            None => format!("account {}", self.app_id),
        }
    }
}

async fn resolve(store: &Store, args: &PoolArgs) -> anyhow::Result<Target> {
    let ip = parse_ip(&args.ip)?;
    if store.account(args.app_id).await?.is_none() {
        bail!("there is no account with AppId {}", args.app_id);
    }
    let (domain_id, domain) = match &args.domain {
        None => (None, None),
        Some(text) => {
            let name = sesame_core::DomainName::parse(text)
                .ok_or_else(|| anyhow::anyhow!("{text:?} is not a domain name"))?;
            let Some(row) = store.domain(args.app_id, name.as_str()).await? else {
                bail!("account {} has no sender domain {name}", args.app_id);
            };
            (Some(row.id), Some(row.name))
        }
    };
    Ok(Target {
        app_id: args.app_id,
        domain_id,
        domain,
        ip: ip.to_string(),
    })
}

/// The address as a source address: unicast and specified; an IPv4-mapped IPv6 address is
/// taken as the IPv4 address it maps.
fn parse_ip(text: &str) -> anyhow::Result<IpAddr> {
    let Ok(ip) = text.trim().parse::<IpAddr>() else {
        bail!("{text:?} is not an IP address (e.g. 192.0.2.10 or 2001:db8::10)");
    };
    let ip = ip.to_canonical();
    let is_broadcast = matches!(ip, IpAddr::V4(v4) if v4.is_broadcast());
    if ip.is_unspecified() || ip.is_multicast() || is_broadcast {
        bail!("{ip} cannot be a source address (it must be a unicast address of this host)");
    }
    Ok(ip)
}

/// The one pool `target` names, as it is now.
async fn pool_json(store: &Store, target: &Target) -> anyhow::Result<Value> {
    let members = store.pool_members_of_account(target.app_id).await?;
    let send_ip: Vec<&str> = members
        .iter()
        .filter(|m| m.domain_id == target.domain_id)
        .map(|m| m.ip.as_str())
        .collect();
    Ok(json!({
        "AppId": target.app_id,
        "Domain": target.domain,
        "SendIp": send_ip,
    }))
}

/// Members (sorted by account, then pool) as one object per pool.
fn pools_of(members: &[PoolMember]) -> Vec<Value> {
    let mut pools: Vec<((i64, Option<i64>), Value)> = Vec::new();
    for member in members {
        let key = (member.account_id, member.domain_id);
        let at = match pools.iter().position(|(k, _)| *k == key) {
            Some(at) => at,
            None => {
                pools.push((
                    key,
                    json!({"AppId": member.account_id, "Domain": member.domain, "SendIp": []}),
                ));
                pools.len() - 1
            }
        };
        if let Some(ips) = pools[at].1["SendIp"].as_array_mut() {
            ips.push(Value::from(member.ip.clone()));
        }
    }
    pools.into_iter().map(|(_, pool)| pool).collect()
}

#[cfg(test)]
mod tests {
    use super::parse_ip;

    fn check(input: &str, expected: Result<&str, &str>) {
        let got = parse_ip(input)
            .map(|ip| ip.to_string())
            .map_err(|e| e.to_string());
        match (got, expected) {
            (Ok(ip), Ok(want)) => assert_eq!(ip, want, "{input}"),
            (Err(error), Err(want)) => assert!(error.contains(want), "{input}: {error}"),
            (got, want) => panic!("{input}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn source_addresses() {
        check("127.0.0.2", Ok("127.0.0.2"));
        check(" 2001:DB8::0:10 ", Ok("2001:db8::10"));
        check("::ffff:192.0.2.1", Ok("192.0.2.1"));
        check("0.0.0.0", Err("cannot be a source address"));
        check("::", Err("cannot be a source address"));
        check("224.0.0.1", Err("cannot be a source address"));
        check("255.255.255.255", Err("cannot be a source address"));
        check("192.0.2", Err("is not an IP address"));
        check("mail.example.com", Err("is not an IP address"));
    }
}
